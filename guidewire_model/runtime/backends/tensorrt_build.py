"""Build a TensorRT engine from our ONNX file, the same way on TensorRT 10 (Jetson) and 11 (desktop).

TensorRT 11 removed weak typing: ``BuilderFlag.FP16`` and the other precision flags are gone and
every network is strongly typed (the ``STRONGLY_TYPED`` creation flag is accepted and ignored).
TensorRT 10 (JetPack 6 ships 10.3) has strongly typed networks too, behind that flag. So one path
serves both: a **strongly typed** network whose precision comes from the ONNX graph itself.

* ``fp32``: the exported FP32 ONNX as it is.
* ``fp16``: an FP16 copy of that graph made here, at build time, with ONNX Runtime's converter
  (``onnxruntime.transformers.float16``, ``keep_io_types``: the input stays float32, the output
  probability float32), so the FP32 file stays the one source of truth and the engine is checked
  against it (:mod:`.engine_parity`). The converter's version is part of the engine cache key.

TensorRT's own log is routed to Python :mod:`logging` (logger ``guidewire_model.tensorrt``) by an
``ILogger`` subclass, which also keeps the last errors for the exception message.
"""

from __future__ import annotations

import collections
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guidewire_model.runtime.backends.base import BackendError

__all__ = [
    "BuildRecipe",
    "SUPPORTED_MAJORS",
    "build_serialized_engine",
    "check_tensorrt_version",
    "fp16_converter_id",
    "fp16_onnx_bytes",
    "import_tensorrt",
    "make_logger",
    "network_flags",
]

#: TensorRT major versions this module was written for (the ``tensorrt`` extra pins the same range).
SUPPORTED_MAJORS = (10, 11)
#: Oldest supported release: 10.0 brought the named-tensor API (``set_input_shape``, ``execute_async_v3``)
#: and strongly typed networks; JetPack 6 ships 10.3.
MIN_VERSION = (10, 0)
TRT_LOGGER_NAME = "guidewire_model.tensorrt"

_INSTALL = "pip install 'guidewire-seg[tensorrt]' (or JetPack's python3-libnvinfer on a Jetson), or use backend onnxruntime"


def import_tensorrt() -> Any:
    """The ``tensorrt`` module, checked to be a supported version.

    Raises
    ------
    BackendError
        If it is missing or its version is outside :data:`SUPPORTED_MAJORS` / :data:`MIN_VERSION`.
    """
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendError(f"the tensorrt backend needs the tensorrt Python module (TensorRT 10 or 11): {_INSTALL}") from exc
    check_tensorrt_version(trt.__version__)
    return trt


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in str(version).split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_tensorrt_version(version: str) -> tuple[int, ...]:
    """Parse ``tensorrt.__version__`` and refuse versions this code has not been written for.

    Raises
    ------
    BackendError
        Naming the version and the supported range.
    """
    parsed = _version_tuple(version)
    if not parsed or parsed[0] not in SUPPORTED_MAJORS or parsed[:2] < MIN_VERSION:
        raise BackendError(
            f"TensorRT {version} is not supported by the tensorrt backend (supported: "
            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} to {SUPPORTED_MAJORS[-1]}.x); install a supported version "
            "(pip install 'guidewire-seg[tensorrt]') or use backend onnxruntime")
    return parsed


def network_flags(trt: Any) -> int:
    """``create_network`` flags for a strongly typed network on TensorRT 10 and 11.

    On 10.x the ``STRONGLY_TYPED`` flag turns strong typing on; on 11.x it is accepted and ignored
    (strong typing is always on), and a build without the enum member is strongly typed anyway.
    """
    flag = getattr(getattr(trt, "NetworkDefinitionCreationFlag", None), "STRONGLY_TYPED", None)
    if flag is not None:
        return 1 << int(flag)
    if _version_tuple(trt.__version__)[0] >= 11:
        return 0
    raise BackendError(f"TensorRT {trt.__version__} has no strongly typed networks; install TensorRT 10 or newer")


def make_logger(trt: Any, name: str = TRT_LOGGER_NAME, keep_errors: int = 20) -> Any:
    """A ``trt.ILogger`` that forwards TensorRT's messages to Python logging.

    Severity maps INTERNAL_ERROR -> CRITICAL, ERROR -> ERROR, WARNING -> WARNING, INFO -> INFO,
    VERBOSE -> DEBUG. The last ``keep_errors`` error messages are kept in ``.errors`` so an
    exception can quote them. The object must outlive every builder/runtime/engine made with it.
    """
    pylog = logging.getLogger(name)
    sev = trt.ILogger.Severity
    levels = {sev.INTERNAL_ERROR: logging.CRITICAL, sev.ERROR: logging.ERROR, sev.WARNING: logging.WARNING,
              sev.INFO: logging.INFO, sev.VERBOSE: logging.DEBUG}

    class PythonLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)  # the binding requires the explicit base-class call
            self.errors: collections.deque[str] = collections.deque(maxlen=keep_errors)

        def log(self, severity: Any, msg: str) -> None:  # called from TensorRT, possibly on its threads
            level = levels.get(severity, logging.WARNING)
            if level >= logging.ERROR:
                self.errors.append(str(msg))
            if pylog.isEnabledFor(level):
                pylog.log(level, "TensorRT: %s", msg)

    return PythonLogger()


def fp16_converter_id() -> str:
    """Name and version of the FP16 converter (goes into the engine cache key)."""
    import onnxruntime

    return f"onnxruntime.transformers.float16 {onnxruntime.__version__} keep_io_types"


def fp16_onnx_bytes(onnx_path: str | os.PathLike) -> bytes:
    """An FP16 copy of an FP32 ONNX file, serialized; input and output stay float32.

    Raises
    ------
    BackendError
        If the conversion fails (naming the file).
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = onnx.load(str(onnx_path))
        return convert_float_to_float16(model, keep_io_types=True).SerializeToString()
    except Exception as exc:  # noqa: BLE001 - any converter failure means "no fp16 engine"
        raise BackendError(f"{onnx_path}: could not make an FP16 copy of the ONNX graph ({type(exc).__name__}: "
                           f"{exc}); build an fp32 engine instead (fp16: false)") from exc


@dataclass(frozen=True)
class BuildRecipe:
    """How to build an engine; every field is also in the engine cache key.

    Attributes
    ----------
    precision : {"fp32", "fp16"}
    input_size : int
    max_batch : int
        1 for the node: the optimisation profile is then min = opt = max = (1, C_in, S, S), so TensorRT
        tunes its kernels for exactly the shape the node runs. With a larger value the profile spans
        batches 1..max_batch, tuned for max_batch.
    workspace_bytes : int
    tf32 : bool
        Let FP32 layers use TF32 tensor cores (TensorRT's default; ~FP16-like mantissa on Ampere+).
    input_channels : int
        C_in, the input's channels (``ModelInfo.input_channels``).
    """

    precision: str = "fp32"
    input_size: int = 512
    max_batch: int = 1
    workspace_bytes: int = 1 << 30
    tf32: bool = True
    input_channels: int = 1

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be 'fp32' or 'fp16', got {self.precision!r}")
        if min(self.max_batch, self.input_size, self.workspace_bytes, self.input_channels) < 1:
            raise ValueError(f"max_batch, input_size, workspace_bytes and input_channels must be >= 1: {self}")

    def profile(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(min, opt, max) input shapes of the optimisation profile."""
        s, c = self.input_size, self.input_channels
        return (1, c, s, s), (self.max_batch, c, s, s), (self.max_batch, c, s, s)


def _parser_errors(parser: Any) -> str:
    return "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)) or "no details"


def build_serialized_engine(trt: Any, logger: Any, onnx_path: Path, recipe: BuildRecipe,
                            timing_cache: bytes = b"") -> tuple[bytes, bytes]:
    """Parse the ONNX file (an FP16 copy for ``fp16``) into a strongly typed network and build it.

    Parameters
    ----------
    trt : module
    logger : trt.ILogger
        From :func:`make_logger`; its ``errors`` are quoted when the build fails.
    onnx_path : Path
        The exported FP32 ONNX file.
    recipe : BuildRecipe
    timing_cache : bytes
        A serialized timing cache from an earlier build (may be empty or stale).

    Returns
    -------
    (engine, timing_cache) : (bytes, bytes)

    Raises
    ------
    BackendError
        If the graph cannot be parsed, has other than one input and one output, or does not build.
    """
    onnx_path = Path(onnx_path)
    model = fp16_onnx_bytes(onnx_path) if recipe.precision == "fp16" else onnx_path.read_bytes()
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    # ``path`` lets the parser find external weight files next to the model.
    if not parser.parse(model, str(onnx_path)):
        raise BackendError(f"{onnx_path}: TensorRT {trt.__version__} cannot parse the ONNX graph: {_parser_errors(parser)}; "
                           "re-export it with guidewire-export, or use backend onnxruntime")
    if network.num_inputs != 1 or network.num_outputs != 1:
        raise BackendError(f"{onnx_path}: the graph has {network.num_inputs} inputs and {network.num_outputs} outputs; "
                           "expected one of each (re-export it with guidewire-export)")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(recipe.workspace_bytes))
    tf32 = getattr(trt.BuilderFlag, "TF32", None)
    if tf32 is not None and not recipe.tf32:
        config.clear_flag(tf32)
    profile = builder.create_optimization_profile()
    low, opt, high = recipe.profile()
    profile.set_shape(network.get_input(0).name, low, opt, high)
    config.add_optimization_profile(profile)

    cache = None
    try:
        cache = config.create_timing_cache(bytes(timing_cache))
    except Exception:  # noqa: BLE001 -- a corrupt timing cache only costs build time
        logging.getLogger(__name__).warning("ignoring an unreadable TensorRT timing cache")
        cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, False):
        logging.getLogger(__name__).warning("TensorRT rejected the timing cache; building without it")

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        errors = "; ".join(getattr(logger, "errors", ())) or "see the TensorRT log"
        raise BackendError(f"{onnx_path}: TensorRT {trt.__version__} failed to build a {recipe.precision} engine "
                           f"({errors}); try a larger workspace (--workspace-mb), fp32, or backend onnxruntime")
    timing = config.get_timing_cache()
    return bytes(serialized), (bytes(timing.serialize()) if timing is not None else b"")
