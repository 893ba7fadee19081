"""Training checkpoints: atomic saves and safe (``weights_only``) loads.

A checkpoint is a plain dict written with :func:`torch.save`. Everything in it must load with
``torch.load(weights_only=True)`` -- tensors, ints, floats, strs, bools, None, lists, tuples and
dicts -- because a model file is *data*: loading one must never run code from it. So RNG states
are stored as tensors or plain lists, never as pickled numpy objects.

Saving is atomic (:func:`~guidewire_model.core.atomic_io.atomic_path`: a temporary file in the target
folder, fsynced, renamed over the target, the folder fsynced): a kill, a crash or a full disk at any
moment leaves either the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from guidewire_model.core.atomic_io import atomic_path
from guidewire_model.runtime.model_info import CheckpointError
from guidewire_model.training.config import ConfigError, TrainConfig, from_mapping

__all__ = [
    "REQUIRED_KEYS",
    "CheckpointError",
    "load_checkpoint",
    "config_from_checkpoint",
    "load_model",
    "model_from_payload",
    "save_checkpoint",
    "slim_checkpoint",
    "slim_payload",
    "recorded_threshold",
    "validation_threshold",
]

#: Keys every guidewire checkpoint carries; training checkpoints add optimizer/scheduler/RNG state.
REQUIRED_KEYS = ("model", "config")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if missing.
    payload : dict
        Must contain :data:`REQUIRED_KEYS`; every value must be ``weights_only``-loadable
        (tensors, numbers, strings, bools, None, lists, tuples, dicts of those).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    CheckpointError
        If required keys are missing.
    OSError
        If writing fails (e.g. disk full); the previous file at ``path`` is then left untouched
        and no temporary file is left behind.
    """
    path = Path(path)
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: refusing to save a checkpoint without key(s) {missing}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, without executing code from it.

    Parameters
    ----------
    path : path-like
        Checkpoint file (``last.pt``, ``best.pt``).
    map_location : str or torch.device
        Where tensors are placed.

    Returns
    -------
    dict
        The payload; contains at least :data:`REQUIRED_KEYS`.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated or corrupt, holds objects that are not plain data, or
        lacks required keys. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found; pass the path of a last.pt/best.pt")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, pickle.UnpicklingError, EOFError, ...
        raise CheckpointError(
            f"{path}: cannot read checkpoint (truncated, corrupt or not plain data: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "use another checkpoint or retrain"
        ) from exc
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path}: not a guidewire checkpoint (top level is {type(payload).__name__}, expected a dict)"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(
            f"{path}: not a guidewire checkpoint: missing key(s) {missing} "
            f"(has {sorted(map(str, payload))[:10]})"
        )
    return payload


def config_from_checkpoint(payload: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> TrainConfig:
    """Rebuild the :class:`TrainConfig` stored in a checkpoint payload.

    Raises
    ------
    CheckpointError
        If the stored config does not validate against the current config schema.
    """
    try:
        return from_mapping(TrainConfig, payload["config"], source=f"{path} (stored config)")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: stored config is invalid for this version: {exc}") from exc


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, TrainConfig]:
    """Rebuild the network stored in a checkpoint, in eval mode.

    The architecture comes from the stored config; ImageNet weights are *not* loaded (the
    checkpoint already holds all trained weights), so no weights file is needed.

    Returns
    -------
    (model, cfg)
        ``model`` on ``map_location`` in eval mode, and the run's :class:`TrainConfig`.

    Raises
    ------
    CheckpointError
        If the file cannot be read or its weights do not fit the stored architecture.
    """
    payload = load_checkpoint(path, map_location=map_location)
    return model_from_payload(payload, path, map_location)


def model_from_payload(
    payload: dict[str, Any], path: str | os.PathLike = "<checkpoint>", map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, TrainConfig]:
    """:func:`load_model` for a payload already read with :func:`load_checkpoint`."""
    import dataclasses

    from guidewire_model.training.network import build_model

    cfg = config_from_checkpoint(payload, path)
    model = build_model(dataclasses.replace(cfg.model, pretrained=False))
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not fit the stored architecture "
            f"({cfg.model.architecture}/{cfg.model.encoder}): {exc}"
        ) from exc
    model.to(map_location)
    model.eval()
    return model, cfg


def recorded_threshold(payload: dict[str, Any]) -> float | None:
    """The F1-best threshold on the validation frames at the epoch this checkpoint was saved.

    Training records it every epoch (``val_best_threshold``). Every tool that thresholds a
    checkpoint's maps takes it, so a checkpoint is scored at the threshold its ONNX export ships.

    Returns
    -------
    float or None
        None where the checkpoint holds no validation record for its epoch (then the config's
        fixed ``threshold`` applies).
    """
    epoch = payload.get("epoch")
    for record in payload.get("history", []):
        if record.get("epoch") == epoch and "val_best_threshold" in record:
            return float(record["val_best_threshold"])
    return None


def validation_threshold(payload: dict[str, Any], path: str | os.PathLike = "<checkpoint>") -> float:
    """:func:`recorded_threshold`, required.

    Raises
    ------
    CheckpointError
        If the checkpoint holds no training history for its epoch.
    """
    threshold = recorded_threshold(payload)
    if threshold is None:
        raise CheckpointError(f"{path}: no validation threshold recorded for epoch {payload.get('epoch')}; "
                              "pass a threshold explicitly")
    return threshold


#: What a checkpoint needs for evaluation, export and fine-tuning (``init_from``): no optimizer,
#: scheduler or RNG state, so a third of the size of a training checkpoint.
SLIM_KEYS = ("format", "model", "config", "epoch", "best_f1", "best_epoch", "history", "val")


def slim_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The :data:`SLIM_KEYS` entries of a checkpoint payload (the same objects, not copies)."""
    return {k: payload[k] for k in SLIM_KEYS if k in payload}


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write ``src``'s weights, config and training history (:data:`SLIM_KEYS`) to ``dst``, atomically.

    Raises
    ------
    CheckpointError
        If ``src`` cannot be read.
    """
    payload = load_checkpoint(src)
    return save_checkpoint(dst, slim_payload(payload))


def main(argv: list[str] | None = None) -> int:
    """``python -m guidewire_model.training.checkpoint``: print a checkpoint's validation threshold, or slim it."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m guidewire_model.training.checkpoint",
                                     description="Facts from, and slim copies of, training checkpoints.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--threshold", metavar="CHECKPOINT",
                        help="print the F1-best validation threshold of the checkpoint's epoch")
    action.add_argument("--slim", nargs=2, metavar=("CHECKPOINT", "OUT"),
                        help="write the weights, config and history without optimizer state to OUT")
    args = parser.parse_args(argv)
    try:
        if args.threshold:
            print(f"{validation_threshold(load_checkpoint(args.threshold), args.threshold):.3f}")
        else:
            print(slim_checkpoint(*args.slim))
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
