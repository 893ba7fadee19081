"""How a mask covers each true wire: hand-computed cases on a straight 100 px wire."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guidewire_model.metrics.wires import CoverageScores, FrameScore, WireCoverage, missed_by_coverage, wire_coverage

# A straight wire from (10, 50) to its tip at (110, 50): 101 samples 1 px apart, x = 10 ... 110.
WIRE = np.array([[10.0, 50.0], [110.0, 50.0]])


def _mask(*spans: tuple[int, int]) -> np.ndarray:
    """Row 50 marked over the inclusive x spans."""
    mask = np.zeros((100, 130), np.uint8)
    for a, b in spans:
        mask[50, a:b + 1] = 1
    return mask


def test_a_fully_marked_wire_is_covered_without_gaps():
    (c,) = wire_coverage(_mask((10, 110)), [WIRE])
    assert (c.covered, c.distal_covered, c.gaps) == (1.0, 1.0, 0)


def test_a_hole_wider_than_the_tolerance_is_one_gap():
    # Unmarked x = 50 ... 60: the points x = 52 ... 58 are 3 px or more from the mask (7 of 101),
    # a run spanning 6 px.
    (c,) = wire_coverage(_mask((10, 49), (61, 110)), [WIRE])
    assert c.covered == pytest.approx(94 / 101)
    assert c.distal_covered == 1.0 and c.gaps == 1


def test_a_hole_within_the_tolerance_is_no_gap():
    # Unmarked x = 50 ... 53: every point is within 2 px of a marked pixel.
    (c,) = wire_coverage(_mask((10, 49), (54, 110)), [WIRE])
    assert (c.covered, c.gaps) == (1.0, 0)


def test_a_gap_counts_from_gap_px_of_arc_length():
    # Uncovered x = 52 ... 55 spans 3 px: no gap at 4 px; x = 52 ... 56 spans 4 px: one.
    (short,) = wire_coverage(_mask((10, 49), (58, 110)), [WIRE])
    (long,) = wire_coverage(_mask((10, 49), (59, 110)), [WIRE])
    assert (short.covered, short.gaps) == (pytest.approx(97 / 101), 0)
    assert (long.covered, long.gaps) == (pytest.approx(96 / 101), 1)
    (strict,) = wire_coverage(_mask((10, 49), (58, 110)), [WIRE], gap_px=3.0)
    assert strict.gaps == 1


def test_the_distal_stretch_is_the_one_before_the_tip():
    # Marked up to x = 69: covered x = 10 ... 71 (62 of 101); the last 30 px (x = 80 ... 110) not at all.
    (c,) = wire_coverage(_mask((10, 69)), [WIRE])
    assert c.covered == pytest.approx(62 / 101) and c.distal_covered == 0.0 and c.gaps == 1
    # The same mask against the wire ordered the other way: its tip is now at x = 10.
    (reverse,) = wire_coverage(_mask((10, 69)), [WIRE[::-1]])
    assert reverse.distal_covered == 1.0 and reverse.covered == pytest.approx(62 / 101)


def test_an_empty_mask_leaves_the_whole_wire_one_gap():
    (c,) = wire_coverage(np.zeros((100, 130), bool), [WIRE])
    assert (c.covered, c.distal_covered, c.gaps) == (0.0, 0.0, 1)


def test_points_outside_the_image_are_left_out():
    # The wire runs on to x = 160 beyond the 130 px wide image: the points x >= 130 are not counted,
    # so the marked part inside the image is all of it. A wire wholly outside gives no entry.
    (c,) = wire_coverage(_mask((10, 129)), [np.array([[10.0, 50.0], [160.0, 50.0]])])
    assert (c.covered, c.gaps) == (1.0, 0)
    assert wire_coverage(_mask((10, 129)), [np.array([[200.0, 50.0], [260.0, 50.0]])]) == []


def test_scores_accumulate_over_frames_and_wires():
    scores = CoverageScores()
    assert math.isnan(scores.summary()["covered"]) and scores.summary()["wires"] == 0
    scores.update(_mask((10, 110)), [WIRE])
    scores.update(_mask((10, 49), (61, 110)), [WIRE])
    out = scores.summary()
    assert out["wires"] == 2
    assert out["covered"] == pytest.approx((1.0 + 94 / 101) / 2)
    assert out["gaps_per_wire"] == 0.5 and out["wires_without_gap"] == 0.5


def test_a_mask_that_is_not_2d_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        wire_coverage(np.zeros((2, 100, 130)), [WIRE])


def test_each_entry_names_its_wire_and_a_wire_outside_leaves_no_gap_in_the_names():
    outside = np.array([[200.0, 50.0], [260.0, 50.0]])
    low = np.array([[10.0, 80.0], [110.0, 80.0]])
    assert [c.wire for c in wire_coverage(_mask((10, 110)), [outside, WIRE, low])] == [1, 2]


def test_missed_wires_are_counted_by_how_much_of_each_the_mask_covers():
    # Frame 1: three wires covered 1.0, 0.70 and 0.20, the first matched. Frame 2: two wires, covered
    # 0.95 and 0.50, neither matched. Bounds: under 0.5, 0.5 to 0.9, 0.9 or more.
    def score(n_truth, matched):
        return FrameScore(n_truth, len(matched), (1.0,) * len(matched), (1.0,) * len(matched), False, True, 0,
                          False, tuple(matched))

    frames = [score(3, [0]), score(2, [])]
    coverage = [[WireCoverage(1.0, 1.0, 0, 0), WireCoverage(0.7, 0.5, 1, 1), WireCoverage(0.2, 0.0, 1, 2)],
                [WireCoverage(0.95, 1.0, 0, 0), WireCoverage(0.5, 0.2, 2, 1)]]
    assert missed_by_coverage(frames, coverage) == {"mask_lacks": 1, "mask_partial": 2,
                                                    "mask_holds": 1}
    assert missed_by_coverage([], []) == {"mask_lacks": 0, "mask_partial": 0, "mask_holds": 0}
    with pytest.raises(ValueError, match="coverage"):
        missed_by_coverage(frames, coverage[:1])
