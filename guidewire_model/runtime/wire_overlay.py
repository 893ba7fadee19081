"""Traced wires drawn on the frame: the picture a person checks before trusting the centrelines."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from guidewire_model.runtime.overlay import gray_to_rgb, mask_overlay
from guidewire_model.runtime.preprocess import to_unit_float

__all__ = ["WIRE_COLOURS", "draw_wires", "render_overlay"]

#: RGB colour of wire id k is WIRE_COLOURS[(k - 1) % len]; wire 1 orange, wire 2 cyan, ...
WIRE_COLOURS = ((255, 140, 0), (0, 200, 255), (255, 0, 200), (160, 255, 0), (255, 255, 0), (140, 80, 255))
_MASK_TINT = (0, 255, 0)


def draw_wires(rgb: np.ndarray, wires: Sequence, thickness: int = 1) -> np.ndarray:
    """Draw each wire's centreline, tip and id onto ``rgb`` in place and return it.

    Parameters
    ----------
    rgb : ndarray, (H, W, 3) uint8
        RGB canvas.
    wires : sequence
        Items with ``wire_id`` and ``points`` ((N, 2) x/y px, proximal -> distal); the last point is
        the tip, marked with a circle and labelled with the id.
    """
    scale = max(1, round(max(rgb.shape[:2]) / 512))
    for wire in wires:
        pts = np.asarray(wire.points, dtype=np.float64)
        if len(pts) == 0:
            continue
        colour = WIRE_COLOURS[(int(wire.wire_id) - 1) % len(WIRE_COLOURS)]
        # cv2 draws on an integer grid; 4 fractional bits keep the sub-pixel centreline.
        poly = np.round(pts * 16).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(rgb, [poly], False, colour, thickness * scale, cv2.LINE_AA, shift=4)
        tip = tuple(int(v) for v in np.round(pts[-1]))
        cv2.circle(rgb, tip, 5 * scale, colour, thickness * scale, cv2.LINE_AA)
        cv2.putText(rgb, str(int(wire.wire_id)), (tip[0] + 7 * scale, tip[1] - 7 * scale),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, colour, scale, cv2.LINE_AA)
    return rgb


def render_overlay(image: np.ndarray, mask: np.ndarray | None, wires: Sequence) -> np.ndarray:
    """Frame with the mask tinted green and every wire's centreline and tip drawn.

    Parameters
    ----------
    image : ndarray, (H, W)
        uint8, uint16 or float frame (NaN/Inf shown black).
    mask : ndarray, (H, W) or None
        Binary mask (0/1 or bool).
    wires : sequence
        See :func:`draw_wires`.

    Returns
    -------
    ndarray, (H, W, 3) uint8 RGB
    """
    unit = to_unit_float(image)
    rgb = mask_overlay(unit, mask, colour=_MASK_TINT, alpha=0.35) if mask is not None else gray_to_rgb(unit)
    return draw_wires(rgb, wires)
