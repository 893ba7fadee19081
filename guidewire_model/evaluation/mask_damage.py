"""Ground-truth masks damaged the way a segmentation model damages them: gaps, spurs, blobs.

The centreline stage is judged apart from the model by feeding it the generator's ground-truth
masks (an *oracle*). A perfect mask says nothing about robustness, so :func:`damage_mask` adds the
faults seen in model masks, each at a known place: gaps cut across a wire, short spurs growing off
it, and false-positive blobs and streaks away from it. The wires' ground-truth centrelines stay the
answer. Used by :mod:`guidewire_model.evaluation.centreline_bench` (``--damaged``) and the centreline tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.core.wire import Wire
from guidewire_model.core.polyline import arc_length

__all__ = ["MaskDamage", "damage_mask"]


@dataclass(frozen=True)
class MaskDamage:
    """How much damage :func:`damage_mask` does; lengths in pixels.

    Attributes
    ----------
    gaps_per_wire : int
        Gaps cut across each wire, at random places in the middle 10-90 % of its arc.
    gap_px : (float, float)
        Range of a gap's length along the wire.
    spurs_per_wire : int
        Side branches drawn off each wire, 35-90 degrees to it, 1-2 px thick.
    spur_px : (float, float)
        Range of a spur's length.
    blobs : int
        Filled ellipses placed at least ``clearance_px`` from every wire.
    blob_radius_px : (float, float)
        Range of an ellipse's semi-axes.
    streaks : int
        Short straight false-positive lines (2 px thick) placed like the blobs.
    streak_px : (float, float)
        Range of a streak's length.
    clearance_px : float
        Least distance of a blob or streak from a wire's centreline.
    """

    gaps_per_wire: int = 1
    gap_px: tuple[float, float] = (3.0, 8.0)
    spurs_per_wire: int = 1
    spur_px: tuple[float, float] = (5.0, 11.0)
    blobs: int = 3
    blob_radius_px: tuple[float, float] = (3.0, 9.0)
    streaks: int = 2
    streak_px: tuple[float, float] = (8.0, 16.0)
    clearance_px: float = 15.0


def _point_at(points: np.ndarray, s: np.ndarray, at: float) -> tuple[np.ndarray, np.ndarray]:
    """Point and unit tangent of a polyline at arc length ``at``."""
    x, y = np.interp(at, s, points[:, 0]), np.interp(at, s, points[:, 1])
    ahead = min(at + 2.0, s[-1])
    behind = max(at - 2.0, 0.0)
    d = np.array([np.interp(ahead, s, points[:, 0]) - np.interp(behind, s, points[:, 0]),
                  np.interp(ahead, s, points[:, 1]) - np.interp(behind, s, points[:, 1])])
    return np.array([x, y]), d / max(float(np.hypot(*d)), 1e-9)


def _polyline_px(points: np.ndarray) -> np.ndarray:
    return np.round(points).astype(np.int32).reshape(-1, 1, 2)


def damage_mask(mask: np.ndarray, wires: Sequence[Wire], rng: np.random.Generator,
                damage: MaskDamage = MaskDamage()) -> np.ndarray:
    """A copy of ``mask`` with gaps and spurs on the wires and false-positive blobs and streaks.

    Parameters
    ----------
    mask : ndarray, (H, W), bool or integer
        Ground-truth wire mask (non-zero = wire).
    wires : sequence of Wire
        The wires' ground-truth centrelines (gaps and spurs are placed on them).
    rng : numpy.random.Generator
        Source of every random choice (same seed, same damage).
    damage : MaskDamage
        How much of each fault.

    Returns
    -------
    ndarray, (H, W), uint8 in {0, 1}

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (H, W) array, got shape {mask.shape}")
    out = (mask != 0).astype(np.uint8)
    h, w = out.shape
    # Wire half-width from the distance transform: a gap must cut the whole width.
    dist = cv2.distanceTransform(out, cv2.DIST_L2, 3)
    for wire in wires:
        pts = np.asarray(wire.points, dtype=np.float64)
        if len(pts) < 2:
            continue
        s = arc_length(pts)
        if s[-1] < 30.0:
            continue
        for _ in range(damage.spurs_per_wire):
            p, t = _point_at(pts, s, rng.uniform(0.15, 0.85) * s[-1])
            angle = np.radians(rng.uniform(35.0, 90.0)) * rng.choice((-1.0, 1.0))
            c, sn = np.cos(angle), np.sin(angle)
            direction = np.array([c * t[0] - sn * t[1], sn * t[0] + c * t[1]])
            end = p + direction * rng.uniform(*damage.spur_px)
            cv2.line(out, tuple(np.round(p).astype(int)), tuple(np.round(end).astype(int)), 1,
                     int(rng.integers(1, 3)))
        for _ in range(damage.gaps_per_wire):
            length = rng.uniform(*damage.gap_px)
            start = rng.uniform(0.1, 0.9) * s[-1]
            keep = (s >= start) & (s <= start + length)
            piece = pts[keep]
            if len(piece) == 0:
                continue
            ij = np.clip(np.round(piece).astype(int), 0, [w - 1, h - 1])
            half = float(dist[ij[:, 1], ij[:, 0]].max())
            cv2.polylines(out, [_polyline_px(piece)], False, 0, int(np.ceil(2 * half + 3)))
    # False positives keep clear of the wires so they cannot be mistaken for a part of one.
    centre = np.ones((h, w), np.uint8)
    for wire in wires:
        cv2.polylines(centre, [_polyline_px(np.asarray(wire.points))], False, 0, 1)
    clear = cv2.distanceTransform(centre, cv2.DIST_L2, 3) > damage.clearance_px
    free = np.argwhere(clear)
    if len(free) == 0:
        return out
    for _ in range(damage.blobs):
        y, x = free[rng.integers(len(free))]
        axes = tuple(int(round(a)) for a in rng.uniform(*damage.blob_radius_px, size=2))
        cv2.ellipse(out, (int(x), int(y)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    for _ in range(damage.streaks):
        y, x = free[rng.integers(len(free))]
        angle = rng.uniform(0, np.pi)
        d = np.array([np.cos(angle), np.sin(angle)]) * rng.uniform(*damage.streak_px) / 2
        a, b = np.array([x, y]) - d, np.array([x, y]) + d
        cv2.line(out, tuple(np.round(a).astype(int)), tuple(np.round(b).astype(int)), 1, 2)
    return out
