"""Polyline geometry shared by anatomy and devices: splines, random walks, resampling, clipping.

Curves are float64 arrays of shape (N, 2) holding (x, y) pixel coordinates, x right, y down.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from guidewire_model.core.polyline import arc_length, normals, resample

__all__ = [
    "arc_length",
    "catmull_rom",
    "clip_to_image",
    "normals",
    "random_walk",
    "resample",
    "rotate_points",
    "smooth",
]


def smooth(points: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the point index; end points stay put so curves keep their anchors."""
    if sigma <= 0 or len(points) < 3:
        return points.copy()
    out = gaussian_filter1d(points, sigma, axis=0, mode="nearest")
    out[0], out[-1] = points[0], points[-1]
    return out


def catmull_rom(control: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Centripetal-free (uniform) Catmull-Rom spline through ``control`` points, resampled."""
    p = np.vstack([2 * control[0] - control[1], control, 2 * control[-1] - control[-2]])
    pieces = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        n = max(int(np.hypot(*(p2 - p1)) / spacing * 2), 2)
        t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
        pieces.append(
            0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                   + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        )
    pieces.append(control[-1:])
    return resample(np.vstack(pieces), spacing)


def random_walk(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    size: float,
    *,
    turn_std: float = 0.02,
    correlation: float = 25.0,
    target_heading: float | None = None,
    pull: float = 0.0,
    margin: float = 0.06,
) -> np.ndarray:
    """A smooth random curve of given length, steered away from the image border.

    Parameters
    ----------
    heading : float
        Initial direction in radians (0 = +x, pi/2 = +y, i.e. down).
    turn_std : float
        Standard deviation of the curvature (rad/px) before smoothing over ``correlation`` px.
    target_heading, pull : float
        The heading relaxes towards ``target_heading`` at ``pull`` rad/px (vessels follow the
        heart surface, which bends them consistently).
    margin : float
        Fraction of ``size`` near the border in which the curve turns back towards the centre.
    """
    step = 1.0
    n = max(int(length / step), 2)
    curvature = rng.normal(0.0, turn_std, n)
    curvature = gaussian_filter1d(curvature, correlation) * np.sqrt(correlation)
    pts = np.empty((n + 1, 2))
    pts[0] = start
    h = heading
    centre = np.array([size / 2.0, size / 2.0])
    edge = margin * size
    for i in range(n):
        h += curvature[i]
        if target_heading is not None:
            h += pull * np.sin(target_heading - h)
        p = pts[i]
        if min(p[0], p[1], size - 1 - p[0], size - 1 - p[1]) < edge:
            to_centre = np.arctan2(centre[1] - p[1], centre[0] - p[0])
            h += 0.08 * np.sin(to_centre - h)
        pts[i + 1] = p + step * np.array([np.cos(h), np.sin(h)])
    return pts


def rotate_points(points: np.ndarray, angle: float, centre: np.ndarray) -> np.ndarray:
    """Rotate (N, 2) points by ``angle`` radians about ``centre``."""
    c, s = np.cos(angle), np.sin(angle)
    rel = points - centre
    return np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], axis=1) + centre


def clip_to_image(points: np.ndarray, size: int, margin: float = 0.5) -> np.ndarray:
    """The longest run of consecutive points inside the frame (at least ``margin`` px from the edge).

    A wire that leaves the field of view is annotated only where it is visible; keeping the
    longest run keeps the proximal -> distal order. Returns an empty (0, 2) array if no point is inside.
    """
    lo, hi = margin - 0.5, size - 0.5 - margin
    inside = np.all((points >= lo) & (points <= hi), axis=1)
    if inside.all():
        return points
    if not inside.any():
        return np.zeros((0, 2))
    padded = np.concatenate([[False], inside, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[0::2], edges[1::2]
    best = int(np.argmax(ends - starts))
    return points[starts[best]: ends[best]]
