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
