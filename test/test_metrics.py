"""Tests of guidewire_model.metrics against hand-computed counts and direct thresholding."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model import preprocess
from guidewire_model.metrics import PixelCounts, ThresholdSweep, per_sequence, pixel_counts


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
