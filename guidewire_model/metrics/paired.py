"""Is one model better than another on the same frames? A paired bootstrap of their difference.

Two models scored on the same frames differ by an amount that depends on which frames were drawn:
validation and test sets of a few dozen synthetic scenes, or a hospital's handful of patients, move
a model's F1 by more than most changes of a recipe do (docs/accuracy.md, "How sure a comparison
is"). The difference of two models *on the same frames* moves much less, and that is what decides
between them. This module resamples the independent units (sequences: a patient's run, a synthetic
scene; frames only where nothing groups them) with replacement, sums each model's counts over the
drawn units and recomputes both scores, so the interval reflects the data's spread and keeps the
pairing (Efron & Tibshirani 1993, ch. 13; the percentile interval).

Scores are recomputed from summed counts, exactly as the reports compute them
(:class:`~guidewire_model.metrics.pixels.PixelCounts`, :class:`~guidewire_model.metrics.pixels.ToleranceCounts`;
wire coverage as a mean over the pooled wires, as
:meth:`~guidewire_model.metrics.wires.CoverageScores.summary`; the centreline figures over the
pooled frames and wires, as :meth:`~guidewire_model.metrics.wires.CentrelineScores.summary`), never
averaged over units. Tip error and centreline distance are compared over the true wires *both*
variants matched in the same frame: over each variant's own matches, a variant that matches more,
harder wires looks worse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from guidewire_model.metrics.pixels import AccuracyCounts
from guidewire_model.metrics.wires import FrameScore, WireCoverage, line_counts

__all__ = ["BOOTSTRAP_RESAMPLES", "CONFIDENCE", "MIN_SEQUENCE_UNITS", "PairedDifference", "compare_frames",
           "paired_bootstrap", "paired_coverage", "paired_lines", "resampling_units"]

#: Resamples of the units: the usual count for the tails of a 95 % percentile interval.
BOOTSTRAP_RESAMPLES = 2000

#: Coverage of the reported interval.
CONFIDENCE = 0.95

#: Fewer sequences than this and the frames are resampled instead: a percentile interval over
#: a handful of units is too coarse to read. Frames of one sequence are not independent, so an
#: interval over them is too narrow, and the reports say so.
MIN_SEQUENCE_UNITS = 5


@dataclass(frozen=True)
class PairedDifference:
    """One score of two models on the same units, and their difference ``first - second``.

    Attributes
    ----------
    first, second : float
        Each model's score over all units.
    difference : float
        ``first - second`` over all units.
    low, high : float
        Percentile interval of the difference over the resamples, at ``confidence``.
    first_ahead : float
        Share of resamples in which the first model scores higher (ties count half); for a score
        where lower is better (gaps a wire) that is the share in which it is behind.
    """

    first: float
    second: float
    difference: float
    low: float
    high: float
    first_ahead: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _strict_f1(counts: np.ndarray) -> np.ndarray:
    """F1 of ``(..., 3)`` arrays of (tp, fp, fn), 1.0 where nothing is predicted or true
    (:attr:`PixelCounts.f1`)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    num, den = 2.0 * tp, 2.0 * tp + fp + fn
    return np.divide(num, den, out=np.ones_like(num), where=den > 0)


def _tolerance_f1(counts: np.ndarray) -> np.ndarray:
    """F1@d of ``(..., 4)`` arrays of (pred, pred_near, skeleton, skeleton_hit)
    (:attr:`ToleranceCounts.f1`)."""
    pred, near, skeleton, hit = (counts[..., i].astype(np.float64) for i in range(4))
    p = np.divide(near, pred, out=np.ones_like(near), where=pred > 0)
    r = np.divide(hit, skeleton, out=np.ones_like(hit), where=skeleton > 0)
    s = p + r
    return np.divide(2.0 * p * r, s, out=np.zeros_like(s), where=s > 0)


def _arrays(units: Sequence[AccuracyCounts]) -> tuple[np.ndarray, np.ndarray]:
    strict = np.array([[u.pixel.tp, u.pixel.fp, u.pixel.fn] for u in units], dtype=np.float64).reshape(-1, 3)
    tol = np.array([[u.tolerance.pred, u.tolerance.pred_near, u.tolerance.skeleton, u.tolerance.skeleton_hit]
                    for u in units], dtype=np.float64).reshape(-1, 4)
    return strict, tol


def paired_bootstrap(
    first: Sequence[AccuracyCounts],
    second: Sequence[AccuracyCounts],
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, PairedDifference]:
    """Strict F1 and F1@d of two models on the same units, with a paired bootstrap of their difference.

    Parameters
    ----------
    first, second : sequence of AccuracyCounts
        Each model's counts per unit, in the same unit order (unit ``i`` of both is the same
        sequence or frame).
    resamples : int
        Bootstrap resamples (each draws ``len(first)`` units with replacement).
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the resampling, so a report can be reproduced.

    Returns
    -------
    dict
        ``"f1"`` (strict) and ``"tolerance_f1"``: :class:`PairedDifference` each.

    Raises
    ------
    ValueError
        If the two sequences differ in length or are empty, their tolerances differ, ``resamples``
        is below 1 or ``confidence`` is outside (0, 1).
    """
    _check(len(first), len(second), resamples, confidence)
    if {u.tolerance_px for u in first} | {u.tolerance_px for u in second} != {first[0].tolerance_px}:
        raise ValueError("paired units must share one tolerance")
    draws = _draws(len(first), resamples, seed)
    a_strict, a_tol = _arrays(first)
    b_strict, b_tol = _arrays(second)
    return {"f1": _difference(a_strict, b_strict, _strict_f1, draws, confidence),
            "tolerance_f1": _difference(a_tol, b_tol, _tolerance_f1, draws, confidence)}


def paired_coverage(
    first: Sequence[Sequence[WireCoverage]],
    second: Sequence[Sequence[WireCoverage]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, PairedDifference] | None:
    """Wire coverage of two models on the same units, with a paired bootstrap of their difference.

    Each resample pools the wires of the drawn units, as
    :meth:`~guidewire_model.metrics.wires.CoverageScores.summary` pools all wires, and takes the
    means over them.

    Parameters
    ----------
    first, second : sequence of sequence of WireCoverage
        Each model's coverage of every true wire of a unit (:func:`~guidewire_model.metrics.wires.wire_coverage`),
        in the same unit order; the same wires in both (they are the truth's).
    resamples, confidence, seed
        As :func:`paired_bootstrap`.

    Returns
    -------
    dict or None
        ``"covered"``, ``"distal_covered"`` and ``"gaps_per_wire"``: :class:`PairedDifference`
        each; None when no unit has a wire.

    Raises
    ------
    ValueError
        If the sequences differ in length or are empty, a unit has a different number of wires
        in the two, ``resamples`` is below 1 or ``confidence`` is outside (0, 1).
    """
    _check(len(first), len(second), resamples, confidence)
    if any(len(a) != len(b) for a, b in zip(first, second)):
        raise ValueError("paired units must hold the same wires in both")
    # Units without a wire add nothing to a mean over wires; a resample of only such units has none.
    kept = [(a, b) for a, b in zip(first, second) if a]
    if not kept:
        return None
    draws = _draws(len(kept), resamples, seed)

    def sums(units: Sequence[Sequence[WireCoverage]]) -> np.ndarray:
        return np.array([[sum(w.covered for w in u), sum(w.distal_covered for w in u), sum(w.gaps for w in u), len(u)]
                         for u in units], dtype=np.float64)

    a, b = sums([u for u, _ in kept]), sums([u for _, u in kept])
    return {key: _difference(a[:, [i, 3]], b[:, [i, 3]], _mean, draws, confidence)
            for i, key in enumerate(("covered", "distal_covered", "gaps_per_wire"))}


def resampling_units(sequences: Sequence[object]) -> tuple[str, list[list[int]]]:
    """The units a paired bootstrap resamples, from the sequence each frame belongs to.

    Parameters
    ----------
    sequences : sequence
        The sequence (any hashable label) of every frame, in frame order.

    Returns
    -------
    unit : str
        ``"sequence"`` when there are at least :data:`MIN_SEQUENCE_UNITS` sequences, else ``"frame"``.
    groups : list of list of int
        The frame indices of each unit, units in order of first appearance.
    """
    unit = "sequence" if len(set(sequences)) >= MIN_SEQUENCE_UNITS else "frame"
    groups: dict[object, list[int]] = {}
    for i, label in enumerate(sequences):
        groups.setdefault(label if unit == "sequence" else i, []).append(i)
    return unit, list(groups.values())


#: The centreline figures compared by :func:`paired_lines`, each a ratio of :func:`line_counts`
#: summed over units: name -> (numerator, denominator, scale), from all frames or (``crossing_``)
#: the crossing frames only, as :meth:`~guidewire_model.metrics.wires.CentrelineScores.summary`
#: computes them.
_LINE_RATIOS = {
    "assignment_accuracy": ("told_apart", "frames", 1.0),
    "crossing_assignment_accuracy": ("told_apart", "frames", 1.0),
    "tips_found": ("tips_found", "truth_wires", 1.0),
    "id_switches_per_100_frames": ("id_switches", "frames", 100.0),
    "missed_wires_per_frame": ("missed_wires", "frames", 1.0),
    "extra_wires_per_frame": ("extra_wires", "frames", 1.0),
}


def paired_lines(
    first: Sequence[Sequence[FrameScore]],
    second: Sequence[Sequence[FrameScore]],
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict[str, PairedDifference | int]:
    """Centreline and identity figures of two variants on the same frames, with a paired bootstrap.

    Parameters
    ----------
    first, second : sequence of sequence of FrameScore
        Each variant's frame scores (:func:`~guidewire_model.metrics.wires.score_frame`) grouped by
        unit, in the same unit and frame order; the same true wires in both.
    resamples, confidence, seed
        As :func:`paired_bootstrap`.

    Returns
    -------
    dict
        :class:`PairedDifference` of ``assignment_accuracy`` (the wires told apart),
        ``crossing_assignment_accuracy`` (only when some frame crosses), ``tips_found``,
        ``id_switches_per_100_frames``, ``missed_wires_per_frame`` and ``extra_wires_per_frame``,
        named and computed as :meth:`~guidewire_model.metrics.wires.CentrelineScores.summary`
        does; and, over the true wires both variants matched in the same frame
        (``paired_wires``, an int), ``tip_error_median_px`` and ``mean_centreline_distance_px``
        (absent when no wire was matched by both). A resample without crossing frames is left
        out of that figure's interval. For figures where lower is better, ``first_ahead`` is the
        share of resamples in which the first variant is *higher*.

    Raises
    ------
    ValueError
        If the sequences differ in length or are empty, a unit's frames differ in number or in
        true wires between the two, ``resamples`` is below 1 or ``confidence`` is outside (0, 1).
    """
    _check(len(first), len(second), resamples, confidence)
    for a, b in zip(first, second):
        if len(a) != len(b) or any(fa.n_truth != fb.n_truth or fa.crossing != fb.crossing for fa, fb in zip(a, b)):
            raise ValueError("paired units must hold the same frames and true wires in both")
    draws = _draws(len(first), resamples, seed)
    out: dict[str, PairedDifference | int] = {}
    def ratios(units: Sequence[Sequence[FrameScore]], key: str) -> np.ndarray:
        numerator, denominator, scale = _LINE_RATIOS[key]
        counts = [line_counts([f for f in u if f.crossing] if key.startswith("crossing_") else u) for u in units]
        return np.array([(scale * c[numerator], c[denominator]) for c in counts], dtype=np.float64)

    for key in _LINE_RATIOS:
        a, b = ratios(first, key), ratios(second, key)
        if a[:, 1].sum() > 0:
            out[key] = _difference(a, b, _mean, draws, confidence)
    # Wire-level values of the true wires matched by both variants: (unit, tip a, tip b, dist a, dist b).
    rows = []
    for i, (a_frames, b_frames) in enumerate(zip(first, second)):
        for fa, fb in zip(a_frames, b_frames):
            b_of = {t: (e, d) for t, e, d in zip(fb.matched, fb.tip_errors, fb.distances)}
            rows += [(i, e, b_of[t][0], d, b_of[t][1])
                     for t, e, d in zip(fa.matched, fa.tip_errors, fa.distances) if t in b_of]
    out["paired_wires"] = len(rows)
    if rows:
        wires = np.array(rows, dtype=np.float64)
        unit = wires[:, 0].astype(np.intp)
        out["tip_error_median_px"] = _median_difference(wires[:, 1], wires[:, 2], unit, draws, confidence)
        per_unit = np.zeros((len(first), 3))
        np.add.at(per_unit, unit, np.column_stack([wires[:, 3], wires[:, 4], np.ones(len(wires))]))
        out["mean_centreline_distance_px"] = _difference(per_unit[:, [0, 2]], per_unit[:, [1, 2]], _mean, draws,
                                                         confidence)
    return out


def compare_frames(
    sequences: Sequence[object],
    counts: tuple[Sequence[AccuracyCounts], Sequence[AccuracyCounts]],
    wires: tuple[Sequence[Sequence[WireCoverage]], Sequence[Sequence[WireCoverage]]],
    lines: tuple[Sequence[FrameScore | None], Sequence[FrameScore | None]] | None = None,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Every paired difference of two runs on the same frames, as the reports store it.

    The frames are grouped into the units :func:`resampling_units` chooses (sequences, or frames
    where there are too few sequences) and each run's scores pooled per unit.

    Parameters
    ----------
    sequences : sequence
        The sequence of every frame, in frame order.
    counts, wires, lines : pairs (first, second)
        Per frame: the pixel counts, the coverage of every true wire, and the score of the published
        centrelines (``lines`` None, or None for a frame, where none were scored).
    resamples, seed
        As :func:`paired_bootstrap`.

    Returns
    -------
    dict
        ``unit``, ``units``, ``resamples``, ``confidence``; ``f1`` and ``tolerance_f1``
        (:func:`paired_bootstrap`); ``wire_coverage`` (:func:`paired_coverage`) where there are
        wires; ``lines`` (:func:`paired_lines`) where centrelines were scored. Each difference is a
        :meth:`PairedDifference.to_dict`.
    """
    unit, groups = resampling_units(sequences)

    def pooled(run: int) -> tuple[list[AccuracyCounts], list[list[WireCoverage]], list[list[FrameScore]]]:
        frame_lines = lines[run] if lines is not None else [None] * len(sequences)
        return ([sum((counts[run][i] for i in idx), AccuracyCounts()) for idx in groups],
                [[w for i in idx for w in wires[run][i]] for idx in groups],
                [[f for i in idx if (f := frame_lines[i]) is not None] for idx in groups])

    (counts_a, wires_a, lines_a), (counts_b, wires_b, lines_b) = pooled(0), pooled(1)
    out: dict[str, Any] = {"unit": unit, "units": len(groups), "resamples": resamples, "confidence": CONFIDENCE}
    out.update({k: d.to_dict() for k, d in paired_bootstrap(counts_a, counts_b, resamples, seed=seed).items()})
    coverage = paired_coverage(wires_a, wires_b, resamples, seed=seed)
    if coverage is not None:
        out["wire_coverage"] = {k: d.to_dict() for k, d in coverage.items()}
    if any(lines_a):
        out["lines"] = {k: d if isinstance(d, int) else d.to_dict()
                        for k, d in paired_lines(lines_a, lines_b, resamples, seed=seed).items()}
    return out


def _median_difference(a: np.ndarray, b: np.ndarray, unit: np.ndarray, draws: np.ndarray,
                       confidence: float) -> PairedDifference:
    """Median of ``a`` minus median of ``b`` (values of the same items, each in a unit), over all
    items and over the items of each resample's drawn units (a unit drawn twice counts twice)."""
    diffs = np.empty(len(draws))
    n_units = draws.shape[1]
    for r, drawn in enumerate(draws):
        times = np.bincount(drawn, minlength=n_units)[unit]
        if times.any():
            diffs[r] = np.median(np.repeat(a, times)) - np.median(np.repeat(b, times))
        else:
            diffs[r] = np.nan
    return _summary(float(np.median(a)), float(np.median(b)), diffs, confidence)


def _mean(sums: np.ndarray) -> np.ndarray:
    """Mean of ``(..., 2)`` arrays of (sum, count); NaN where the count is 0."""
    num, den = sums[..., 0], sums[..., 1]
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den > 0)


def _check(n_first: int, n_second: int, resamples: int, confidence: float) -> None:
    if n_first != n_second:
        raise ValueError(f"paired units must match: {n_first} against {n_second}")
    if not n_first:
        raise ValueError("no units to compare")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _draws(n_units: int, resamples: int, seed: int) -> np.ndarray:
    """Unit indices of each resample, ``(resamples, n_units)``, drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n_units, size=(resamples, n_units))


def _difference(a: np.ndarray, b: np.ndarray, score, draws: np.ndarray, confidence: float) -> PairedDifference:
    """``score`` of the summed rows of ``a`` minus that of ``b``, over all rows and over each resample."""
    whole_a, whole_b = float(score(a.sum(axis=0))), float(score(b.sum(axis=0)))
    return _summary(whole_a, whole_b, score(a[draws].sum(axis=1)) - score(b[draws].sum(axis=1)), confidence)


def _summary(whole_a: float, whole_b: float, diff: np.ndarray, confidence: float) -> PairedDifference:
    """The difference over all units and its percentile interval over the resamples' ``diff``
    (NaN entries, resamples where the score is undefined, left out)."""
    diff = diff[~np.isnan(diff)]
    if not diff.size:
        return PairedDifference(whole_a, whole_b, whole_a - whole_b, np.nan, np.nan, np.nan)
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(diff, [tail, 100.0 - tail])
    ahead = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
    return PairedDifference(whole_a, whole_b, whole_a - whole_b, float(low), float(high), ahead)
