"""TensorRT backend (TensorRT 10.x Python API) with an on-disk engine cache.

Building an engine from ONNX takes tens of seconds to minutes, and an engine only runs on the
GPU model, TensorRT version and precision it was built for. So engines are cached in a folder,
under a file name derived from an :class:`EngineKey` (GPU name, compute capability, TensorRT
version, fp16, batch range, input size, the ONNX file's SHA-256), with a JSON sidecar holding the
full key. A cached engine is used only if its sidecar matches; a missing/mismatched sidecar or an
engine that fails to deserialize (torn write, TensorRT upgrade) is rebuilt with a warning, never
fatal. The builder's timing cache is persisted in the same folder to speed up rebuilds. Nothing
is written outside that folder.

``tensorrt`` is imported lazily, so this module (and its cache logic) imports without it. Device
buffers are torch CUDA tensors, and inference runs on a dedicated CUDA stream.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..model_info import file_sha256, read_onnx_info
from .base import Backend, BackendError

__all__ = ["EngineCache", "EngineKey", "TensorRTBackend", "cache_decision", "default_cache_dir"]

log = logging.getLogger(__name__)

SIDECAR_FORMAT = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/guidewire_seg/engines`` (``~/.cache/...``): writable even when the model
    file lives in a read-only install folder."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "guidewire_seg" / "engines"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; any difference means the engine must be rebuilt."""

    gpu_name: str
    compute_capability: str
    tensorrt_version: str
    fp16: bool
    onnx_sha256: str
    input_size: int
    max_batch: int

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the key."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def file_stem(self) -> str:
        """A file-name-safe stem: readable GPU/precision part plus the key digest.

        Only ``[A-Za-z0-9._-]`` survive, so no key value can make a path leave the cache folder.
        """
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-")[:40] or "gpu"
        cc = re.sub(r"[^0-9]", "", self.compute_capability) or "0"
        precision = "fp16" if self.fp16 else "fp32"
        return f"{gpu}-sm{cc}-{precision}-{self.digest()[:16]}"

    def to_sidecar(self) -> dict[str, Any]:
        return {"format": SIDECAR_FORMAT, "key": dataclasses.asdict(self)}


def cache_decision(engine_path: Path, sidecar_path: Path, key: EngineKey) -> tuple[str, str]:
    """Whether a cached engine may be loaded (pure apart from reading the two files).

    Returns
    -------
    (action, reason)
        ``action`` is ``"load"`` or ``"build"``; ``reason`` explains a rebuild.
    """
    if not engine_path.is_file():
        return "build", f"no cached engine at {engine_path}"
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "build", f"engine {engine_path.name} has no sidecar {sidecar_path.name}"
    except (OSError, ValueError) as exc:
        return "build", f"sidecar {sidecar_path} is unreadable ({exc})"
    if not isinstance(sidecar, dict) or sidecar.get("format") != SIDECAR_FORMAT or not isinstance(sidecar.get("key"), dict):
        return "build", f"sidecar {sidecar_path} has an unknown format"
    expected = dataclasses.asdict(key)
    stored = sidecar["key"]
    differing = sorted(k for k in set(expected) | set(stored) if expected.get(k) != stored.get(k))
    if differing:
        details = ", ".join(f"{k}: cached {stored.get(k)!r} != now {expected.get(k)!r}" for k in differing)
        return "build", f"cached engine {engine_path.name} was built for a different setup ({details})"
    return "load", "cached engine matches"


class EngineCache:
    """A folder of serialized engines (``<stem>.engine`` + ``<stem>.json``) and timing caches.

    All writes are atomic (temporary file in the folder, then ``os.replace``) so a crash never
    leaves a torn engine under a valid name.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        stem = key.file_stem()
        return self.folder / f"{stem}.engine", self.folder / f"{stem}.json"

    def timing_cache_path(self, key: EngineKey) -> Path:
        # Timing data depends on the GPU and TensorRT version, not on the model or precision.
        ident = json.dumps([key.gpu_name, key.compute_capability, key.tensorrt_version])
        return self.folder / f"timing-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.cache"

    def read_timing_cache(self, key: EngineKey) -> bytes:
        try:
            return self.timing_cache_path(key).read_bytes()
        except OSError:
            return b""

    def write_timing_cache(self, key: EngineKey, blob: bytes) -> None:
        try:
            self._write(self.timing_cache_path(key), blob)
        except OSError as exc:  # a timing cache only saves build time
            log.warning("could not save the TensorRT timing cache in %s: %s", self.folder, exc)

    def load_or_build(self, key: EngineKey, build: Callable[[], bytes], deserialize: Callable[[bytes], Any]) -> Any:
        """Return a deserialized engine: from the cache when valid, else built and cached.

        Parameters
        ----------
        key : EngineKey
        build : callable () -> bytes
            Builds a serialized engine (slow).
        deserialize : callable (bytes) -> engine or None
            ``Runtime.deserialize_cuda_engine``; ``None`` or an exception means unusable.

        Raises
        ------
        BackendError
            If a freshly built engine cannot be deserialized.
        """
        engine_path, sidecar_path = self.paths(key)
        action, reason = cache_decision(engine_path, sidecar_path, key)
        if action == "load":
            try:
                engine = deserialize(engine_path.read_bytes())
            except Exception as exc:  # noqa: BLE001 -- any failure here only means "rebuild"
                engine, reason = None, f"cached engine {engine_path} failed to deserialize ({exc})"
            else:
                if engine is None:
                    reason = f"cached engine {engine_path} failed to deserialize"
            if engine is not None:
                log.info("TensorRT engine loaded from cache %s", engine_path)
                return engine
            log.warning("%s; rebuilding it", reason)
        elif engine_path.exists():
            log.warning("%s; rebuilding it", reason)
        else:
            log.info("%s; building one (this takes a while, once)", reason)

        blob = bytes(build())
        try:
            self._write(engine_path, blob)
            self._write(sidecar_path, json.dumps(key.to_sidecar(), indent=2, sort_keys=True).encode())
        except OSError as exc:  # caching is an optimisation: still run with the fresh engine
            log.warning("could not cache the TensorRT engine in %s: %s", self.folder, exc)
        engine = deserialize(blob)
        if engine is None:
            raise BackendError(f"a freshly built TensorRT engine for {key.onnx_sha256[:12]} failed to deserialize")
        return engine

    def _write(self, path: Path, data: bytes) -> None:
        if path.resolve().parent != self.folder.resolve():
            raise ValueError(f"refusing to write {path} outside the engine cache {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise BackendError(
            "the tensorrt backend needs the tensorrt Python module (TensorRT 10): "
            "pip install 'guidewire-seg[tensorrt]', or use backend onnxruntime"
        ) from exc
    return trt


class TensorRTBackend(Backend):
    """Run an exported ONNX file as a TensorRT engine on a CUDA GPU.

    Parameters
    ----------
    model_path : path-like
        ``.onnx`` written by ``guidewire-export`` (validated first).
    fp16 : bool
        Allow FP16 kernels (``BuilderFlag.FP16``); inputs/outputs stay float32.
    engine_cache_dir : path-like, optional
        Default :func:`default_cache_dir`.
    max_batch : int
        Largest batch of the optimisation profile; larger batches are run in chunks.
    device_index : int
        CUDA device.

    Raises
    ------
    BackendError
        If tensorrt or a CUDA GPU is missing, or the ONNX file cannot be parsed/built.
    ModelFileError
        If the ONNX file is invalid.
    """

    name = "tensorrt"

    def __init__(self, model_path: str | os.PathLike, fp16: bool = False,
                 engine_cache_dir: str | os.PathLike | None = None, max_batch: int = 8,
                 device_index: int = 0) -> None:
        import torch

        trt = _import_tensorrt()
        if not torch.cuda.is_available():
            raise BackendError("the tensorrt backend needs a CUDA GPU, and PyTorch sees none; use onnxruntime")
        self.model_path = Path(model_path)
        self.info = read_onnx_info(self.model_path)
        self.fp16 = fp16
        self.max_batch = max_batch
        self._torch = torch
        self._device = torch.device("cuda", device_index)
        major, minor = torch.cuda.get_device_capability(self._device)
        self.key = EngineKey(
            gpu_name=torch.cuda.get_device_name(self._device),
            compute_capability=f"{major}.{minor}",
            tensorrt_version=trt.__version__,
            fp16=fp16,
            onnx_sha256=file_sha256(self.model_path),
            input_size=self.info.input_size,
            max_batch=max_batch,
        )
        self.cache = EngineCache(engine_cache_dir or default_cache_dir())
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        with torch.cuda.device(self._device):
            self._engine = self.cache.load_or_build(self.key, self._build, self._runtime.deserialize_cuda_engine)
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(self._device)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendError(f"{self.model_path}: engine has inputs {inputs} and outputs {outputs}; expected one each")
        self._input, self._output = inputs[0], outputs[0]
        self._output_dtype = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}[
            self._engine.get_tensor_dtype(self._output)
        ]
        log.info("tensorrt backend: %s on %s (fp16=%s, cache %s)", self.model_path, self.key.gpu_name, fp16,
                 self.cache.folder)

    def _build(self) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse_from_file(str(self.model_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"{self.model_path}: TensorRT cannot parse the ONNX file: {errors}")
        config = builder.create_builder_config()
        if self.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        s = self.info.input_size
        profile = builder.create_optimization_profile()
        profile.set_shape(network.get_input(0).name, (1, 1, s, s), (1, 1, s, s), (self.max_batch, 1, s, s))
        config.add_optimization_profile(profile)
        blob = self.cache.read_timing_cache(self.key)
        try:
            timing_cache = config.create_timing_cache(blob)
        except Exception as exc:  # noqa: BLE001 -- a corrupt timing cache only costs build time
            log.warning("ignoring unreadable TensorRT timing cache in %s (%s)", self.cache.folder, exc)
            timing_cache = config.create_timing_cache(b"")
        if not config.set_timing_cache(timing_cache, False):
            log.warning("TensorRT rejected the timing cache in %s; building without it", self.cache.folder)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendError(f"{self.model_path}: TensorRT failed to build an engine (see the TensorRT log above)")
        self.cache.write_timing_cache(self.key, bytes(config.get_timing_cache().serialize()))
        return bytes(serialized)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._context is None:
            raise RuntimeError(f"{self.model_path}: tensorrt backend used after close()")
        chunks = [batch[i:i + self.max_batch] for i in range(0, len(batch), self.max_batch)]
        return np.concatenate([self._run_chunk(c) for c in chunks])

    def _run_chunk(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.cuda.device(self._device), torch.cuda.stream(self._stream):
            x = torch.from_numpy(batch).to(self._device, non_blocking=True)
            y = torch.empty(batch.shape, dtype=self._output_dtype, device=self._device)
            self._context.set_input_shape(self._input, tuple(batch.shape))
            self._context.set_tensor_address(self._input, x.data_ptr())
            self._context.set_tensor_address(self._output, y.data_ptr())
            if not self._context.execute_async_v3(self._stream.cuda_stream):
                raise BackendError(f"{self.model_path}: TensorRT execution failed")
            out = y.float().cpu()  # copies on self._stream and waits for it
        self._stream.synchronize()
        return out.numpy()

    def close(self) -> None:
        self._context = None
        self._engine = None
        self._runtime = None
