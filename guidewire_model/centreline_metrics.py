"""Scores of per-wire centrelines against ground truth: distance, tip error, instance and identity.

Used by the centreline benchmark, the ROS demo, the bag evaluator and the docs. Predictions may be
plain (N, 2) point arrays, :class:`~guidewire_model.centreline.Centreline` objects or tracked wires
(anything with ``.centreline`` and ``.wire_id``); ground truth is a list of
:class:`~guidewire_model.layout.WireAnnotation`. All distances are in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy.spatial import cKDTree
from scipy.optimize import linear_sum_assignment

from guidewire_model.layout import WireAnnotation
from guidewire_model.polyline import arc_length

__all__ = [
    "CentrelineScores",
    "FrameScore",
    "closest_point_distances",
    "match_wires",
    "mean_centreline_distance",
    "nearest_sample_distance",
    "score_frame",
    "tip_error",
    "wires_cross",
]


def _points(item: Any) -> np.ndarray:
    """(N, 2) float64 points of an array, Centreline, TrackedWire or WireAnnotation."""
    if hasattr(item, "centreline"):
        item = item.centreline
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
    line = _subdivide(line, 1.0)
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


def _subdivide(line: np.ndarray, max_len: float) -> np.ndarray:
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
    Accepts arrays, centrelines, tracked wires or annotations.
    """
    pa, pb = _points(a), _points(b)
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
    pa, pb = _subdivide(_points(a), 1.0), _subdivide(_points(b), 1.0)
    a_to_b = float(cKDTree(pb).query(pa)[0].mean())
    b_to_a = float(cKDTree(pa).query(pb)[0].mean())
    return 0.5 * (a_to_b + b_to_a)


def tip_error(predicted: Any, truth: Any) -> float:
    """Euclidean distance (px) between the last points (distal tips) of two ordered polylines."""
    return float(np.hypot(*(_points(predicted)[-1] - _points(truth)[-1])))


def wires_cross(wires: Sequence[Any], gap_px: float = 8.0, exclude_px: float = 30.0) -> bool:
    """Whether two wires cross or run within ``gap_px`` of each other beyond their first ``exclude_px``.

    The "crossing frame" test of the demo and the bag evaluator, applied to ground-truth
    centrelines. Both wires leave the guiding catheter together, so their proximal ends always
    touch: the first ``exclude_px`` of arc length of each wire are left out.

    Parameters
    ----------
    wires : sequence
        Items with ``points`` ((N, 2) x/y px, proximal -> distal), e.g. WireAnnotation.
    gap_px : float
        Closest-approach distance below which two wires count as crossing (about two wire widths).
    exclude_px : float
        Proximal arc length of each wire ignored.

    Returns
    -------
    bool
        False for fewer than two wires (or wires shorter than ``exclude_px``).
    """
    parts = []
    for wire in wires:
        pts = np.asarray(wire.points, dtype=np.float64).reshape(-1, 2)
        if len(pts) < 2:
            continue
        arc = arc_length(pts)
        if (arc > exclude_px).any():
            parts.append(pts[arc > exclude_px])
    return any(closest_point_distances(parts[i], parts[j]).min() < gap_px
               for i in range(len(parts)) for j in range(i + 1, len(parts)))


def match_wires(predicted: Sequence[Any], truth: Sequence[Any], gate_px: float
                ) -> list[tuple[int, int, float]]:
    """Optimal one-to-one matching of ground-truth wires to predicted wires.

    Minimises the summed :func:`mean_centreline_distance` (Hungarian assignment); pairs farther
    apart than ``gate_px`` are dropped. Returns ``(truth_index, predicted_index, distance)``
    sorted by truth index.
    """
    if not predicted or not truth:
        return []
    cost = np.array([[mean_centreline_distance(t, p) for p in predicted] for t in truth])
    rows, cols = linear_sum_assignment(cost)
    return sorted((int(r), int(c), float(cost[r, c])) for r, c in zip(rows, cols) if cost[r, c] <= gate_px)


@dataclass(frozen=True)
class FrameScore:
    """Scores of one frame.

    ``distances`` and ``tip_errors`` hold one entry per matched ground-truth wire.
    ``assignment_correct``: every ground-truth wire is matched (within the gate) to exactly one
    predicted wire. ``id_consistent``: every matched wire carries the predicted id its ground-truth
    wire got when first matched in the sequence (True for untracked predictions).
    """

    n_truth: int
    n_predicted: int
    distances: tuple[float, ...]
    tip_errors: tuple[float, ...]
    assignment_correct: bool
    id_consistent: bool
    id_switches: int
    crossing: bool


def score_frame(predicted: Sequence[Any], truth: Sequence[WireAnnotation], gate_px: float = 10.0,
                crossing: bool = False, first_ids: dict[int, int] | None = None,
                last_ids: dict[int, int] | None = None) -> FrameScore:
    """Score one frame; updates ``first_ids`` / ``last_ids`` (truth id -> predicted id) in place.

    Predicted ids are read from ``wire_id`` attributes when present; an identity switch is a
    matched ground-truth wire whose predicted id differs from the one it had when last matched.
    """
    matches = match_wires(predicted, truth, gate_px)
    distances = tuple(d for _, _, d in matches)
    tips = tuple(tip_error(predicted[p], truth[t]) for t, p, _ in matches)
    correct = len(matches) == len(truth)
    consistent, switches = True, 0
    for t, p, _ in matches:
        pred_id = getattr(predicted[p], "wire_id", None)
        if pred_id is None or first_ids is None or last_ids is None:
            continue
        gt_id = truth[t].wire_id
        first = first_ids.setdefault(gt_id, pred_id)
        consistent &= first == pred_id
        if gt_id in last_ids and last_ids[gt_id] != pred_id:
            switches += 1
        last_ids[gt_id] = pred_id
    return FrameScore(len(truth), len(predicted), distances, tips, correct, consistent, switches, crossing)


@dataclass
class CentrelineScores:
    """Accumulates :class:`FrameScore` over frames and sequences.

    Call :meth:`new_sequence` between sequences so identities restart. :meth:`summary` gives the
    figures over all frames and, prefixed ``crossing_``, over frames flagged ``crossing=True``.
    """

    gate_px: float = 10.0
    frames: list[FrameScore] = field(default_factory=list)
    _first_ids: dict[int, int] = field(default_factory=dict)
    _last_ids: dict[int, int] = field(default_factory=dict)

    def new_sequence(self) -> None:
        self._first_ids, self._last_ids = {}, {}

    def update(self, predicted: Sequence[Any], truth: Sequence[WireAnnotation], crossing: bool = False
               ) -> FrameScore:
        score = score_frame(predicted, truth, self.gate_px, crossing, self._first_ids, self._last_ids)
        self.frames.append(score)
        return score

    @staticmethod
    def _figures(frames: list[FrameScore]) -> dict[str, float]:
        n = len(frames)
        distances = [d for f in frames for d in f.distances]
        tips = [e for f in frames for e in f.tip_errors]
        switches = sum(f.id_switches for f in frames)
        nan = math.nan
        return {
            "frames": n,
            "mean_centreline_distance_px": float(np.mean(distances)) if distances else nan,
            "tip_error_px": float(np.mean(tips)) if tips else nan,
            "tip_error_median_px": float(np.median(tips)) if tips else nan,
            "assignment_accuracy": float(np.mean([f.assignment_correct for f in frames])) if n else nan,
            "id_consistency": float(np.mean([f.assignment_correct and f.id_consistent for f in frames]))
            if n else nan,
            "id_switches": switches,
            "id_switches_per_100_frames": 100.0 * switches / n if n else nan,
            "missed_wires": sum(f.n_truth - len(f.distances) for f in frames),
            "extra_wires": sum(max(f.n_predicted - len(f.distances), 0) for f in frames),
        }

    def summary(self) -> dict[str, float]:
        out = self._figures(self.frames)
        crossing = self._figures([f for f in self.frames if f.crossing])
        out.update({f"crossing_{k}": v for k, v in crossing.items()})
        return out
