"""A small stand-in for the ``tensorrt`` module, for testing the TensorRT backend without a GPU.

It implements the subset of the TensorRT 10/11 Python API the backend uses, behaving as documented:
``create_network`` flags (``STRONGLY_TYPED`` turns strong typing on in 10.x; ignored in 11.x, where
every network is strongly typed), ``BuilderFlag`` with ``FP16`` in the 10.x flavour only,
``build_serialized_network`` returning ``None`` and logging an error on failure,
``deserialize_cuda_engine`` returning ``None`` for a foreign blob, ``set_input_shape`` returning
``False`` for a shape outside the optimisation profile, ``execute_async_v3`` on device addresses.

The "engine" really computes: it runs the ONNX graph it was built from with ONNX Runtime on the
bytes at the bound addresses (fake device memory from :mod:`fake_cuda`). Knobs on the module make it
misbehave on purpose: ``perturb`` (added to the output), ``output_dtype`` (e.g. ``DataType.HALF``),
``output_shape_fn``, ``fail_build``, ``fail_parse``, ``reject_input_shapes``, ``raise_in_context``.
Calls are recorded (``builds``, ``set_input_shape_calls``, ``executions``, ``networks``, ``configs``).
"""

from __future__ import annotations

import ctypes
import enum
import json
import types
from typing import Any, Callable

import numpy as np

MAGIC = b"FAKETRT1"


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class DataType(enum.Enum):
    FLOAT = "float32"
    HALF = "float16"
    INT32 = "int32"


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class MemoryPoolType(enum.Enum):
    WORKSPACE = 0


def nptype(dtype: DataType) -> type:
    return np.dtype(dtype.value).type


_ONNX_TO_TRT = {1: DataType.FLOAT, 10: DataType.HALF, 6: DataType.INT32}


class ILogger:
    """Base class; subclasses must call ``ILogger.__init__(self)`` and implement ``log``."""

    Severity = Severity

    def __init__(self) -> None:
        self._initialised = True

    def log(self, severity: Severity, msg: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _say(logger: ILogger, severity: Severity, msg: str) -> None:
    if not getattr(logger, "_initialised", False):
        raise TypeError("ILogger subclass did not call ILogger.__init__")  # what the binding does, roughly
    logger.log(severity, msg)


def make_fake_tensorrt(version: str = "10.3.0", strongly_typed_flag: bool = True) -> types.ModuleType:
    """A fresh fake ``tensorrt`` module of a version flavour.

    Parameters
    ----------
    version : str
        ``"10.x"`` has ``BuilderFlag.FP16`` and weak typing (deprecated); ``"11.x"`` has neither.
    strongly_typed_flag : bool
        Whether ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` exists (11.x keeps it, ignored).
    """
    trt = types.ModuleType("tensorrt")
    major = int(version.split(".")[0])
    trt.__version__ = version
    trt.ILogger, trt.Severity, trt.DataType, trt.TensorIOMode = ILogger, Severity, DataType, TensorIOMode
    trt.MemoryPoolType, trt.nptype = MemoryPoolType, nptype
    flags = ["TF32", "REFIT", "SPARSE_WEIGHTS"] + (["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"] if major < 11 else [])
    trt.BuilderFlag = enum.Enum("BuilderFlag", flags)
    creation = (["EXPLICIT_BATCH"] if major < 11 else []) + (["STRONGLY_TYPED"] if strongly_typed_flag else [])
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", {n: i for i, n in enumerate(creation)})

    # knobs and records
    trt.perturb = 0.0
    trt.output_dtype = None
    trt.output_shape_fn: Callable | None = None
    trt.fail_build = False
    trt.fail_parse = False
    trt.reject_input_shapes = False
    trt.raise_in_context: Exception | None = None
    trt.builds = 0
    trt.set_input_shape_calls: list[tuple] = []
    trt.executions = 0
    trt.networks: list = []
    trt.configs: list = []

    class _Tensor:
        def __init__(self, name: str, shape: tuple, dtype: DataType) -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class INetworkDefinition:
        def __init__(self, flags: int) -> None:
            strongly = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
            self.strongly_typed = major >= 11 or (strongly is not None and bool(flags & (1 << int(strongly))))
            self.model: bytes | None = None
            self.inputs: list = []
            self.outputs: list = []
            self.weight_dtypes: set = set()

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        @property
        def num_outputs(self) -> int:
            return len(self.outputs)

        def get_input(self, i: int):
            return self.inputs[i]

        def get_output(self, i: int):
            return self.outputs[i]

    class OnnxParser:
        def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
            self.network, self.logger, self.errors = network, logger, []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

        def parse(self, model: bytes, path: str | None = None) -> bool:
            import onnx

            try:
                if trt.fail_parse:
                    raise ValueError("Unsupported ONNX operator 'FancyOp'")
                proto = onnx.load_from_string(bytes(model))
            except Exception as exc:  # noqa: BLE001
                self.errors.append(f"In node 0: {exc}")
                return False

            def tensor(v):
                t = v.type.tensor_type
                dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim)
                return _Tensor(v.name, dims, _ONNX_TO_TRT[t.elem_type])

            net = self.network
            net.model = bytes(model)
            net.inputs = [tensor(v) for v in proto.graph.input]
            net.outputs = [tensor(v) for v in proto.graph.output]
            net.weight_dtypes = {_ONNX_TO_TRT.get(w.data_type, DataType.INT32) for w in proto.graph.initializer}
            return True

    class IOptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, low, opt, high) -> None:
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class ITimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = blob

        def serialize(self) -> bytes:
            return b"TC" + self.blob[2:] + b"+"

    class IBuilderConfig:
        def __init__(self) -> None:
            self.flags = {trt.BuilderFlag.TF32}  # TensorRT's default
            self.pools: dict = {}
            self.profiles: list = []
            self.timing_cache = None
            trt.configs.append(self)

        def set_flag(self, flag) -> None:
            self.flags.add(flag)

        def clear_flag(self, flag) -> None:
            self.flags.discard(flag)

        def set_memory_pool_limit(self, pool, size: int) -> None:
            self.pools[pool] = int(size)

        def add_optimization_profile(self, profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, blob: bytes) -> ITimingCache:
            if blob and not blob.startswith(b"TC"):
                raise RuntimeError("invalid timing cache")
            return ITimingCache(blob or b"TC")

        def set_timing_cache(self, cache, ignore_mismatch: bool) -> bool:
            self.timing_cache = cache
            return True

        def get_timing_cache(self):
            return self.timing_cache

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> INetworkDefinition:
            net = INetworkDefinition(flags)
            trt.networks.append(net)
            return net

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> IOptimizationProfile:
            return IOptimizationProfile()

        def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig):
            log = lambda sev, msg: _say(self.logger, sev, msg)  # noqa: E731
            log(Severity.INFO, f"fake TensorRT {version}: building")
            if not network.strongly_typed:
                log(Severity.WARNING, "weakly typed networks are deprecated; use strongly typed networks")
            fp16 = getattr(trt.BuilderFlag, "FP16", None)
            if network.strongly_typed and fp16 is not None and fp16 in config.flags:
                log(Severity.ERROR, "BuilderFlag::kFP16 is not allowed with a strongly typed network")
                return None
            if trt.fail_build:
                log(Severity.ERROR, "Error Code 2: Internal Error (out of memory while building)")
                return None
            if len(config.profiles) != 1 or network.inputs[0].name not in config.profiles[0].shapes:
                log(Severity.ERROR, "network has dynamic inputs but no optimization profile")
                return None
            low, opt, high = config.profiles[0].shapes[network.inputs[0].name]
            if not all(a <= b <= c for a, b, c in zip(low, opt, high)):
                log(Severity.ERROR, f"invalid optimization profile {low} {opt} {high}")
                return None
            trt.builds += 1
            out_dtype = trt.output_dtype or network.outputs[0].dtype
            header = {"version": version, "input": network.inputs[0].name, "output": network.outputs[0].name,
                      "profile": [low, opt, high], "input_dtype": network.inputs[0].dtype.name,
                      "output_dtype": out_dtype.name, "strongly_typed": network.strongly_typed,
                      "weights": sorted(d.name for d in network.weight_dtypes)}
            return MAGIC + json.dumps(header).encode() + b"\n" + network.model

    class ICudaEngine:
        def __init__(self, header: dict, model: bytes, logger: ILogger) -> None:
            self.header, self.model, self.logger = header, model, logger
            self._session = None

        @property
        def num_io_tensors(self) -> int:
            return 2

        def get_tensor_name(self, i: int) -> str:
            return [self.header["input"], self.header["output"]][i]

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return {self.header["input"]: TensorIOMode.INPUT, self.header["output"]: TensorIOMode.OUTPUT}.get(name, TensorIOMode.NONE)

        def get_tensor_dtype(self, name: str) -> DataType:
            key = "input_dtype" if name == self.header["input"] else "output_dtype"
            return DataType[self.header[key]]

        def get_tensor_profile_shape(self, name: str, profile: int):
            if name != self.header["input"] or profile != 0:
                raise RuntimeError("no profile shape for that tensor")
            return [tuple(s) for s in self.header["profile"]]

        def create_execution_context(self):
            if trt.raise_in_context is not None:
                raise trt.raise_in_context
            return IExecutionContext(self)

        def session(self):
            if self._session is None:
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = 1
                self._session = ort.InferenceSession(self.model, sess_options=opts, providers=["CPUExecutionProvider"])
            return self._session

    class IExecutionContext:
        def __init__(self, engine: ICudaEngine) -> None:
            self.engine = engine
            self.input_shape: tuple | None = None
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape) -> bool:
            shape = tuple(int(d) for d in shape)
            trt.set_input_shape_calls.append((name, shape))
            low, _, high = self.engine.get_tensor_profile_shape(self.engine.header["input"], 0)
            ok = (name == self.engine.header["input"] and not trt.reject_input_shapes and len(shape) == len(low)
                  and all(a <= d <= b for a, d, b in zip(low, shape, high)))
            if not ok:
                _say(self.engine.logger, Severity.ERROR, f"setInputShape: {shape} is outside the profile {low}..{high}")
                return False
            self.input_shape = shape
            return True

        def get_tensor_shape(self, name: str) -> tuple:
            s = tuple(self.engine.header["profile"][0][1:])
            if self.input_shape is None:
                return (-1,) + s
            if name == self.engine.header["input"]:
                return self.input_shape
            return tuple(trt.output_shape_fn(self.input_shape)) if trt.output_shape_fn else self.input_shape

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            if name not in (self.engine.header["input"], self.engine.header["output"]):
                return False
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            h = self.engine.header
            if self.input_shape is None or set(self.addresses) != {h["input"], h["output"]}:
                _say(self.engine.logger, Severity.ERROR, "enqueueV3: input shape or tensor address not set")
                return False
            in_dtype = np.dtype(DataType[h["input_dtype"]].value)
            out_dtype = np.dtype(DataType[h["output_dtype"]].value)
            count = int(np.prod(self.input_shape))
            x = np.frombuffer((ctypes.c_uint8 * (count * in_dtype.itemsize)).from_address(self.addresses[h["input"]]),
                              in_dtype).reshape(self.input_shape)
            session = self.engine.session()
            y = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0] + trt.perturb
            out_shape = self.get_tensor_shape(h["output"])
            y = np.resize(y, out_shape).astype(out_dtype)  # a wrong-shaped engine writes its own shape
            ctypes.memmove(self.addresses[h["output"]], y.ctypes.data, y.nbytes)
            trt.executions += 1
            return True

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, blob: bytes):
            blob = bytes(blob)
            if not blob.startswith(MAGIC) or b"\n" not in blob:
                _say(self.logger, Severity.ERROR, "deserializeCudaEngine: magic tag does not match")
                return None
            head, model = blob[len(MAGIC):].split(b"\n", 1)
            header = json.loads(head)
            if header["version"] != version:
                _say(self.logger, Severity.ERROR, f"engine built by TensorRT {header['version']}, this is {version}")
                return None
            return ICudaEngine(header, model, self.logger)

    class Logger(ILogger):
        WARNING = Severity.WARNING

        def __init__(self, min_severity: Severity = Severity.WARNING) -> None:
            super().__init__()

        def log(self, severity, msg):  # pragma: no cover - the backend uses its own logger
            print(msg)

    trt.Builder, trt.OnnxParser, trt.Runtime, trt.Logger = Builder, OnnxParser, Runtime, Logger
    return trt


def install(monkeypatch, trt: Any) -> Any:
    """Make ``import tensorrt`` return ``trt`` for the test."""
    import sys

    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    return trt
