"""Masks drawn from polylines, and densely sampled reference curves, for centreline tests."""

from __future__ import annotations

import cv2
import numpy as np


def draw(polylines, size: int = 256, thickness: int = 3) -> np.ndarray:
    """A (size, size) uint8 0/1 mask with each polyline drawn ``thickness`` px wide."""
    mask = np.zeros((size, size), np.uint8)
    for line in polylines:
        cv2.polylines(mask, [np.round(np.asarray(line)).astype(np.int32)], False, 1, thickness)
    return mask


def dense(points, spacing: float = 0.5) -> np.ndarray:
    """Polyline through ``points`` sampled every ``spacing`` px (reference curve)."""
    pts = np.asarray(points, dtype=np.float64)
    out = [pts[0]]
    for a, b in zip(pts[:-1], pts[1:]):
        n = max(int(np.ceil(np.hypot(*(b - a)) / spacing)), 1)
        out.extend(a + (b - a) * t for t in np.arange(1, n + 1) / n)
    return np.asarray(out)


def line_with_tip(size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A [0, 1] frame with one dark horizontal wire from x = 2 to its tip at (20, 10), its 0/1 mask,
    and the tip as ``(1, 2)`` ``(x, y)``: the tip targets' hand-checkable case."""
    image = np.full((size, size), 0.8, np.float32)
    mask = np.zeros((size, size), np.uint8)
    image[10, 2:21] = 0.2
    mask[10, 2:21] = 1
    return image, mask, np.array([[20.0, 10.0]])
