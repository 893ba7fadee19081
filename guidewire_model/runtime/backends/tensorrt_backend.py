"""TensorRT backend: an exported ONNX file as a cached, parity-checked TensorRT engine on a CUDA GPU.

Works on TensorRT 10 (JetPack 6 on a Jetson) and 11.x (desktop) alike, with strongly typed
networks whose precision comes from the ONNX graph (:mod:`.tensorrt_build`). The pieces:

* :mod:`.engine_cache`: cache key = ONNX hash + the whole build recipe + TensorRT version + GPU;
  atomic writes; a file lock so concurrent starts build once;
* :mod:`.tensorrt_build`: strongly typed build, FP16 copy of the graph, TensorRT log -> Python logging;
* :mod:`.engine_parity`: after each build, the engine is compared with ONNX Runtime (CPU) and refused
  if it disagrees beyond a stated bound;
* :mod:`.tensorrt_runner`: buffers allocated once (pinned host memory), shapes checked;
* :mod:`.cuda_memory`: CUDA through cuda-python (no PyTorch in the node process).

Every failure while building or loading becomes a :class:`~guidewire_model.runtime.backends.base.BackendError`
naming the model file and a fix, which the node reports as a start-up error. ``tensorrt`` and
``cuda`` are imported when a backend is made, so this module imports without them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from guidewire_model.runtime.model_info import ModelFileError, file_sha256, read_onnx_info
from guidewire_model.runtime.backends.base import Backend, BackendError
from guidewire_model.runtime.backends.cuda_memory import CudaRuntime, import_cudart
from guidewire_model.runtime.backends.engine_cache import CachedEngine, EngineCache, EngineKey, cache_decision, default_cache_dir
from guidewire_model.runtime.backends.engine_parity import TOLERANCES, EngineParityError, ParityTolerance, compare_maps, parity_frames
from guidewire_model.runtime.backends.tensorrt_build import BuildRecipe, build_serialized_engine, fp16_converter_id, import_tensorrt, make_logger
from guidewire_model.runtime.backends.tensorrt_runner import EngineRunner

__all__ = ["EngineCache", "EngineKey", "TensorRTBackend", "cache_decision", "default_cache_dir"]

log = logging.getLogger(__name__)

_FIX = ("run guidewire-build-engine --model <file> to see the full TensorRT log, or set backend: onnxruntime")


class TensorRTBackend(Backend):
    """Run an exported ONNX file as a TensorRT engine on a CUDA GPU.

    Parameters
    ----------
    model_path : path-like
        ``.onnx`` written by ``guidewire-export`` (validated first).
    fp16 : bool
        Build from an FP16 copy of the graph (input and output stay float32).
    engine_cache_dir : path-like, optional
        Default :func:`default_cache_dir`.
    max_batch : int
        1 (the node): the engine is built for exactly (1, 1, S, S). Larger: batches 1..max_batch;
        larger batches are run in chunks.
    device_index : int
        CUDA device.
    workspace_mb : int
        Builder workspace limit.
    tolerance : ParityTolerance, optional
        Bound of the build-time parity check; default ``TOLERANCES[precision]``.
    parity_frames_count : int
        Frames in the parity check.
    force_rebuild : bool
        Build even if a matching engine is cached (``guidewire-build-engine --force``).
    lock_timeout_s : float
        How long to wait for another process building the same engine.

    Attributes
    ----------
    engine_path : Path
        Where the serialized engine is cached.
    built : bool
        Whether the engine was built by this call (else loaded from the cache).
    report : dict
        The parity report stored with the engine (see :class:`.engine_parity.ParityReport`).

    Raises
    ------
    ModelFileError
        If the ONNX file is invalid.
    BackendError
        If TensorRT, cuda-python or a GPU is missing, the engine cannot be built or loaded, or the
        built engine fails the parity check (:class:`.engine_parity.EngineParityError`).
    """

    name = "tensorrt"

    def __init__(self, model_path: str | os.PathLike, fp16: bool = False,
                 engine_cache_dir: str | os.PathLike | None = None, max_batch: int = 1, device_index: int = 0,
                 workspace_mb: int = 1024, tolerance: ParityTolerance | None = None, parity_frames_count: int = 4,
                 force_rebuild: bool = False, lock_timeout_s: float = 1800.0) -> None:
        self.model_path = Path(model_path)
        self.info = read_onnx_info(self.model_path)
        self.fp16 = bool(fp16)
        self.precision = "fp16" if fp16 else "fp32"
        self.max_batch = int(max_batch)
        self.tolerance = tolerance or TOLERANCES[self.precision]
        self._n_parity = int(parity_frames_count)
        self._runner: EngineRunner | None = None
        self._engine = self._runtime = self._logger = None
        try:
            self._start(engine_cache_dir, device_index, workspace_mb, force_rebuild, lock_timeout_s)
        except (BackendError, ModelFileError):
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - TensorRT/CUDA raise many types; the node expects BackendError
            self.close()
            raise BackendError(f"{self.model_path}: TensorRT engine setup failed ({type(exc).__name__}: {exc}); {_FIX}") from exc

    def _start(self, cache_dir: Any, device_index: int, workspace_mb: int, force_rebuild: bool,
               lock_timeout_s: float) -> None:
        trt = import_tensorrt()
        cuda = CudaRuntime(import_cudart())
        count, why = cuda.device_count()
        if count <= device_index:
            raise BackendError(f"the tensorrt backend needs CUDA GPU {device_index}, and cuda-python sees {count} "
                               f"GPU(s){f' ({why})' if why else ''}; check the driver and that cuda-python's major "
                               "version matches its CUDA version, or use backend onnxruntime")
        cuda.set_device(device_index)
        self._device_index = device_index
        device = cuda.device_info(device_index)
        recipe = BuildRecipe(precision=self.precision, input_size=self.info.input_size, max_batch=self.max_batch,
                             workspace_bytes=int(workspace_mb) << 20, input_channels=self.info.input_channels)
        low, opt, high = recipe.profile()
        self.key = EngineKey(
            onnx_sha256=file_sha256(self.model_path), precision=recipe.precision,
            fp16_converter=fp16_converter_id() if self.fp16 else "", input_size=recipe.input_size,
            min_batch=low[0], opt_batch=opt[0], max_batch=high[0], workspace_bytes=recipe.workspace_bytes,
            tf32=recipe.tf32, tensorrt_version=str(trt.__version__), gpu_name=device.name,
            compute_capability=device.compute_capability)
        self.cache = EngineCache(cache_dir or default_cache_dir(), lock_timeout_s=lock_timeout_s)
        self._trt, self._cuda = trt, cuda
        self._logger = make_logger(trt)  # must outlive the runtime and the engine
        self._runtime = trt.Runtime(self._logger)

        def build() -> bytes:
            blob, timing = build_serialized_engine(trt, self._logger, self.model_path, recipe,
                                                   self.cache.read_timing_cache(self.key))
            if timing:
                self.cache.write_timing_cache(self.key, timing)
            return blob

        cached: CachedEngine = self.cache.load_or_build(
            self.key, build, self._runtime.deserialize_cuda_engine, verify=self._verify, force_rebuild=force_rebuild)
        self._engine = cached.engine
        if self._runner is None or self._runner.engine is not cached.engine:
            self._runner = self._runner_for(cached.engine)
        self.engine_path, self.built, self.report = cached.path, cached.built, cached.report
        log.info("tensorrt backend: %s, %s engine on %s (sm %s, TensorRT %s), %s %s", self.model_path, self.precision,
                 device.name, device.compute_capability, trt.__version__, "built and cached at" if self.built
                 else "loaded from", self.engine_path)

    def _runner_for(self, engine: Any) -> EngineRunner:
        """An :class:`EngineRunner` of ``engine`` for this model's input, output and device."""
        return EngineRunner(self._trt, engine, self._cuda, self.info.input_size, self.max_batch, str(self.model_path),
                            self._device_index, self.info.channels, self.info.input_channels)

    def _verify(self, engine: Any) -> dict:
        """Parity of a freshly built engine with ONNX Runtime on the CPU; raises to refuse it."""
        from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        self._runner = self._runner_for(engine)
        frames, kind = parity_frames(self.info, self._n_parity)
        with OnnxRuntimeBackend(self.model_path, device="cpu") as reference:
            expected = reference.infer(frames)
        got = self._run_chunks(frames)
        report = compare_maps(expected, got, self.info.threshold, self.tolerance, frames_kind=kind)
        log.info("%s (%s engine)", report.summary(), self.precision)
        if not report.passed:
            raise EngineParityError(
                f"{self.model_path}: the {self.precision} TensorRT engine disagrees with the ONNX model: "
                f"{report.summary()}; the engine was not cached. Try "
                f"{'fp16: false, ' if self.fp16 else ''}another TensorRT version, or backend onnxruntime")
        return report.as_dict()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._runner is None:
            raise RuntimeError(f"{self.model_path}: tensorrt backend used after close()")
        return self._run_chunks(batch)

    def _run_chunks(self, batch: np.ndarray) -> np.ndarray:
        step = self._runner.max_batch
        if len(batch) <= step:
            return self._runner.run(batch)
        return np.concatenate([self._runner.run(batch[i:i + step]) for i in range(0, len(batch), step)])

    def close(self) -> None:
        # Context and buffers before the engine, the engine before the runtime, the logger last.
        if self._runner is not None:
            runner, self._runner = self._runner, None
            runner.close()
        self._engine = None
        self._runtime = None
