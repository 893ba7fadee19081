"""Polyline geometry shared by the synthetic generator, centreline extraction and the metrics.

A polyline is a float array of shape (N, 2) holding (x, y) pixel coordinates.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["arc_length", "polyline_length", "resample"]


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length, shape (N,), starting at 0 (all zeros for fewer than two points)."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def polyline_length(points: np.ndarray) -> float:
    """Arc length in pixels of an (N, 2) polyline (0 for fewer than two points)."""
    return float(arc_length(np.asarray(points, dtype=np.float64))[-1]) if len(points) else 0.0


def resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points at equal arc-length ``spacing`` along the polyline, keeping both end points."""
    s = arc_length(points)
    if len(points) < 2 or s[-1] <= 0:
        return points.copy()
    n = max(int(math.ceil(s[-1] / spacing)), 1) + 1
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)
