"""Where the wires end: peaks of a tip heatmap, and traced lines cut or turned at them.

The guidewire map marks a wire's pixels but not where it ends: a traced line often runs on past
the true tip onto something else the mask joins to it (a lead, a vessel edge, the other wire),
with the wire probability as high after the tip as before it. A network with a tip channel
(``model.tip_head``) marks the tips themselves; here its peaks end the lines:

* a peak beside a line's interior cuts it there, and the piece kept is the one ``keep`` names;
* a peak beside one end only makes that end the tip (turns the line round if needed).

No torch, no ROS: arrays in, :class:`~guidewire_model.core.wire.Wire` lists out.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from guidewire_model.core.polyline import arc_length, as_points
from guidewire_model.core.wire import Wire

__all__ = ["cut_at_tips", "tip_peaks"]


def tip_peaks(tip_map: np.ndarray, threshold: float, valid: np.ndarray | None = None,
              min_distance_px: int = 2) -> np.ndarray:
    """Local maxima of a tip heatmap at or above ``threshold``.

    Parameters
    ----------
    tip_map : ndarray (H, W), float
        Tip probability.
    threshold : float
        Lowest peak value kept.
    valid : ndarray (H, W) bool, optional
        Where the frame shows the scene (a field of view); peaks outside it are dropped.
    min_distance_px : int
        A peak is the maximum of its ``2 * min_distance_px + 1`` square.

    Returns
    -------
    ndarray, shape (K, 2), float64
        ``(x, y)`` of each peak, strongest first.

    Raises
    ------
    ValueError
        If ``tip_map`` is not 2-D, ``valid`` has another shape or ``min_distance_px`` < 1.
    """
    from scipy.ndimage import maximum_filter

    tip_map = np.asarray(tip_map)
    if tip_map.ndim != 2:
        raise ValueError(f"tip_map must be 2-D, got shape {tip_map.shape}")
    if valid is not None and np.shape(valid) != tip_map.shape:
        raise ValueError(f"valid {np.shape(valid)} must have the tip map's shape {tip_map.shape}")
    if min_distance_px < 1:
        raise ValueError(f"min_distance_px must be >= 1, got {min_distance_px}")
    peak = (tip_map == maximum_filter(tip_map, size=2 * int(min_distance_px) + 1)) & (tip_map >= threshold)
    if valid is not None:
        peak &= np.asarray(valid, bool)
    rows, cols = np.nonzero(peak)
    order = np.argsort(-tip_map[rows, cols], kind="stable")
    return np.stack([cols[order], rows[order]], axis=1).astype(np.float64)


def cut_at_tips(lines: Sequence[Wire], peaks: np.ndarray, near_px: float = 3.0, end_px: float = 10.0,
                keep: Literal["proximal", "longest"] = "proximal") -> list[Wire]:
    """End traced lines at tip peaks.

    Parameters
    ----------
    lines : sequence of Wire
        Ordered proximal -> distal as traced (untracked; their ids are kept).
    peaks : ndarray (K, 2)
        ``(x, y)`` of tip peaks (:func:`tip_peaks`).
    near_px : float
        A peak belongs to a line when a point of it lies within this distance.
    end_px : float
        Within this arc length of an end, a peak is at that end (the line may be turned round);
        beyond it, in the interior (the line is cut).
    keep : {"proximal", "longest"}
        Which piece of a cut line is kept: the one from the proximal end to the first interior
        peak, or the longest between consecutive cuts (its tip at a cut).

    Returns
    -------
    list of Wire
        One per input line, in order; a line without a peak near it is returned as it is. The
        wires' ``mean_probability`` is the input line's.

    Raises
    ------
    ValueError
        If ``keep`` is unknown or ``peaks`` is not (K, 2).
    """
    if keep not in ("proximal", "longest"):
        raise ValueError(f"keep must be 'proximal' or 'longest', got {keep!r}")
    peaks = np.asarray(peaks, dtype=np.float64)
    if peaks.ndim != 2 or peaks.shape[1] != 2:
        raise ValueError(f"peaks must be (K, 2) (x, y), got shape {peaks.shape}")
    out = []
    for line in lines:
        points = as_points(line)
        if len(peaks) == 0 or len(points) < 2:
            out.append(line)
            continue
        distance = np.hypot(points[:, None, 0] - peaks[None, :, 0], points[:, None, 1] - peaks[None, :, 1])
        at = np.argmin(distance, axis=0)[distance.min(axis=0) <= near_px]
        if len(at) == 0:
            out.append(line)
            continue
        s = arc_length(points)
        interior = sorted({int(k) for k in at if end_px <= s[k] <= s[-1] - end_px})
        if not interior:
            at_start = bool(np.any(s[at] < end_px))
            at_end = bool(np.any(s[at] > s[-1] - end_px))
            out.append(line.reversed() if at_start and not at_end else line)
            continue
        if keep == "proximal":
            piece = points[: interior[0] + 1]
        else:
            cuts = [0, *interior, len(points) - 1]
            i = max(range(len(cuts) - 1), key=lambda j: s[cuts[j + 1]] - s[cuts[j]])
            piece = points[cuts[i]: cuts[i + 1] + 1]
            if cuts[i] in interior and cuts[i + 1] not in interior:
                piece = piece[::-1]  # its only cut is at its start: that is the tip
        out.append(Wire.from_points(piece, wire_id=line.wire_id, mean_probability=line.mean_probability,
                                    frames_tracked=line.frames_tracked))
    return out
