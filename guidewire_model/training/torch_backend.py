"""PyTorch eager backend: runs a training checkpoint directly (reference for the other backends)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from guidewire_model.runtime.model_info import ModelInfo
from guidewire_model.training.config import describe_model
from guidewire_model.training.network import output_logits
from guidewire_model.runtime.backends.base import Backend, BackendError

__all__ = ["TorchBackend"]

log = logging.getLogger(__name__)


class TorchBackend(Backend):
    """Run a logits network in PyTorch eager mode, applying the sigmoid like the exported file.

    Parameters
    ----------
    model : nn.Module
        Network from ``network.build_model`` (returns logits).
    info : ModelInfo
        Its input size / normalisation / threshold.
    device : {"cpu", "cuda"}
    fp16 : bool
        Autocast to float16 on CUDA (ignored on the CPU); the output is float32 either way.
    threads : int, optional
        ``torch.set_num_threads`` on the CPU. Note this is process-wide in PyTorch.

    Raises
    ------
    BackendError
        If ``device="cuda"`` and PyTorch sees no CUDA GPU.
    """

    name = "torch"

    def __init__(self, model: nn.Module, info: ModelInfo, device: str = "cpu", fp16: bool = False,
                 threads: int | None = None) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendError("torch backend: device=cuda requested but PyTorch sees no CUDA GPU; use device=cpu")
        if threads is not None and device == "cpu":
            torch.set_num_threads(threads)
        self.info = info
        self.device = torch.device(device)
        self.fp16 = fp16 and device == "cuda"
        self._model = model.to(self.device).eval()

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "cpu", fp16: bool = False,
                        threads: int | None = None) -> "TorchBackend":
        """Load a training checkpoint (``.pt``); see :meth:`from_payload`.

        Raises
        ------
        checkpoint.CheckpointError
            If the file is missing, unreadable or its weights do not fit its config.
        """
        from guidewire_model.training.checkpoint import load_checkpoint

        path = Path(path)
        if path.suffix == ".onnx":
            raise BackendError(f"{path}: the torch backend runs training checkpoints (.pt), not ONNX files; "
                               "use the onnxruntime or tensorrt backend for it")
        return cls.from_payload(load_checkpoint(path, map_location="cpu"), path, device=device, fp16=fp16,
                                threads=threads)

    @classmethod
    def from_payload(cls, payload: dict, path: str | os.PathLike = "<checkpoint>", device: str = "cpu",
                     fp16: bool = False, threads: int | None = None) -> "TorchBackend":
        """The network of a checkpoint payload already read with ``checkpoint.load_checkpoint``.

        Its ``info.threshold`` is the validation threshold of the checkpoint's epoch
        (``checkpoint.recorded_threshold``), the one its ONNX export ships, so a pipeline on a
        checkpoint publishes the masks the exported model would; the config's fixed threshold
        only where training recorded none.

        Raises
        ------
        checkpoint.CheckpointError
            If its weights do not fit its config.
        """
        from guidewire_model.training.checkpoint import model_from_payload, recorded_threshold

        model, cfg = model_from_payload(payload, path, "cpu")
        log.info("torch backend: %s (%s/%s)", path, cfg.model.architecture, cfg.model.encoder)
        return cls(model, describe_model(cfg, threshold=recorded_threshold(payload)), device=device, fp16=fp16,
                   threads=threads)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("torch backend used after close()")
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
                logits = output_logits(self._model, x)
            # Sigmoid in float32: float16 saturates probabilities near 0/1.
            return torch.sigmoid(logits.float()).cpu().numpy()

    def close(self) -> None:
        self._model = None
