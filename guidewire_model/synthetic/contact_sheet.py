"""A PNG grid of synthetic frames beside their ground truth, for looking at the generator's output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.synthetic.generator import SyntheticFrame

__all__ = ["make_comparison_sheet", "make_contact_sheet", "overlay"]

#: BGR colours of wire 1 and wire 2 in overlays.
WIRE_COLOURS = {1: (40, 60, 255), 2: (255, 200, 0)}


def _gray8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return image.astype(np.uint8)


def overlay(frame: SyntheticFrame) -> np.ndarray:
    """BGR uint8 (H, W, 3): the frame with wire 1 and wire 2 tinted and their tips circled."""
    gray = _gray8(frame.image)
    out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    for wire_id, colour in WIRE_COLOURS.items():
        sel = frame.instances == wire_id
        out[sel] = (0.35 * out[sel] + 0.65 * np.array(colour)).astype(np.uint8)
    radius = max(int(round(frame.image.shape[0] / 64)), 3)
    for wire in frame.wires:
        if len(wire.points):
            tip = np.round(wire.tip).astype(int)
            cv2.circle(out, (int(tip[0]), int(tip[1])), radius, WIRE_COLOURS.get(wire.wire_id, (0, 255, 0)), 1, cv2.LINE_AA)
    return out


def _tile(image: np.ndarray, side: int) -> np.ndarray:
    """``image`` (BGR) scaled to fit a ``side`` x ``side`` tile, centred, keeping its aspect ratio."""
    h, w = image.shape[:2]
    f = side / max(h, w)
    th, tw = max(int(round(h * f)), 1), max(int(round(w * f)), 1)
    scaled = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
    if (th, tw) == (side, side):
        return scaled
    tile = np.full((side, side, 3), 32, np.uint8)
    y, x = (side - th) // 2, (side - tw) // 2
    tile[y: y + th, x: x + tw] = scaled
    return tile


def _grid(frames: Sequence[SyntheticFrame], columns: int, side: int) -> np.ndarray:
    """Rows of samples, each its frame beside the frame with masks overlaid, with a label."""
    rows = (len(frames) + columns - 1) // columns
    gap = 4
    sheet = np.full((rows * (side + gap) + gap, columns * (2 * side + gap) + gap, 3), 32, np.uint8)
    for n, frame in enumerate(frames):
        raw = cv2.cvtColor(_gray8(frame.image), cv2.COLOR_GRAY2BGR)
        pair = [_tile(t, side) for t in (raw, overlay(frame))]
        r, c = divmod(n, columns)
        y, x = gap + r * (side + gap), gap + c * (2 * side + gap)
        sheet[y: y + side, x: x + 2 * side] = np.hstack(pair)
        label = f"#{n} t={frame.time:.2f}s" + (" X" if frame.crossing else "")
        cv2.putText(sheet, label, (x + 4, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1, cv2.LINE_AA)
    return sheet


def _write(sheet: np.ndarray, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"{path}: could not write PNG")
    return path


def make_contact_sheet(
    frames: Sequence[SyntheticFrame],
    path: str | os.PathLike,
    columns: int = 4,
    tile_size: int | None = None,
) -> Path:
    """Write a PNG grid: each sample is its frame with, to the right, the same frame with masks overlaid.

    Parameters
    ----------
    frames : sequence of SyntheticFrame
        At least one.
    columns : int
        Samples per row (each sample is two tiles wide).
    tile_size : int, optional
        Side of each tile in pixels; frames are resized (area interpolation) to fit it, keeping
        their aspect ratio. Default: the first frame's longer side.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If ``frames`` is empty or ``columns`` < 1.
    OSError
        If the PNG cannot be written.
    """
    if not frames:
        raise ValueError("make_contact_sheet needs at least one frame")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    return _write(_grid(frames, columns, tile_size or max(frames[0].image.shape)), path)


def make_comparison_sheet(
    blocks: Sequence[tuple[str, Sequence[SyntheticFrame]]],
    path: str | os.PathLike,
    columns: int = 4,
    tile_size: int | None = None,
) -> Path:
    """Write a PNG of several labelled contact-sheet blocks one above the other (e.g. two presets).

    Parameters
    ----------
    blocks : sequence of (label, frames)
        Each block as in :func:`make_contact_sheet`, under a title bar with its label.
    columns, tile_size
        As in :func:`make_contact_sheet`, the same for every block.

    Raises
    ------
    ValueError
        If there is no block, a block has no frame, or ``columns`` < 1.
    OSError
        If the PNG cannot be written.
    """
    if not blocks or any(not frames for _, frames in blocks):
        raise ValueError("make_comparison_sheet needs at least one block, each with at least one frame")
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    side = tile_size or max(blocks[0][1][0].image.shape)
    parts = []
    for label, frames in blocks:
        grid = _grid(frames, columns, side)
        bar = np.full((24, grid.shape[1], 3), 16, np.uint8)
        cv2.putText(bar, label, (8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
        parts += [bar, grid]
    return _write(np.vstack(parts), path)
