"""The paired bootstrap of two models' F1 and wire coverage on the same units (metrics.paired), on
hand-made counts.

The expected values come from the count classes themselves (PixelCounts.f1, ToleranceCounts.f1) and
from cases whose every resample is known, not from the module's vectorised scores.
"""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.metrics.paired import paired_bootstrap, paired_coverage
from guidewire_model.metrics.pixels import AccuracyCounts, PixelCounts, ToleranceCounts
from guidewire_model.metrics.wires import WireCoverage


def _unit(tp: int, fp: int, fn: int, pred: int, near: int, skeleton: int, hit: int) -> AccuracyCounts:
    return AccuracyCounts(PixelCounts(tp, fp, fn, 0), ToleranceCounts(pred, near, skeleton, hit))


def _random_unit(rng: np.random.Generator) -> AccuracyCounts:
    """Small counts, zeros often (nothing predicted, no wire), matched counts within their totals."""
    tp, fp, fn, pred, skeleton = (int(v) for v in rng.integers(0, 3, 5))
    return _unit(tp, fp, fn, pred, int(rng.integers(0, pred + 1)), skeleton, int(rng.integers(0, skeleton + 1)))


def test_a_model_better_on_every_unit_is_ahead_in_every_resample() -> None:
    # Every resample sums n copies of these units, so both F1s are the same in each: the interval is a point.
    first = [_unit(10, 1, 1, 11, 10, 8, 8)] * 6
    second = [_unit(8, 3, 3, 11, 8, 8, 6)] * 6
    d = paired_bootstrap(first, second, resamples=300)
    assert d["f1"].first == pytest.approx(20 / 22) and d["f1"].second == pytest.approx(16 / 22)
    assert d["f1"].difference == pytest.approx(4 / 22)
    assert d["f1"].low == pytest.approx(4 / 22) and d["f1"].high == pytest.approx(4 / 22)
    assert d["f1"].first_ahead == 1.0
    p1, r1, p2, r2 = 10 / 11, 1.0, 8 / 11, 6 / 8
    tol = d["tolerance_f1"]
    assert tol.first == pytest.approx(2 * p1 * r1 / (p1 + r1)) and tol.second == pytest.approx(2 * p2 * r2 / (p2 + r2))
    assert tol.low == pytest.approx(tol.difference) and tol.first_ahead == 1.0
    reverse = paired_bootstrap(second, first, resamples=300)
    assert reverse["f1"].difference == pytest.approx(-4 / 22) and reverse["f1"].first_ahead == 0.0


def test_the_same_counts_differ_by_nothing() -> None:
    units = [_unit(5, 2, 3, 7, 6, 5, 4), _unit(0, 0, 4, 0, 0, 4, 0), _unit(9, 9, 0, 18, 10, 6, 6)]
    d = paired_bootstrap(units, units, resamples=200)
    for score in d.values():
        assert score.difference == 0.0 and score.low == 0.0 and score.high == 0.0 and score.first_ahead == 0.5


def test_opposite_units_give_an_interval_across_zero() -> None:
    # The first model wins unit a by what it loses on unit b: the whole difference is 0, a resample
    # of (a, a) favours it, (b, b) the other, (a, b) ties -- a quarter, a quarter and a half.
    a_first, a_second = _unit(9, 1, 1, 10, 9, 9, 9), _unit(3, 7, 7, 10, 3, 9, 3)
    d = paired_bootstrap([a_first, a_second], [a_second, a_first], resamples=4000, seed=3)
    f1 = d["f1"]
    assert f1.difference == pytest.approx(0.0, abs=1e-12)
    assert f1.low < 0.0 < f1.high
    # (a, a): 36 / 40 against 6 / 20; (b, b) the reverse; (a, b): 24 / 40 each.
    assert f1.low == pytest.approx(0.3 - 0.9) and f1.high == pytest.approx(0.9 - 0.3)
    assert f1.first_ahead == pytest.approx(0.5, abs=0.03)


def test_whole_scores_are_those_of_the_summed_counts_edge_cases_included() -> None:
    rng = np.random.default_rng(7)
    nothing, missed, no_wire = _unit(0, 0, 0, 0, 0, 0, 0), _unit(0, 0, 3, 0, 0, 3, 0), _unit(0, 2, 0, 2, 0, 0, 0)
    cases = [([nothing], [missed]), ([no_wire], [nothing]), ([missed, no_wire], [nothing, nothing])]
    cases += [tuple([_random_unit(rng) for _ in range(n)] for _ in range(2)) for n in rng.integers(1, 6, 20)]
    for units in cases:
        d = paired_bootstrap(units[0], units[1], resamples=20)
        for key, model in (("first", units[0]), ("second", units[1])):
            total = sum(model, AccuracyCounts())
            assert getattr(d["f1"], key) == pytest.approx(total.pixel.f1)
            assert getattr(d["tolerance_f1"], key) == pytest.approx(total.tolerance.f1)


def test_resamples_are_reproducible_and_drawn_with_replacement() -> None:
    first = [_unit(i + 1, 5 - i, 2, 6, i + 1, 5, 3) for i in range(5)]
    second = [_unit(3, 3, 3, 6, 3, 5, 2 + i % 2) for i in range(5)]
    a = paired_bootstrap(first, second, resamples=500, seed=11)
    assert a == paired_bootstrap(first, second, resamples=500, seed=11)
    # The interval of a 95 % percentile bootstrap, recomputed from the same draws with the count classes.
    draws = np.random.default_rng(11).integers(0, 5, size=(500, 5))
    diffs = [sum((first[i] for i in row), AccuracyCounts()).pixel.f1
             - sum((second[i] for i in row), AccuracyCounts()).pixel.f1 for row in draws]
    assert a["f1"].low == pytest.approx(np.percentile(diffs, 2.5))
    assert a["f1"].high == pytest.approx(np.percentile(diffs, 97.5))
    assert a["f1"].first_ahead == pytest.approx(np.mean(np.array(diffs) > 0) + 0.5 * np.mean(np.array(diffs) == 0))


def test_bad_arguments_are_refused() -> None:
    u = [_unit(1, 1, 1, 2, 1, 2, 1)]
    with pytest.raises(ValueError, match="must match"):
        paired_bootstrap(u, u * 2)
    with pytest.raises(ValueError, match="no units"):
        paired_bootstrap([], [])
    with pytest.raises(ValueError, match="resamples"):
        paired_bootstrap(u, u, resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(u, u, confidence=1.0)
    other = [AccuracyCounts(PixelCounts(1, 1, 1, 0), ToleranceCounts(2, 1, 2, 1), tolerance_px=3.0)]
    with pytest.raises(ValueError, match="tolerance"):
        paired_bootstrap(u, other)


def _wires(*covered: float, distal: float = 1.0, gaps: int = 0) -> list[WireCoverage]:
    return [WireCoverage(c, distal, gaps, i) for i, c in enumerate(covered)]


def test_coverage_pools_the_wires_of_the_drawn_units() -> None:
    # Unit a: one wire, covered by the first model; unit b: three wires it misses. Pooled over the
    # four wires the first model covers a quarter of them (not the mean of the units' means, a half).
    first = [_wires(1.0), _wires(0.0, 0.0, 0.0, distal=0.0, gaps=1)]
    second = [_wires(0.0, distal=0.0, gaps=1), _wires(0.0, 0.0, 0.0, distal=0.0, gaps=1)]
    d = paired_coverage(first, second, resamples=300)
    assert d["covered"].first == pytest.approx(0.25) and d["covered"].second == 0.0
    assert d["gaps_per_wire"].first == pytest.approx(0.75) and d["gaps_per_wire"].second == 1.0
    # Resamples of (b, b) tie; (a, a) gives the first model everything: the interval runs from 0 to 1.
    assert d["covered"].low == 0.0 and d["covered"].high == pytest.approx(1.0)
    assert d["gaps_per_wire"].low == pytest.approx(-1.0) and d["gaps_per_wire"].high == 0.0


def test_coverage_better_on_every_wire_gives_a_point_interval_and_units_without_wires_drop_out() -> None:
    first = [_wires(1.0, 1.0), [], _wires(1.0)]
    second = [_wires(0.5, 0.5, distal=0.0, gaps=2), [], _wires(0.5, distal=0.0, gaps=2)]
    d = paired_coverage(first, second, resamples=200)
    assert (d["covered"].difference, d["covered"].low, d["covered"].high) == (0.5, 0.5, 0.5)
    assert (d["distal_covered"].low, d["gaps_per_wire"].high) == (1.0, -2.0)
    assert paired_coverage([[], []], [[], []]) is None
    with pytest.raises(ValueError, match="same wires"):
        paired_coverage([_wires(1.0)], [_wires(1.0, 1.0)])
    with pytest.raises(ValueError, match="must match"):
        paired_coverage([_wires(1.0)], [])
