"""On-disk data set layout: one folder per sequence, PNG frames and masks, optional annotations.

::

    <root>/
      <sequence>/                  one folder per patient sequence; the unit of every split
        meta.json                  optional: {"patient": "P07"} groups sequences of one patient
        frames/000000.png          grayscale, 8- or 16-bit
        masks/000000.png           binary guidewire mask: values {0, 1} or {0, 255}
        instances/000000.png       optional: 0 background, k > 0 the pixels of wire k
        centrelines/000000.json    optional: {"wires": [{"id": 1, "points": [[x, y], ...],
                                               "tip": [x, y]}]}, points proximal -> distal
        exclude/000000.png         optional: 1 where a device that is NOT guidewire lies (an
                                   annotated catheter; the generator's catheters and look-alikes);
                                   never read by training

Pixel coordinates: x to the right, y down, origin at the *centre* of the top-left pixel, in pixels
of the frame. A hospital team fills this layout with its own sequences and trains with no code
change; see docs/dataset-layout.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.core.atomic_io import atomic_path, write_text_atomic
from guidewire_model.core.wire import Wire

__all__ = [
    "CENTRELINES_DIR",
    "EXCLUDE_DIR",
    "FRAMES_DIR",
    "INSTANCES_DIR",
    "MASKS_DIR",
    "META_FILE",
    "frame_name",
    "read_centrelines",
    "write_frame",
    "write_meta",
    "write_sample",
]

FRAMES_DIR = "frames"
MASKS_DIR = "masks"
INSTANCES_DIR = "instances"
CENTRELINES_DIR = "centrelines"
# The name guidewire_model.data.frame_folder reads as "what is not guidewire", so a sequence folder is
# also a frame folder for guidewire-eval --folder.
EXCLUDE_DIR = "exclude"
META_FILE = "meta.json"


def frame_name(index: int, suffix: str = ".png") -> str:
    """File name of frame ``index`` inside each sub-folder (zero-padded, sorts in time order)."""
    return f"{index:06d}{suffix}"


def _write_png(path: Path, image: np.ndarray) -> None:
    # An interrupted writer never leaves a truncated PNG under the final name.
    with atomic_path(path, suffix=".png") as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"{path}: could not write PNG")


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"image must be a 2-D uint8 or uint16 array, got {image.dtype} {image.shape}")


def _write_json(path: Path, data: object, indent: int | None = None) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent))


def write_frame(sequence_dir: str | os.PathLike, index: int, image: np.ndarray) -> Path:
    """Write frame ``index`` alone (no annotation yet) into ``sequence_dir``; returns its path.

    A sequence of frames without masks is what annotation starts from; it becomes a training
    sequence once ``masks/`` is filled (:func:`write_sample`).

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D uint8 or uint16 array.
    """
    _check_image(image)
    path = Path(sequence_dir) / FRAMES_DIR / frame_name(index)
    _write_png(path, image)
    return path


def write_meta(sequence_dir: str | os.PathLike, meta: dict) -> Path:
    """Write ``meta.json`` of a sequence (``{"patient": ...}`` plus any notes); returns its path."""
    path = Path(sequence_dir) / META_FILE
    _write_json(path, meta, indent=2)
    return path


def write_sample(
    sequence_dir: str | os.PathLike,
    index: int,
    image: np.ndarray,
    mask: np.ndarray,
    instances: np.ndarray | None = None,
    wires: Sequence[Wire] | None = None,
    exclude: np.ndarray | None = None,
) -> None:
    """Write one frame and its annotations into ``sequence_dir`` in the documented layout.

    Parameters
    ----------
    sequence_dir : path-like
        The sequence folder, ``<root>/<sequence>``; created if missing.
    index : int
        Frame index within the sequence, >= 0.
    image : ndarray, shape (H, W), uint8 or uint16
        Fluoroscopy frame.
    mask : ndarray, shape (H, W), bool or integer in {0, 1}
        Binary guidewire mask; stored as 0/1 (the paper's convention).
    instances : ndarray, shape (H, W), integer, optional
        0 background, k the pixels of wire k.
    wires : sequence of Wire, optional
        Ordered centrelines, written as JSON.
    exclude : ndarray, shape (H, W), bool or integer in {0, 1}, optional
        What was annotated as *not* guidewire (the catheter), stored 0/1 under ``exclude/``.

    Raises
    ------
    ValueError
        If shapes differ, the image dtype is not uint8/uint16 or a mask is not binary.
    """
    seq = Path(sequence_dir)
    _check_image(image)
    for what, label in (("mask", mask), ("exclude", exclude)):
        if label is None:
            continue
        if label.shape != image.shape:
            raise ValueError(f"{what} shape {label.shape} differs from image shape {image.shape}")
        if not np.isin(label, (0, 1)).all():
            raise ValueError(f"{what} must hold only 0 and 1")
    name = frame_name(index)
    write_frame(seq, index, image)
    _write_png(seq / MASKS_DIR / name, mask.astype(np.uint8))
    if instances is not None:
        if instances.shape != image.shape:
            raise ValueError(f"instances shape {instances.shape} differs from image shape {image.shape}")
        _write_png(seq / INSTANCES_DIR / name, instances.astype(np.uint8))
    if exclude is not None:
        _write_png(seq / EXCLUDE_DIR / name, exclude.astype(np.uint8))
    if wires is not None:
        _write_json(seq / CENTRELINES_DIR / frame_name(index, ".json"), {"wires": [w.to_json() for w in wires]})


def read_centrelines(path: str | os.PathLike) -> list[Wire]:
    """Read a centreline JSON file of the layout.

    Raises
    ------
    ValueError
        Naming the file, if it is not valid JSON or lacks ``wires[*].id`` / ``points``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        wires = []
        for entry in data["wires"]:
            pts = np.asarray(entry["points"], dtype=np.float64).reshape(-1, 2)
            wires.append(Wire.from_points(pts, wire_id=int(entry["id"])))
        return wires
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a centreline file of the layout ({exc}); expected "
            '{"wires": [{"id": 1, "points": [[x, y], ...]}]}'
        ) from exc
