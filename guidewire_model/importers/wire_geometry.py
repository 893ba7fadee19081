"""Clicked wire points -> the curve, its pixels and its direction, by the rules stated here.

**Curve** (:func:`fit_spline`). As in the paper, the annotator clicks points along the wire and a
spline through them is the wire: an interpolating parametric spline (``scipy.interpolate.splprep``,
smoothing 0, parameter = cumulative chord length, cubic from 4 points, quadratic for 3, the straight
segment for 2), sampled about every 1/8 px and resampled to 1 px steps. Consecutive repeated clicks
are dropped first; fewer than two distinct points is an error.

**Pixels** (:func:`draw_curve`): a pixel is wire when its centre lies within ``width / 2`` of the
curve (``width`` default :data:`WIRE_WIDTH_PX`; round ends). Widths of at least
:data:`MIN_WIDTH_PX` keep a diagonal wire 8-connected.

**Direction** (:func:`orient`), proximal (catheter side) -> distal tip, in this order of precedence:

1. with a catheter annotated in the frame, the end nearer the catheter is proximal;
2. else the end nearer the image border is proximal (the wire enters the field of view from the
   catheter, outside or at its edge, while the tip lies inside);
3. ends equally near (within 1 px), or ``as_drawn``: the annotator's click order stands.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import splev, splprep

from guidewire_model.runtime.centreline import extract_centrelines
from guidewire_model.core.polyline import arc_length, border_distance, resample
from guidewire_model.importers.errors import InputError

__all__ = ["CATHETER_WIDTH_PX", "MIN_WIDTH_PX", "WIRE_WIDTH_PX", "area_centreline", "draw_curve", "fill_polygon",
           "fit_spline", "orient"]

#: Default drawn width of a guidewire [px]: the synthetic data's medium wires are 1.8-3.2 px wide.
WIRE_WIDTH_PX = 3.0
#: Default drawn width of a catheter polyline [px] (a 6F guiding catheter at ~0.25 mm/px).
CATHETER_WIDTH_PX = 9.0
#: Narrowest width accepted: pixel centres within 0.75 px of a diagonal line touch at their corners.
MIN_WIDTH_PX = 1.5

_SUBSAMPLE = 8  # spline samples per pixel of chord before resampling
_SHIFT = 4  # cv2 fractional bits: 1/16 px


def fit_spline(points: np.ndarray, where: str) -> np.ndarray:
    """The interpolating spline through clicked points, as (N, 2) points 1 px apart (ends kept).

    Raises
    ------
    InputError
        Naming ``where``, if fewer than two distinct points remain or a point is not finite.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise InputError(f"{where}: a point is not a finite number")
    if len(pts):
        keep = np.concatenate([[True], np.hypot(*np.diff(pts, axis=0).T) > 1e-6])
        pts = pts[keep]
    if len(pts) < 2:
        raise InputError(f"{where}: a wire polyline needs at least two distinct points, it has {len(pts)}; "
                         "redraw it along the wire or delete it")
    chord = arc_length(pts)
    if len(pts) == 2:
        return resample(pts, 1.0)
    degree = min(3, len(pts) - 1)
    tck, _ = splprep([pts[:, 0], pts[:, 1]], u=chord / chord[-1], k=degree, s=0)
    u = np.linspace(0.0, 1.0, max(int(np.ceil(chord[-1] * _SUBSAMPLE)), 2))
    dense = np.stack(splev(u, tck), axis=1)
    return resample(dense, 1.0)


def draw_curve(canvas: np.ndarray, points: np.ndarray, width: float, value: int = 1) -> np.ndarray:
    """Set every pixel whose centre lies within ``width / 2`` of the curve; in place, returns ``canvas``.

    Exact for the polyline through ``points`` (OpenCV's thick lines are wider than their thickness
    and equal for thicknesses 3 and 4). Each pixel near a segment is tested against that segment.
    """
    radius = float(width) / 2.0
    pts = resample(np.asarray(points, dtype=np.float64).reshape(-1, 2), 1.0)  # segments of at most ~1 px
    a = pts[:-1] if len(pts) > 1 else pts
    b = pts[1:] if len(pts) > 1 else pts
    # Candidate pixels: a square around each segment's start large enough to hold the whole stroke.
    reach = int(np.ceil(radius + 1.0))
    offsets = np.stack(np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)), -1).reshape(-1, 2)
    cand = np.round(a)[:, None, :] + offsets[None, :, :]  # (segments, K, 2) pixel centres (x, y)
    ab = (b - a)[:, None, :]
    length2 = np.maximum((ab ** 2).sum(-1), 1e-12)
    t = np.clip(((cand - a[:, None, :]) * ab).sum(-1) / length2, 0.0, 1.0)
    nearest = a[:, None, :] + t[..., None] * ab
    inside = np.hypot(*(cand - nearest).transpose(2, 0, 1)) <= radius + 1e-9
    h, w = canvas.shape[:2]
    xy = cand[inside].astype(np.int64)
    xy = xy[(xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)]
    canvas[xy[:, 1], xy[:, 0]] = value
    return canvas


def fill_polygon(canvas: np.ndarray, points: np.ndarray, value: int = 1) -> np.ndarray:
    """Fill a closed outline into ``canvas`` (in place) and return it."""
    poly = np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(canvas, [poly], int(value), cv2.LINE_8, shift=_SHIFT)
    return canvas


def orient(points: np.ndarray, shape: tuple[int, int], catheter: np.ndarray | None = None,
           as_drawn: bool = False) -> np.ndarray:
    """``points`` ordered proximal -> distal by the rule of the module docstring.

    Parameters
    ----------
    points : ndarray, (N, 2)
        The wire's curve in drawing order.
    shape : (H, W)
        Frame size.
    catheter : ndarray, (H, W), or None
        Non-zero where a catheter is annotated in this frame.
    as_drawn : bool
        Keep the drawing order (annotators instructed to click from the catheter to the tip).
    """
    if as_drawn or len(points) < 2:
        return points
    first, last = points[0], points[-1]
    if catheter is not None and catheter.any():
        # Distance of every pixel to the nearest catheter pixel, read at the two ends.
        dist = cv2.distanceTransform((catheter == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        h, w = shape
        at = [float(dist[int(np.clip(round(p[1]), 0, h - 1)), int(np.clip(round(p[0]), 0, w - 1))])
              for p in (first, last)]
    else:
        at = list(border_distance(np.stack([first, last]), shape))
    if abs(at[0] - at[1]) < 1.0:
        return points
    return points if at[0] < at[1] else points[::-1].copy()


def area_centreline(area: np.ndarray) -> np.ndarray | None:
    """The centreline of one wire annotated as an area (polygon or mask), or None if too small.

    The project's own skeleton tracer (:func:`guidewire_model.runtime.centreline.extract_centrelines`, one
    wire, no length limit, no corner cut: the area is one wire by its annotation, so a sharp bend
    in it is not two wires meeting); its direction is then set by :func:`orient`.
    """
    lines = extract_centrelines(area.astype(np.uint8), max_wires=1, min_length_px=0.0, corner_deg=180.0)
    return np.array(lines[0].points) if lines and len(lines[0].points) >= 2 else None
