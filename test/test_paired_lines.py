"""The paired bootstrap of two variants' centreline figures on the same frames (metrics.paired.paired_lines),
on hand-made frame scores, and the choice of units every comparison resamples.

Expected values come from CentrelineScores.summary on the same frames or from cases whose every
resample is known, not from the module's own sums.
"""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.metrics.paired import MIN_SEQUENCE_UNITS, paired_lines, resampling_units
from guidewire_model.metrics.wires import CentrelineScores, FrameScore


def _frame(n_truth: int = 2, matched: dict[int, tuple[float, float]] | None = None, n_predicted: int | None = None,
           switches: int = 0, crossing: bool = False) -> FrameScore:
    """A frame score; ``matched``: truth index -> (centreline distance, tip error)."""
    matched = matched or {}
    order = sorted(matched)
    return FrameScore(n_truth, len(matched) if n_predicted is None else n_predicted,
                      tuple(matched[t][0] for t in order), tuple(matched[t][1] for t in order),
                      len(matched) == n_truth, True, switches, crossing, tuple(order))


def test_whole_figures_are_those_of_the_centreline_summary() -> None:
    rng = np.random.default_rng(4)

    def random_frame(crossing: bool) -> FrameScore:
        matched = {t: (float(rng.uniform(0, 5)), float(rng.uniform(0, 12))) for t in range(2) if rng.random() < 0.7}
        return _frame(2, matched, n_predicted=len(matched) + int(rng.integers(0, 2)),
                      switches=int(rng.integers(0, 2)), crossing=crossing)

    crossings = [[bool(rng.random() < 0.4) for _ in range(6)] for _ in range(7)]
    first = [[random_frame(c) for c in seq] for seq in crossings]
    second = [[random_frame(c) for c in seq] for seq in crossings]
    d = paired_lines(first, second, resamples=50)
    for units, side in ((first, "first"), (second, "second")):
        summary = CentrelineScores(frames=[f for u in units for f in u]).summary()
        for key in ("assignment_accuracy", "crossing_assignment_accuracy", "tips_found",
                    "id_switches_per_100_frames"):
            assert getattr(d[key], side) == pytest.approx(summary[key]), key
        assert getattr(d["missed_wires_per_frame"], side) == pytest.approx(summary["missed_wires"] / 42)
        assert getattr(d["extra_wires_per_frame"], side) == pytest.approx(summary["extra_wires"] / 42)


def test_tip_and_distance_are_compared_over_the_wires_both_matched() -> None:
    # The first variant also matches wire 0 (far off, tip 40 px); over its own matches its median
    # would be 22 px. Over wire 1, matched by both, it is 4 against 6.
    first = [[_frame(2, {0: (6.0, 40.0), 1: (1.0, 4.0)})] for _ in range(5)]
    second = [[_frame(2, {1: (2.0, 6.0)})] for _ in range(5)]
    d = paired_lines(first, second, resamples=100)
    assert d["paired_wires"] == 5
    tip = d["tip_error_median_px"]
    assert (tip.first, tip.second, tip.difference, tip.low, tip.high) == (4.0, 6.0, -2.0, -2.0, -2.0)
    assert tip.first_ahead == 0.0  # lower is better: the first is never higher
    dist = d["mean_centreline_distance_px"]
    assert (dist.first, dist.second, dist.difference) == (1.0, 2.0, -1.0)
    # Both variants' frames hold 2 true wires; the first told them apart in every frame, the second in none.
    told = d["assignment_accuracy"]
    assert (told.first, told.second, told.low, told.high, told.first_ahead) == (1.0, 0.0, 1.0, 1.0, 1.0)
    assert d["tips_found"].first == 0.5 and d["tips_found"].second == 0.0
    assert d["missed_wires_per_frame"].difference == -1.0


def test_a_median_over_resampled_units_counts_a_unit_drawn_twice_twice() -> None:
    # Two units: unit 0's paired tips 1 against 3 (first ahead by 2), unit 1's 10 against 5 (behind by 5).
    # Resamples: (0, 0) -> -2, (1, 1) -> +5, (0, 1) and (1, 0) -> medians 5.5 against 4, +1.5.
    first = [[_frame(1, {0: (1.0, 1.0)})], [_frame(1, {0: (1.0, 10.0)})]]
    second = [[_frame(1, {0: (1.0, 3.0)})], [_frame(1, {0: (1.0, 5.0)})]]
    tip = paired_lines(first, second, resamples=4000, seed=1)["tip_error_median_px"]
    assert tip.difference == pytest.approx(1.5)
    assert tip.low == pytest.approx(-2.0) and tip.high == pytest.approx(5.0)
    # Higher in the three resamples of (1, 1), (0, 1), (1, 0): three quarters.
    assert tip.first_ahead == pytest.approx(0.75, abs=0.03)


def test_switches_and_crossing_frames() -> None:
    first = [[_frame(2, {0: (1, 1), 1: (1, 1)}, switches=1), _frame(2, {}, crossing=True)] for _ in range(5)]
    second = [[_frame(2, {0: (1, 1), 1: (1, 1)}), _frame(2, {0: (1, 1), 1: (1, 1)}, crossing=True)] for _ in range(5)]
    d = paired_lines(first, second, resamples=100)
    assert d["id_switches_per_100_frames"].first == 50.0 and d["id_switches_per_100_frames"].second == 0.0
    c = d["crossing_assignment_accuracy"]
    assert (c.first, c.second, c.low, c.high) == (0.0, 1.0, -1.0, -1.0)
    # No crossing frame anywhere: no crossing figure, rather than a 0 or a NaN.
    plain = [[_frame(2, {0: (1, 1)})] for _ in range(5)]
    assert "crossing_assignment_accuracy" not in paired_lines(plain, plain, resamples=10)
    # No wire matched by both: no tip or distance figure.
    none = paired_lines([[_frame(2, {})]] * 5, plain, resamples=10)
    assert none["paired_wires"] == 0 and "tip_error_median_px" not in none


def test_a_crossing_figure_leaves_out_resamples_without_a_crossing_frame() -> None:
    # One unit of ten holds the only crossing frame: many resamples miss it. The interval is over
    # those that hold it, where the difference is always 1.
    first = [[_frame(1, {0: (1, 1)}, crossing=(i == 0))] for i in range(10)]
    second = [[_frame(1, {}, crossing=(i == 0))] for i in range(10)]
    c = paired_lines(first, second, resamples=500)["crossing_assignment_accuracy"]
    assert (c.difference, c.low, c.high, c.first_ahead) == (1.0, 1.0, 1.0, 1.0)


def test_frames_and_wires_must_pair() -> None:
    frames = [[_frame(2), _frame(2)] for _ in range(3)]
    with pytest.raises(ValueError, match="same frames"):
        paired_lines(frames, [[_frame(2)] for _ in range(3)])
    with pytest.raises(ValueError, match="same frames"):
        paired_lines(frames, [[_frame(2), _frame(1)] for _ in range(3)])
    with pytest.raises(ValueError, match="match"):
        paired_lines(frames, frames[:2])
    with pytest.raises(ValueError, match="resamples"):
        paired_lines(frames, frames, resamples=0)


def test_units_are_sequences_when_there_are_enough_else_frames() -> None:
    labels = ["a", "a", "b", "c", "c", "d", "e"]
    unit, groups = resampling_units(labels)
    assert unit == "sequence" and groups == [[0, 1], [2], [3, 4], [5], [6]]
    few = labels[:MIN_SEQUENCE_UNITS]  # a, a, b, c, c: three sequences
    unit, groups = resampling_units(few)
    assert unit == "frame" and groups == [[i] for i in range(len(few))]
