"""A real, tiny, untrained segmentation network exported to ONNX: quick to build, enough for plumbing."""

from __future__ import annotations

from pathlib import Path

import torch

from guidewire_model.training.config import load_train_config
from guidewire_model.training.export import export_model
from guidewire_model.training.network import build_model


def export_tiny_model(folder: Path, width: int = 8, size: int = 128, name: str = "tiny.onnx") -> Path:
    """ResNet-18 LinkNet of ``width`` at ``size`` px, exported (parity-checked) to ``folder/name``.

    Its weights are the same on every call (seed 0, without touching the caller's random state), so
    a test's outcome does not hang on what an unseeded draw happens to mark.
    """
    cfg = load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": width,
                                       "model.pretrained": False, "model.input_size": size})
    path = Path(folder) / name
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_model(cfg.model).eval()
    export_model(model, cfg, path)
    return path
