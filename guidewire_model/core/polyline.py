"""Polyline geometry shared by the synthetic generator, centreline extraction, tracking and the metrics.

A polyline is a float array of shape (N, 2) holding (x, y) pixel coordinates.
"""

from __future__ import annotations

import math

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "arc_length",
    "as_points",
    "border_distance",
    "closest_point_distances",
    "mean_centreline_distance",
    "nearest_sample_distance",
    "normals",
    "polyline_length",
    "resample",
    "subdivide",
    "true_runs",
]


def arc_length(points: np.ndarray) -> np.ndarray:
    """Cumulative arc length, shape (N,), starting at 0 (all zeros for fewer than two points)."""
    if len(points) < 2:
        return np.zeros(len(points))
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def polyline_length(points: np.ndarray) -> float:
    """Arc length in pixels of an (N, 2) polyline (0 for fewer than two points)."""
    return float(arc_length(np.asarray(points, dtype=np.float64))[-1]) if len(points) else 0.0


def normals(points: np.ndarray) -> np.ndarray:
    """Unit left normals (N, 2) from central-difference tangents."""
    tangent = np.gradient(points, axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Points at equal arc-length ``spacing`` along the polyline, keeping both end points."""
    s = arc_length(points)
    if len(points) < 2 or s[-1] <= 0:
        return points.copy()
    n = max(int(math.ceil(s[-1] / spacing)), 1) + 1
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def border_distance(points: Any, shape: tuple[int, int]) -> np.ndarray:
    """Distance [px] of (x, y) points to the nearest pixel outside an image of ``shape`` (H, W).

    1 on the outermost pixels, the same convention as the field of view's
    :meth:`~guidewire_model.runtime.field_of_view.FieldOfView.distance`; 0 or less outside the image.
    Returns float64 (N,).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    h, w = shape
    x, y = pts[:, 0], pts[:, 1]
    return np.minimum(np.minimum(x + 1.0, w - x), np.minimum(y + 1.0, h - y))


def as_points(item: Any) -> np.ndarray:
    """(N, 2) float64 points of an (N, 2) array or of anything with ``.points`` (a wire)."""
    if hasattr(item, "points"):
        item = item.points
    pts = np.asarray(item, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"a polyline must be a non-empty (N, 2) array of (x, y), got shape {pts.shape}")
    return pts


def closest_point_distances(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Distance from each of ``points`` (N, 2) to the nearest point of the polyline's segments.

    A single-point polyline is treated as that point. Returns float64 (N,). Exact, and close to
    linear in N + M: the tracker calls it on every frame, so an all-pairs (N x M) search over the
    long paths of a noisy mask would cost tens of milliseconds.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    line = np.asarray(polyline, dtype=np.float64).reshape(-1, 2)
    if len(line) == 1 or len(p) == 0:
        return np.hypot(*(p - line[0]).T)
    # Long straight segments (a bridged gap) would widen every point's candidate radius below;
    # cutting them into <= 1 px pieces keeps the same curve and the candidate sets small.
    line = subdivide(line, 1.0)
    tree = cKDTree(line)
    nearest_vertex, _ = tree.query(p)
    a, b = line[:-1], line[1:]
    ab = b - a
    seg_len2 = np.sum(ab * ab, axis=1)
    # A segment whose closest point lies within `nearest_vertex` of q has an end point within
    # nearest_vertex + half the segment's length of q: those vertices' segments are the only candidates.
    radius = nearest_vertex + 0.5 * float(np.sqrt(seg_len2.max())) + 1e-9
    cand = tree.query_ball_point(p, radius)
    counts = np.fromiter((len(c) for c in cand), dtype=np.intp, count=len(p))
    vertices = np.fromiter((v for c in cand for v in c), dtype=np.intp, count=int(counts.sum()))
    owner = np.repeat(np.arange(len(p)), counts)
    # Each candidate vertex j brings its segments j-1 and j.
    seg = np.concatenate([vertices - 1, vertices])
    owner = np.concatenate([owner, owner])
    keep = (seg >= 0) & (seg < len(a))
    seg, owner = seg[keep], owner[keep]
    q = p[owner]
    t = np.clip(np.sum((q - a[seg]) * ab[seg], axis=1) / np.maximum(seg_len2[seg], 1e-12), 0.0, 1.0)
    d2 = np.sum((q - (a[seg] + t[:, None] * ab[seg])) ** 2, axis=1)
    out = np.full(len(p), np.inf)
    np.minimum.at(out, owner, d2)
    return np.sqrt(np.minimum(out, nearest_vertex ** 2))


def subdivide(line: np.ndarray, max_len: float) -> np.ndarray:
    """The same polyline with every segment longer than ``max_len`` cut into equal pieces (vertices kept)."""
    seg = np.diff(line, axis=0)
    pieces = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / max_len), 1).astype(np.intp)
    if pieces.max() == 1:
        return line
    start = np.repeat(line[:-1], pieces, axis=0)
    step = np.repeat(seg / pieces[:, None], pieces, axis=0)
    k = np.arange(int(pieces.sum())) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return np.vstack([start + k[:, None] * step, line[-1:]])


def mean_centreline_distance(a: Any, b: Any) -> float:
    """Symmetric mean closest-point distance (px) between two polylines.

    The mean over the points of ``a`` of their distance to ``b`` and the mean over ``b`` to
    ``a``, averaged; 0 for identical curves, and independent of the direction of either curve.
    Accepts (N, 2) arrays or anything with ``.points`` (a :class:`~guidewire_model.core.wire.Wire`).
    """
    pa, pb = as_points(a), as_points(b)
    a_to_b = float(closest_point_distances(pa, pb).mean())
    b_to_a = float(closest_point_distances(pb, pa).mean())
    return 0.5 * (a_to_b + b_to_a)


def nearest_sample_distance(a: Any, b: Any) -> float:
    """:func:`mean_centreline_distance` from 1 px samples of both curves: close to it, and much cheaper.

    Each curve is cut into pieces of at most 1 px (the curve itself is unchanged) and each sample's
    distance to the other curve is taken to that curve's nearest sample, at most half a piece
    farther than the curve itself; the means run over the samples instead of the given vertices, the
    same thing for the pixel-spaced centrelines the extraction gives. For the tracker, which compares
    every pair of wires on every frame and needs a matching cost, not an evaluation figure.
    """
    pa, pb = subdivide(as_points(a), 1.0), subdivide(as_points(b), 1.0)
    a_to_b = float(cKDTree(pb).query(pa)[0].mean())
    b_to_a = float(cKDTree(pa).query(pb)[0].mean())
    return 0.5 * (a_to_b + b_to_a)


def true_runs(flags: np.ndarray) -> np.ndarray:
    """The runs of ``True`` in a 1-D bool array, as half-open ``(start, stop)`` index pairs.

    For the stretches of a polyline whose points meet a condition (sharp turns, near an edge,
    uncovered by a mask). Returns an int array of shape (K, 2), K = 0 when nothing is ``True``.
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags, dtype=np.int8), [0]])))
    return edges.reshape(-1, 2)
