"""Scores of per-wire centrelines against ground truth: distance, tip error, instance and identity.

Also how a mask covers each true wire (:func:`wire_coverage`): a pixel score counts pixels, but a
tracer stops at a gap, so two masks with the same F1@2 can give very different lines.

Used by the centreline benchmark, the ROS demo, the bag evaluator and the docs. Predictions may be
plain (N, 2) point arrays or :class:`~guidewire_model.core.wire.Wire` objects (their ``wire_id`` is read
when present); ground truth is a list of
:class:`~guidewire_model.data.Wire`. All distances are in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from guidewire_model.core.assignment import gated_assignment
from guidewire_model.core.wire import UNTRACKED, Wire
from guidewire_model.core.polyline import (arc_length, as_points, closest_point_distances, mean_centreline_distance,
                                           resample, true_runs)
from guidewire_model.metrics.pixels import TOLERANCE_PX, distance_to

__all__ = [
    "DISTAL_PX",
    "GAP_PX",
    "MISSED_COVERAGE_BOUNDS",
    "TIP_FOUND_PX",
    "CentrelineScores",
    "CoverageScores",
    "FrameScore",
    "WireCoverage",
    "match_wires",
    "missed_by_coverage",
    "score_frame",
    "line_counts",
    "tip_error",
    "wire_coverage",
    "wires_cross",
]


#: A ground-truth tip counts as found when its matched published wire ends this close to it [px]:
#: the issue's bound on the demo's median tip error. Unlike that median, which covers only the
#: wires a model gets matched (so a model matching more, harder wires can score worse), the share
#: found counts every ground-truth wire, a missed one as not found.
TIP_FOUND_PX = 5.0

#: An uncovered stretch of a true wire at least this long [px] is a gap: longer than the mask's
#: own ragged edge, short enough that the tracer has to bridge it (or stops there).
GAP_PX = 4.0

#: The distal stretch before the tip [px] whose coverage is reported on its own: where a faint
#: wire is lost first, and what a line that stops short misses.
DISTAL_PX = 30.0


#: Bounds of the covered share that sort the true wires no published wire matched
#: (:func:`missed_by_coverage`): under the first the mask lacks most of the wire, from the second
#: on it holds nearly all of it and the loss lies after the mask (tracing, choice, tracking).
MISSED_COVERAGE_BOUNDS = (0.5, 0.9)


@dataclass(frozen=True)
class WireCoverage:
    """How a mask covers one true wire (see :func:`wire_coverage`); ``wire``: its index in the
    frame's truth."""

    covered: float
    distal_covered: float
    gaps: int
    wire: int


def wire_coverage(mask: np.ndarray, truth: Sequence[Any], tolerance_px: float = TOLERANCE_PX,
                  gap_px: float = GAP_PX, distal_px: float = DISTAL_PX) -> list[WireCoverage]:
    """How a mask covers each true wire of a frame: share covered, share of the tip's stretch, gaps.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool or integer
        Predicted wire mask; non-zero pixels are wire.
    truth : sequence of Wire or (N, 2) arrays
        True centrelines, (x, y) points ordered from the proximal end to the tip.
    tolerance_px : float
        A point of a true wire is covered when a mask pixel lies within this distance (the
        tolerance of F1@2).
    gap_px : float
        A run of uncovered points spanning at least this arc length is a gap.
    distal_px : float
        Length of the stretch before the tip whose covered share is ``distal_covered``.

    Returns
    -------
    list of WireCoverage
        One per true wire with points inside the image, in order: ``covered`` and
        ``distal_covered`` are shares of arc length in [0, 1] (1 px samples; points outside the
        image are left out, so for a wire whose tip lies outside, the distal stretch is the last
        one inside); ``gaps`` counts the uncovered runs of at least ``gap_px``; ``wire`` is the
        wire's index in ``truth``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    dist = distance_to(mask != 0)
    h, w = mask.shape
    out = []
    for index, wire in enumerate(truth):
        pts = resample(np.asarray(as_points(wire), np.float64), 1.0)
        s = arc_length(pts)
        ij = np.round(pts).astype(np.intp)
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
        if not inside.any():
            continue
        s, ij = s[inside], ij[inside]
        covered = dist[ij[:, 1], ij[:, 0]] <= tolerance_px
        distal = s >= s[-1] - distal_px
        runs = true_runs(~covered)
        gaps = int(np.count_nonzero(s[runs[:, 1] - 1] - s[runs[:, 0]] >= gap_px))
        out.append(WireCoverage(float(covered.mean()), float(covered[distal].mean()), gaps, index))
    return out


@dataclass
class CoverageScores:
    """Accumulates :func:`wire_coverage` over frames; :meth:`summary` gives the means."""

    wires: list[WireCoverage] = field(default_factory=list)

    def update(self, mask: np.ndarray, truth: Sequence[Any]) -> list[WireCoverage]:
        scores = wire_coverage(mask, truth)
        self.wires.extend(scores)
        return scores

    def summary(self) -> dict[str, float]:
        """``wires``; the means of ``covered`` and ``distal_covered``; ``gaps_per_wire``; the share
        of wires without a gap (``wires_without_gap``). NaN where no wire was counted."""
        n = len(self.wires)
        if not n:
            return {"wires": 0, "covered": math.nan, "distal_covered": math.nan, "gaps_per_wire": math.nan,
                    "wires_without_gap": math.nan}
        return {"wires": n,
                "covered": float(np.mean([c.covered for c in self.wires])),
                "distal_covered": float(np.mean([c.distal_covered for c in self.wires])),
                "gaps_per_wire": float(np.mean([c.gaps for c in self.wires])),
                "wires_without_gap": float(np.mean([c.gaps == 0 for c in self.wires]))}


def missed_by_coverage(frames: Sequence["FrameScore"], coverage: Sequence[Sequence[WireCoverage]]
                       ) -> dict[str, int]:
    """The true wires no published wire matched, counted by how much of each the mask covered.

    Whether a wire was lost in the mask (a model's matter) or after it (the tracer's path, the
    choice of lines, the tracker): a wire the mask covers nearly whole and no line matches was
    lost after the mask.

    Parameters
    ----------
    frames : sequence of FrameScore
        One per frame; ``matched`` names the true wires matched.
    coverage : sequence of lists of WireCoverage
        The same frames' :func:`wire_coverage`, in order.

    Returns
    -------
    dict
        Unmatched true wires whose covered share lies below the first of
        :data:`MISSED_COVERAGE_BOUNDS` (``mask_lacks``), between the two (``mask_partial``), and at
        the second or above (``mask_holds``: lost after the mask). A true wire with no point inside
        the image has no coverage and is not counted.

    Raises
    ------
    ValueError
        If the two sequences differ in length.
    """
    if len(frames) != len(coverage):
        raise ValueError(f"{len(frames)} frame scores but {len(coverage)} coverage lists")
    low, high = MISSED_COVERAGE_BOUNDS
    shares = [c.covered for score, wires in zip(frames, coverage) for c in wires if c.wire not in score.matched]
    return {"mask_lacks": sum(s < low for s in shares),
            "mask_partial": sum(low <= s < high for s in shares),
            "mask_holds": sum(s >= high for s in shares)}


def tip_error(predicted: Any, truth: Any) -> float:
    """Euclidean distance (px) between the last points (distal tips) of two ordered polylines."""
    return float(np.hypot(*(as_points(predicted)[-1] - as_points(truth)[-1])))


def wires_cross(wires: Sequence[Any], gap_px: float = 8.0, exclude_px: float = 30.0) -> bool:
    """Whether two wires cross or run within ``gap_px`` of each other beyond their first ``exclude_px``.

    The "crossing frame" test of the demo and the bag evaluator, applied to ground-truth
    centrelines. Both wires leave the guiding catheter together, so their proximal ends always
    touch: the first ``exclude_px`` of arc length of each wire are left out.

    Parameters
    ----------
    wires : sequence
        Items with ``points`` ((N, 2) x/y px, proximal -> distal), e.g. Wire.
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

    Among the pairs whose :func:`mean_centreline_distance` is at most ``gate_px``, the most pairs
    with the least summed distance (:func:`~guidewire_model.core.assignment.gated_assignment`).
    Returns ``(truth_index, predicted_index, distance)`` sorted by truth index.
    """
    if not predicted or not truth:
        return []
    cost = np.array([[mean_centreline_distance(t, p) for p in predicted] for t in truth])
    return gated_assignment(cost, gate_px)


@dataclass(frozen=True)
class FrameScore:
    """Scores of one frame.

    ``distances`` and ``tip_errors`` hold one entry per matched ground-truth wire, whose indices in
    the frame's truth are ``matched`` (in the same order).
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
    matched: tuple[int, ...] = ()


def score_frame(predicted: Sequence[Any], truth: Sequence[Wire], gate_px: float = 10.0,
                crossing: bool = False, first_ids: dict[int, int] | None = None,
                last_ids: dict[int, int] | None = None) -> FrameScore:
    """Score one frame; updates ``first_ids`` / ``last_ids`` (truth id -> predicted id) in place.

    Predicted ids are read from ``wire_id`` (untracked wires and plain arrays have none); an identity switch is a
    matched ground-truth wire whose predicted id differs from the one it had when last matched.
    """
    matches = match_wires(predicted, truth, gate_px)
    distances = tuple(d for _, _, d in matches)
    tips = tuple(tip_error(predicted[p], truth[t]) for t, p, _ in matches)
    correct = len(matches) == len(truth)
    consistent, switches = True, 0
    for t, p, _ in matches:
        pred_id = getattr(predicted[p], "wire_id", UNTRACKED)
        if pred_id == UNTRACKED or first_ids is None or last_ids is None:
            continue
        gt_id = truth[t].wire_id
        first = first_ids.setdefault(gt_id, pred_id)
        consistent &= first == pred_id
        if gt_id in last_ids and last_ids[gt_id] != pred_id:
            switches += 1
        last_ids[gt_id] = pred_id
    return FrameScore(len(truth), len(predicted), distances, tips, correct, consistent, switches, crossing,
                      tuple(t for t, _, _ in matches))


def line_counts(frames: Sequence[FrameScore]) -> dict[str, int]:
    """The counts the centreline figures of some frames are ratios of.

    Returns
    -------
    dict
        ``frames``; ``told_apart``, frames whose every true wire got its own published wire;
        ``truth_wires``; ``tips_found``, true wires whose matched wire ends within
        :data:`TIP_FOUND_PX` of the tip; ``id_switches``; ``missed_wires``, true wires matched to
        none; ``extra_wires``, published wires matching none.
    """
    return {"frames": len(frames),
            "told_apart": sum(f.assignment_correct for f in frames),
            "truth_wires": sum(f.n_truth for f in frames),
            "tips_found": sum(e <= TIP_FOUND_PX for f in frames for e in f.tip_errors),
            "id_switches": sum(f.id_switches for f in frames),
            "missed_wires": sum(f.n_truth - len(f.distances) for f in frames),
            "extra_wires": sum(max(f.n_predicted - len(f.distances), 0) for f in frames)}


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

    def update(self, predicted: Sequence[Any], truth: Sequence[Wire], crossing: bool = False
               ) -> FrameScore:
        score = score_frame(predicted, truth, self.gate_px, crossing, self._first_ids, self._last_ids)
        self.frames.append(score)
        return score

    @staticmethod
    def _figures(frames: list[FrameScore]) -> dict[str, float]:
        c = line_counts(frames)
        n = c["frames"]
        distances = [d for f in frames for d in f.distances]
        tips = [e for f in frames for e in f.tip_errors]
        nan = math.nan
        return {
            "frames": n,
            "mean_centreline_distance_px": float(np.mean(distances)) if distances else nan,
            "tip_error_px": float(np.mean(tips)) if tips else nan,
            "tip_error_median_px": float(np.median(tips)) if tips else nan,
            "tips_found": c["tips_found"] / c["truth_wires"] if c["truth_wires"] else nan,
            "assignment_accuracy": c["told_apart"] / n if n else nan,
            "id_consistency": float(np.mean([f.assignment_correct and f.id_consistent for f in frames]))
            if n else nan,
            "id_switches": c["id_switches"],
            "id_switches_per_100_frames": 100.0 * c["id_switches"] / n if n else nan,
            "missed_wires": c["missed_wires"],
            "extra_wires": c["extra_wires"],
        }

    def summary(self) -> dict[str, float]:
        """Figures over all frames and, prefixed ``crossing_``, over the crossing frames.

        Distances and tip errors (mean and median) cover the matched wires; ``tips_found`` is the
        share of all ground-truth wires whose matched wire ends within :data:`TIP_FOUND_PX` of the
        tip; NaN where nothing was counted.
        """
        out = self._figures(self.frames)
        crossing = self._figures([f for f in self.frames if f.crossing])
        out.update({f"crossing_{k}": v for k, v in crossing.items()})
        return out
