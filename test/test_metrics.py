"""Tests of guidewire_model.metrics.pixels against hand-computed counts and direct thresholding."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.runtime import preprocess
from guidewire_model.metrics.pixels import (
    TOLERANCE_PX,
    AccuracyCounts,
    PixelCounts,
    ThresholdSweep,
    ToleranceCounts,
    accuracy_counts,
    count_near,
    per_sequence,
    pixel_counts,
    tolerance_counts,
)


def test_pixel_counts_hand_example():
    gt = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 1, 0], [1, 0, 0, 0]], dtype=bool)
    c = pixel_counts(pred, gt)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 4)
    assert c.precision == pytest.approx(2 / 3)
    assert c.recall == pytest.approx(2 / 3)
    assert c.f1 == pytest.approx(2 / 3)
    assert c.total == 8
    # 0/1 integer masks count the same as bool masks.
    assert pixel_counts(pred.astype(np.uint8), gt.astype(np.uint8)) == c


def test_counts_accumulate_over_pixels_not_averaged_per_frame():
    # Frame A: 1 wire pixel, found (F1 1). Frame B: 9 wire pixels, 3 found, no false positives.
    a = pixel_counts(np.array([True, False]), np.array([True, False]))
    gt_b = np.zeros(20, bool)
    gt_b[:9] = True
    pred_b = np.zeros(20, bool)
    pred_b[:3] = True
    b = pixel_counts(pred_b, gt_b)
    total = a + b
    assert (total.tp, total.fp, total.fn, total.tn) == (4, 0, 6, 12)
    assert total.recall == pytest.approx(0.4)
    assert total.f1 == pytest.approx(2 * 4 / (2 * 4 + 6))
    assert total.f1 != pytest.approx((a.f1 + b.f1) / 2)


def test_zero_division_conventions():
    nothing = pixel_counts(np.zeros(5, bool), np.zeros(5, bool))
    assert (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)
    missed = pixel_counts(np.zeros(5, bool), np.eye(1, 5, dtype=bool)[0])
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    hallucinated = pixel_counts(np.eye(1, 5, dtype=bool)[0], np.zeros(5, bool))
    assert (hallucinated.precision, hallucinated.recall, hallucinated.f1) == (0.0, 1.0, 0.0)


def test_pixel_counts_array_round_trip_and_validation():
    c = PixelCounts(3, 2, 1, 10)
    arr = c.as_array()
    assert arr.dtype == np.int64
    assert PixelCounts.from_array(arr) == c
    assert PixelCounts.from_array(arr + arr) == c + c
    assert c.to_dict()["f1"] == pytest.approx(6 / 9)
    with pytest.raises(ValueError, match="shape"):
        pixel_counts(np.zeros(3, bool), np.zeros(4, bool))
    with pytest.raises(ValueError, match="0, 1"):
        pixel_counts(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match="non-negative"):
        PixelCounts(-1, 0, 0, 0)


def test_per_sequence_sums_by_name():
    out = per_sequence([("a", PixelCounts(1, 0, 0, 1)), ("b", PixelCounts(0, 1, 0, 0)), ("a", PixelCounts(2, 0, 1, 0))])
    assert list(out) == ["a", "b"]
    assert out["a"] == PixelCounts(3, 0, 1, 1)


def _random_frames(seed: int, n: int = 3, shape=(24, 24)):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        gt = rng.random(shape) < 0.1
        # Informative but imperfect probabilities, including exact 0 and 1.
        prob = np.clip(0.6 * gt + 0.5 * rng.random(shape) - 0.05, 0.0, 1.0).astype(np.float32)
        yield prob, gt


@pytest.mark.parametrize("threshold", [0.0, 0.1, 0.25, 0.5, 0.73, 0.999])
def test_sweep_matches_direct_thresholding(threshold):
    sweep = ThresholdSweep(n_bins=1000)
    direct = PixelCounts()
    for prob, gt in _random_frames(0):
        sweep.update(prob, gt)
        direct = direct + pixel_counts(preprocess.binarize(prob, threshold).astype(bool), gt)
    assert sweep.counts_at(threshold) == direct
    curve = sweep.curve()
    k = int(round(threshold * 1000))
    assert curve["thresholds"][k] == pytest.approx(threshold)
    assert curve["precision"][k] == pytest.approx(direct.precision)
    assert curve["recall"][k] == pytest.approx(direct.recall)
    assert curve["f1"][k] == pytest.approx(direct.f1)


def test_sweep_merge_and_array_round_trip_equal_one_pass():
    frames = list(_random_frames(1, n=4))
    whole = ThresholdSweep(200)
    left, right = ThresholdSweep(200), ThresholdSweep(200)
    for i, (prob, gt) in enumerate(frames):
        whole.update(prob, gt)
        (left if i % 2 else right).update(prob, gt)
    # As an all-reduce would: sum the arrays of the "ranks".
    summed = ThresholdSweep.from_array(left.as_array() + right.as_array())
    np.testing.assert_array_equal(summed.as_array(), whole.as_array())
    np.testing.assert_array_equal(left.merge(right).as_array(), whole.as_array())
    assert whole.as_array().sum() == sum(p.size for p, _ in frames)
    with pytest.raises(ValueError, match="bins"):
        whole.merge(ThresholdSweep(100))


def test_sweep_best_finds_the_separating_threshold():
    # Foreground at 0.8-0.9, background at 0.1-0.3: every threshold in (0.3, 0.8] is perfect.
    prob = np.array([0.8, 0.85, 0.9, 0.1, 0.2, 0.3], dtype=np.float32)
    gt = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    sweep = ThresholdSweep(10)
    sweep.update(prob, gt)
    threshold, f1 = sweep.best()
    assert f1 == 1.0
    assert 0.3 < threshold <= 0.8
    assert threshold == pytest.approx(0.6)  # middle of the perfect plateau 0.4..0.8
    assert sweep.curve()["f1"][0] == pytest.approx(2 * 3 / (2 * 3 + 3))  # t = 0: all positive


def test_sweep_rejects_bad_input():
    sweep = ThresholdSweep(10)
    with pytest.raises(ValueError, match="sigmoid"):
        sweep.update(np.array([0.5, 1.5]), np.array([0, 1]))
    with pytest.raises(ValueError, match="sigmoid"):
        sweep.update(np.array([0.5, np.nan]), np.array([0, 1]))
    with pytest.raises(ValueError, match="shape"):
        sweep.update(np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError, match="n_bins"):
        ThresholdSweep(1)


# ------------------------------------------------------------------ tolerance scores (F1@2)
# Expected values below are counted by hand from the drawings, never by the function under test.


def _line(row: int, shape=(30, 30), cols=slice(5, 25)) -> np.ndarray:
    """A 1-px horizontal line of 20 pixels (columns 5..24) on ``row``."""
    mask = np.zeros(shape, bool)
    mask[row, cols] = True
    return mask


def _dot(row: int, col: int, shape=(30, 30)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[row, col] = True
    return mask


def test_tolerance_is_two_pixels():
    assert TOLERANCE_PX == 2.0


@pytest.mark.parametrize("shift, matched", [(0, True), (1, True), (2, True), (3, False)])
def test_a_line_shifted_by_up_to_two_pixels_matches(shift, matched):
    gt, pred = _line(10), _line(10 + shift)
    t = tolerance_counts(pred, gt)
    # 20 predicted pixels, 20 skeleton pixels (a 1-px line is its own skeleton); all or none matched.
    n = 20 if matched else 0
    assert t == ToleranceCounts(pred=20, pred_near=n, skeleton=20, skeleton_hit=n)
    assert (t.precision, t.recall, t.f1) == ((1.0, 1.0, 1.0) if matched else (0.0, 0.0, 0.0))
    # The strict score sees only the unshifted line.
    assert pixel_counts(pred, gt).f1 == (1.0 if shift == 0 else 0.0)


def test_the_same_line_shifted_the_other_way_and_sideways():
    # Upwards by 2 and along the line by 2: every predicted pixel is 2 px (straight up) from the
    # line except the two that run past its end, which are sqrt(4 + 1) or more away.
    gt = _line(10)
    pred = _line(8, cols=slice(7, 27))
    t = tolerance_counts(pred, gt)
    # pred columns 7..26: 7..24 lie above the line (18), 25 and 26 beyond its end (distance >= sqrt 5).
    # gt columns 5..24: 5 and 6 are sqrt(8) and sqrt(5) from pred column 7; 7..24 are 2 below it.
    assert t == ToleranceCounts(pred=20, pred_near=18, skeleton=20, skeleton_hit=18)
    assert t.f1 == pytest.approx(0.9)


@pytest.mark.parametrize("offset, matched", [((1, 1), True), ((0, 2), True), ((2, 0), True), ((1, 2), False),
                                             ((2, 1), False), ((2, 2), False)])
def test_diagonal_offsets_use_euclidean_distance(offset, matched):
    # sqrt(2) and 2 match; sqrt(5) ~ 2.24 and sqrt(8) ~ 2.83 do not.
    gt, pred = _dot(10, 10), _dot(10 + offset[0], 10 + offset[1])
    n = 1 if matched else 0
    assert tolerance_counts(pred, gt) == ToleranceCounts(1, n, 1, n)


def test_a_wide_ground_truth_is_recalled_through_its_skeleton():
    # A 4-px-wide, 24-px-long annotation (rows 8..11) and a 1-px prediction on its centre row 9.
    gt = np.zeros((20, 30), bool)
    gt[8:12, 3:27] = True
    pred = np.zeros_like(gt)
    pred[9, 3:27] = True
    t = tolerance_counts(pred, gt)
    assert t.pred == 24 and t.pred_near == 24  # every predicted pixel is on the annotation
    # The skeleton is one line along the bar (at most one pixel per column), not its 96 pixels,
    # and all of it lies within 1 px of row 9.
    assert 1 <= t.skeleton <= 24 and t.skeleton_hit == t.skeleton
    assert (t.precision, t.recall, t.f1) == (1.0, 1.0, 1.0)
    # Strictly, the thin prediction finds a quarter of the bar: tp 24, fn 72, F1 48 / 120.
    c = pixel_counts(pred, gt)
    assert (c.tp, c.fp, c.fn) == (24, 0, 72) and c.f1 == pytest.approx(0.4)


def test_empty_masks_follow_the_zero_division_conventions():
    line, empty = _line(10), np.zeros((30, 30), bool)
    missed = tolerance_counts(empty, line)
    assert missed == ToleranceCounts(0, 0, 20, 0)
    assert (missed.precision, missed.recall, missed.f1) == (1.0, 0.0, 0.0)
    hallucinated = tolerance_counts(line, empty)
    assert hallucinated == ToleranceCounts(20, 0, 0, 0)
    assert (hallucinated.precision, hallucinated.recall, hallucinated.f1) == (0.0, 1.0, 0.0)
    nothing = tolerance_counts(empty, empty)
    assert nothing == ToleranceCounts() and (nothing.precision, nothing.recall, nothing.f1) == (1.0, 1.0, 1.0)


def test_stacks_are_matched_frame_by_frame_and_summed():
    line, empty = _line(10), np.zeros((30, 30), bool)
    # Frame 0: shifted by 1 (all matched); frame 1: nothing predicted.
    t = tolerance_counts(np.stack([_line(11), empty]), np.stack([line, line]))
    assert t == ToleranceCounts(pred=20, pred_near=20, skeleton=40, skeleton_hit=20)
    assert (t.precision, t.recall) == (1.0, 0.5) and t.f1 == pytest.approx(2 / 3)
    # A prediction in frame 1 never matches the truth of frame 0, though they sit at the same place.
    apart = tolerance_counts(np.stack([empty, line]), np.stack([line, empty]))
    assert apart == ToleranceCounts(pred=20, pred_near=0, skeleton=20, skeleton_hit=0)
    # Any leading axes: (2, 1, H, W) counts as two frames.
    assert tolerance_counts(np.stack([_line(11), empty])[:, None], np.stack([line, line])[:, None]) == t


def test_tolerance_counts_add_and_round_trip_through_arrays():
    a, b = ToleranceCounts(5, 3, 4, 2), ToleranceCounts(1, 1, 2, 0)
    assert a + b == ToleranceCounts(6, 4, 6, 2)
    arr = a.as_array()
    assert arr.dtype == np.int64 and arr.tolist() == [5, 3, 4, 2]
    assert ToleranceCounts.from_array(arr) == a
    assert ToleranceCounts.from_array(a.as_array() + b.as_array()) == a + b  # as an all-reduce would
    d = a.to_dict()
    assert d["precision"] == pytest.approx(3 / 5) and d["recall"] == pytest.approx(2 / 4)
    assert d["f1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)


def test_tolerance_inputs_are_checked():
    with pytest.raises(ValueError, match="shape"):
        tolerance_counts(np.zeros((3, 3), bool), np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="two dimensions"):
        tolerance_counts(np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(ValueError, match="0, 1"):
        tolerance_counts(np.full((3, 3), 2), np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="tolerance_px"):
        tolerance_counts(np.zeros((3, 3), bool), np.zeros((3, 3), bool), -1.0)
    with pytest.raises(ValueError, match="exceeds"):
        ToleranceCounts(pred=1, pred_near=2)
    with pytest.raises(ValueError, match="non-negative"):
        ToleranceCounts(skeleton=-1)
    with pytest.raises(ValueError, match="4 values"):
        ToleranceCounts.from_array([1, 2, 3])


def test_accuracy_counts_pair_strict_and_tolerance_figures():
    gt = _line(10)
    pred = _line(10) | _line(12)  # the true line plus a parallel one 2 px away
    acc = accuracy_counts(pred, gt)
    # Strictly: 20 tp, 20 fp; within 2 px all 40 predicted pixels are near, all 20 skeleton pixels hit.
    assert acc.pixel == PixelCounts(tp=20, fp=20, fn=0, tn=900 - 40)
    assert acc.tolerance == ToleranceCounts(40, 40, 20, 20)
    d = acc.to_dict()
    assert d["f1"] == pytest.approx(40 / 60) and d["tp"] == 20  # the strict keys stay where they were
    assert d["tolerance"] == {"tolerance_px": 2.0, "pred": 40, "pred_near": 40, "skeleton": 20, "skeleton_hit": 20,
                              "precision": 1.0, "recall": 1.0, "f1": 1.0}
    total = acc + accuracy_counts(np.zeros_like(gt), gt)
    assert total.pixel.fn == 20 and total.tolerance == ToleranceCounts(40, 40, 40, 20)
    assert AccuracyCounts() + acc == acc
    with pytest.raises(ValueError, match="tolerances"):
        acc + accuracy_counts(pred, gt, tolerance_px=1.0)


def test_count_near_counts_pixels_within_the_distance():
    target = _line(10)
    pixels = _line(11, cols=slice(0, 10)) | _dot(25, 25)
    # Row 11, columns 0..9: columns 5..9 are 1 px below the line, 4 is sqrt(2) from (10, 5), 0..3
    # further; the dot at (25, 25) is far.
    assert count_near(pixels, target, 1.0) == (11, 5)
    assert count_near(pixels, target, 1.5) == (11, 6)
    assert count_near(pixels, np.zeros_like(target), 5.0) == (11, 0)
    with pytest.raises(ValueError, match="2-D"):
        count_near(np.stack([pixels]), np.stack([target]), 1.0)
