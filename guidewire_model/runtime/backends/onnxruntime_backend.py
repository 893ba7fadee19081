"""ONNX Runtime backend: CPU everywhere, CUDA when asked for and available."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from guidewire_model.runtime.model_info import read_onnx_info
from guidewire_model.runtime.backends.base import Backend, default_threads

__all__ = ["OnnxRuntimeBackend"]

log = logging.getLogger(__name__)


class OnnxRuntimeBackend(Backend):
    """Run an ONNX file written by ``guidewire-export`` with ONNX Runtime.

    Parameters
    ----------
    model_path : path-like
        ``.onnx`` file; validated with :func:`~guidewire_model.runtime.model_info.read_onnx_info`
        before a session is created, so a bad file fails here, naming the file.
    device : {"cpu", "cuda"}
        ``"cuda"`` puts CUDAExecutionProvider first when this onnxruntime build has it;
        otherwise a warning is logged and the CPU is used.
    threads : int, optional
        Intra-op threads; default :func:`~guidewire_model.runtime.backends.base.default_threads`.

    Raises
    ------
    ModelFileError
        If the file is missing, not ONNX, or lacks/contradicts our metadata.
    """

    name = "onnxruntime"

    def __init__(self, model_path: str | os.PathLike, device: str = "cpu", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.model_path = Path(model_path)
        self.info = read_onnx_info(self.model_path)
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                log.warning("%s: device=cuda requested but this onnxruntime has no CUDAExecutionProvider "
                            "(install onnxruntime-gpu); running on the CPU", self.model_path)
        elif device != "cpu":
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        # One frame at a time is one graph run: parallelism is inside the ops, not across them.
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        # Idle intra-op threads sleep instead of spinning. Spinning wins a little when the process
        # owns its cores (offline: ~1 ms of 32 per frame) but steals them from the node's own
        # threads and the middleware beside it: on 2 cores the node's decode + publish work doubled
        # (1.2 -> 2.4 ms p50) and its saturated throughput fell 9-13 % below the offline pipeline's,
        # against 2-5 % without spinning (node_bench, docs/benchmarks.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.model_path), sess_options=opts, providers=providers)
        self.providers = self._session.get_providers()
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        log.info("onnxruntime backend: %s on %s, %d intra-op threads",
                 self.model_path, self.providers, opts.intra_op_num_threads)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._session is None:
            raise RuntimeError(f"{self.model_path}: onnxruntime backend used after close()")
        return self._session.run([self._output], {self._input: batch})[0]

    def close(self) -> None:
        self._session = None
