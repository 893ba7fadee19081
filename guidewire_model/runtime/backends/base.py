"""The one interface every inference backend implements."""

from __future__ import annotations

import abc
import os

import numpy as np

from guidewire_model.runtime.model_info import ModelInfo

__all__ = ["Backend", "BackendError", "default_threads"]


class BackendError(RuntimeError):
    """A backend cannot be created or run (missing runtime, no GPU, wrong model file type)."""


def default_threads() -> int:
    """CPU threads for intra-op parallelism: the cores this process may run on.

    ONNX Runtime and PyTorch default to every core of the machine, ignoring the process's CPU
    affinity (taskset, cgroup cpusets, ROS executors pinned to cores); oversubscribing those cores
    makes latency much worse and jittery, so we count only the allowed ones.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Backend(abc.ABC):
    """Runs a segmentation model: normalised frames in, wire probability maps out.

    Attributes
    ----------
    name : str
        ``"onnxruntime"``, ``"torch"`` or ``"tensorrt"``.
    info : ModelInfo
        Input size, normalisation and threshold of the loaded model.
    """

    name: str
    info: ModelInfo

    @abc.abstractmethod
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """Run a validated batch; return float32 (N, C, S, S) probabilities (C = ``info.channels``)."""

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Probability maps for a batch of preprocessed frames.

        Parameters
        ----------
        batch : ndarray, float32, (N, C_in, S, S)
            Frames normalised with ``info.input_mean`` / ``info.input_std`` at
            ``S = info.input_size`` (see ``preprocess.prepare_batch``); ``C_in =
            info.input_channels``, the frame and, for a motion-input model, its motion channel
            (``motion.MotionHistory``).

        Returns
        -------
        ndarray, float32, (N, C, S, S)
            Wire probability in [0, 1] in channel 0; a model with tips (``info.has_tips``) has the
            tip probability in channel 1.

        Raises
        ------
        ValueError
            If ``batch`` has the wrong dtype or shape.
        """
        batch = self._check_batch(batch)
        out = self._run(batch)
        return np.asarray(out, dtype=np.float32)

    def warmup(self, runs: int = 2, batch_size: int = 1) -> None:
        """Run a few zero batches so lazy initialisation (allocations, kernel selection) is paid now."""
        s = self.info.input_size
        zeros = np.zeros((batch_size, self.info.input_channels, s, s), dtype=np.float32)
        for _ in range(runs):
            self._run(zeros)

    def close(self) -> None:
        """Release the runtime's resources; the backend cannot be used afterwards."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        s = self.info.input_size
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            kind = batch.dtype if isinstance(batch, np.ndarray) else type(batch).__name__
            raise ValueError(f"{self.name} backend: batch must be a float32 ndarray, got {kind}; "
                             "use preprocess.prepare_batch")
        c = self.info.input_channels
        if batch.ndim != 4 or batch.shape[1:] != (c, s, s) or batch.shape[0] < 1:
            raise ValueError(f"{self.name} backend: batch shape {batch.shape}; expected (N, {c}, {s}, {s}) with N >= 1")
        return np.ascontiguousarray(batch)
