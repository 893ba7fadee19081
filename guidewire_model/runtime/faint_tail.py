"""Where a traced wire turns faint for good: its tip.

The guidewire map marks a wire's pixels but not where it ends: a traced line often runs on past
the tip onto something the mask joins to it -- the contrast-filled vessel the wire followed, a
vessel edge, a lead -- with the wire probability as high after the tip as before it. The frame
itself tells them apart: a guidewire's distal coil is radiopaque, the darkest stretch of the wire,
and what a line runs onto past the tip is fainter. So a line is cut where its contrast against its
surroundings drops for good: the sharpest step down after which the rest of the line stays faint
(its median at most ``ratio`` of the stretch before the step and of the line before it, and none
of it as dark as the stretch before the step).

Assumes wires darker than their surroundings with a tip at least as dark as their body, as PCI
guidewires are; it is a setting of the pipeline (``PostprocessSettings.faint_tail_ratio``, 0 =
off). No torch, no ROS: arrays in, :class:`~guidewire_model.core.wire.Wire` lists out.
"""

from __future__ import annotations

import bisect
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter1d, map_coordinates

from guidewire_model.core.polyline import arc_length, as_points, normals
from guidewire_model.core.wire import Wire

__all__ = ["cut_faint_tails", "faint_tail_start", "line_contrast"]


def line_contrast(image: np.ndarray, points: np.ndarray, offset_px: float = 5.0,
                  sigma_px: float = 2.0) -> np.ndarray:
    """How much darker a line is than its surroundings, point by point.

    Parameters
    ----------
    image : ndarray (H, W), float
        The frame, brighter where less attenuated (as displayed; a wire is dark).
    points : ndarray (N, 2)
        ``(x, y)`` of the line, about 1 px apart.
    offset_px : float
        The surroundings are sampled this far off the line on both sides, along its normal; the
        brighter side counts, so a structure beside the line on one side (the other wire at a
        crossing, a catheter) does not make it look faint.
    sigma_px : float
        Gaussian smoothing along the line (in points), 0 for none.

    Returns
    -------
    ndarray (N,), float64
        Brighter side minus the line, bilinear samples; outside the image the nearest pixel.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or ``points`` is not (N, 2) with N >= 2.
    """
    image = np.asarray(image)
    points = np.asarray(points, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"points must be (N, 2) with N >= 2, got shape {points.shape}")
    normal = normals(points)

    def sample(p: np.ndarray) -> np.ndarray:
        return map_coordinates(image, [p[:, 1], p[:, 0]], order=1, mode="nearest").astype(np.float64)

    side = np.maximum(sample(points + offset_px * normal), sample(points - offset_px * normal))
    contrast = side - sample(points)
    return gaussian_filter1d(contrast, sigma_px, mode="nearest") if sigma_px > 0 else contrast


def _median(ordered: list[float]) -> float:
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else 0.5 * (ordered[half - 1] + ordered[half])


def _percentile(ordered: list[float], q: float) -> float:
    """numpy's default (linear) percentile of a sorted list."""
    h = (len(ordered) - 1) * q / 100.0
    lo = int(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


def faint_tail_start(contrast: np.ndarray, arc: np.ndarray, ratio: float, window: int = 10,
                     min_tail_px: float = 8.0, max_tail_fraction: float = 0.5) -> int | None:
    """Index of the first point of a line's faint tail, or None if it has none.

    Parameters
    ----------
    contrast : ndarray (N,)
        :func:`line_contrast` of the line, proximal -> distal.
    arc : ndarray (N,)
        Arc length at each point (non-decreasing).
    ratio : float
        A tail from point p on is faint when its median is at most ``ratio`` times the median of
        the ``window`` points before p and times the median of all points before p, and its 90th
        percentile is below the former (nothing in it as dark as the wire just before).
    window : int
        Points before a candidate p that stand for the wire there.
    min_tail_px, max_tail_fraction : float
        A tail is at least this long, and at most this share of the line's length (a line whose
        dark stretch lies near its proximal end is more likely turned round or lying on a
        catheter than running on past its tip).

    Returns
    -------
    int or None
        Among the faint tails, the start p of the sharpest step down: the mean of the ``window``
        points before p minus the mean of the ``window`` points from p on (a step's edge, where a
        whole-tail statistic would be flat over several points); the line ends at p - 1.

    Raises
    ------
    ValueError
        If ``contrast`` and ``arc`` are not 1-D of one length, or ``window`` < 1.
    """
    contrast = np.asarray(contrast, dtype=np.float64)
    arc = np.asarray(arc, dtype=np.float64)
    if contrast.ndim != 1 or arc.shape != contrast.shape:
        raise ValueError(f"contrast and arc must be 1-D of one length, got shapes {contrast.shape} and {arc.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = len(contrast)
    tail = arc[-1] - arc
    candidates = np.flatnonzero((tail >= min_tail_px) & (tail <= max_tail_fraction * arc[-1])
                                & (np.arange(n) >= window))
    if len(candidates) == 0:
        return None
    first, last = int(candidates[0]), int(candidates[-1])  # a contiguous range: tail falls with p
    values = contrast.tolist()
    before = np.median(sliding_window_view(contrast, window), axis=1)  # [p - window]: points p-window..p-1
    # Running sorted lists give every prefix's and suffix's median in one pass each.
    prefix = sorted(values[:first])
    body = []
    for p in range(first, last + 1):
        body.append(_median(prefix))
        bisect.insort(prefix, values[p])
    suffix = sorted(values[last + 1:])
    after, dark = [0.0] * (last + 1 - first), [0.0] * (last + 1 - first)
    for p in range(last, first - 1, -1):
        bisect.insort(suffix, values[p])
        after[p - first], dark[p - first] = _median(suffix), _percentile(suffix, 90)
    total = np.concatenate([[0.0], np.cumsum(contrast)])
    best, best_step = None, -np.inf
    for p in range(first, last + 1):
        k = p - first
        wire = float(before[p - window])
        if after[k] > ratio * wire or after[k] > ratio * body[k] or dark[k] >= wire:
            continue
        end = min(p + window, n)
        step = (total[p] - total[p - window]) / window - (total[end] - total[p]) / (end - p)
        if step > best_step:
            best, best_step = p, step
    return best


def cut_faint_tails(lines: Sequence[Wire], image: np.ndarray, ratio: float, min_length_px: float = 0.0,
                    offset_px: float = 5.0) -> list[Wire]:
    """End each line before its faint tail (:func:`faint_tail_start`).

    Parameters
    ----------
    lines : sequence of Wire
        Ordered proximal -> distal; ids, ``frames_tracked`` and ``mean_probability`` are kept.
    image : ndarray (H, W), float
        The frame the lines were traced in, brighter where less attenuated.
    ratio : float
        As in :func:`faint_tail_start`, in (0, 1].
    min_length_px : float
        A cut that would leave a shorter line is not made (the line is kept whole), so a caller's
        minimum length still holds for what it publishes.
    offset_px : float
        As in :func:`line_contrast`.

    Returns
    -------
    list of Wire
        One per input line, in order; a line without a faint tail is returned as it is.

    Raises
    ------
    ValueError
        If ``ratio`` is not in (0, 1] or ``image`` is not 2-D.
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    out = []
    for line in lines:
        points = as_points(line)
        if len(points) < 2:
            out.append(line)
            continue
        arc = arc_length(points)
        start = faint_tail_start(line_contrast(image, points, offset_px), arc, ratio)
        if start is None or arc[start - 1] < min_length_px:
            out.append(line)
            continue
        out.append(Wire.from_points(points[:start], wire_id=line.wire_id, mean_probability=line.mean_probability,
                                    frames_tracked=line.frames_tracked))
    return out
