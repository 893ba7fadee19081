"""Tests of guidewire_model.metrics.wires against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from guidewire_model.core.polyline import (
    closest_point_distances,
    mean_centreline_distance,
    nearest_sample_distance,
    subdivide,
    true_runs,
)
from guidewire_model.metrics.wires import CentrelineScores, match_wires, tip_error
from guidewire_model.core.wire import Wire


def hline(y, x0=0.0, x1=10.0):
    return np.array([[x0, y], [x1, y]], dtype=np.float64)


def test_closest_point_distance_uses_segments():
    d = closest_point_distances(np.array([[5.0, 3.0], [-4.0, 0.0], [13.0, 4.0]]), hline(0))
    np.testing.assert_allclose(d, [3.0, 4.0, 5.0])
    np.testing.assert_allclose(closest_point_distances(np.array([[3.0, 4.0]]), np.zeros((1, 2))), [5.0])


def test_mean_centreline_distance_by_hand():
    # a: x in [0, 10] at y=0; b: x in [0, 20] at y=2 (dense points so means are exact averages).
    a = np.stack([np.arange(11.0), np.zeros(11)], axis=1)
    b = np.stack([np.arange(21.0), np.full(21, 2.0)], axis=1)
    # a -> b: every point 2 away. b -> a: 11 points 2 away, points x=11..20 at hypot(x-10, 2).
    b_to_a = (11 * 2.0 + sum(math.hypot(x - 10, 2.0) for x in range(11, 21))) / 21
    assert mean_centreline_distance(a, b) == pytest.approx(0.5 * (2.0 + b_to_a))
    assert mean_centreline_distance(a, b) == pytest.approx(mean_centreline_distance(b[::-1], a))
    assert mean_centreline_distance(a, a) == 0.0
    with pytest.raises(ValueError, match="polyline"):
        mean_centreline_distance(np.zeros((0, 2)), a)


def test_tip_error_and_matching():
    gt = [Wire.from_points(hline(0), wire_id=1), Wire.from_points(hline(20), wire_id=2)]
    pred = [Wire.from_points(hline(21, 0, 7)), Wire.from_points(hline(1))]
    assert tip_error(pred[1], gt[0]) == pytest.approx(1.0)
    assert tip_error(pred[0], gt[1]) == pytest.approx(math.hypot(3.0, 1.0))
    matches = match_wires(pred, gt, gate_px=5.0)
    assert [(t, p) for t, p, _ in matches] == [(0, 1), (1, 0)]
    assert matches[0][2] == pytest.approx(1.0)
    assert match_wires(pred, gt, gate_px=0.5) == []
    assert match_wires([], gt, gate_px=5.0) == []


def test_a_missed_wire_does_not_unmatch_a_found_one():
    # Truth 0 (vertical, x=0) is missed: prediction 0 runs at x=140. Prediction 1 lies on truth 1.
    # Crossed, the pairs cost 62 + 62 px against 140 + 1 px straight, and both fail the gate.
    vertical = [Wire.from_points(np.array([[x, 0.0], [x, 100.0]])) for x in (0.0, 140.0)]
    gt = [vertical[0], Wire.from_points(hline(50, 20, 120))]
    pred = [vertical[1], Wire.from_points(hline(51, 20, 120))]
    assert [(t, p) for t, p, _ in match_wires(pred, gt, gate_px=10.0)] == [(1, 1)]


def test_scores_count_assignment_identity_switches_and_crossing_frames():
    gt = [Wire.from_points(hline(0), wire_id=1), Wire.from_points(hline(20), wire_id=2)]
    a, b = Wire.from_points(hline(1)), Wire.from_points(hline(19))
    scores = CentrelineScores(gate_px=5.0)
    scores.update([a.tracked(1, 1), b.tracked(2, 1)], gt, crossing=False)
    scores.update([a.tracked(2, 2), b.tracked(1, 2)], gt, crossing=True)  # ids swapped
    scores.update([a.tracked(1, 3)], gt, crossing=True)  # wire 2 missed
    s = scores.summary()
    assert s["frames"] == 3 and s["crossing_frames"] == 2
    assert s["mean_centreline_distance_px"] == pytest.approx(1.0)
    assert s["tip_error_px"] == pytest.approx(1.0)
    assert s["assignment_accuracy"] == pytest.approx(2 / 3)
    assert s["crossing_assignment_accuracy"] == pytest.approx(0.5)
    assert s["id_consistency"] == pytest.approx(1 / 3)
    # frame 2: both switch; frame 3: wire 1 switches back.
    assert s["id_switches"] == 3
    assert s["id_switches_per_100_frames"] == pytest.approx(100.0)
    assert s["crossing_id_switches"] == 3
    assert s["missed_wires"] == 1 and s["extra_wires"] == 0
    scores.new_sequence()
    scores.update([a.tracked(7, 1), b.tracked(8, 1)], gt)
    assert scores.summary()["id_switches"] == 3  # new sequence: new ids are no switch


def test_tips_found_count_every_ground_truth_wire():
    gt = [Wire.from_points(hline(0), wire_id=1), Wire.from_points(hline(20), wire_id=2)]
    scores = CentrelineScores(gate_px=5.0)
    # Frame 1: wire 1 ends 1 px from its tip (found), wire 2 ends 4 px short of it (found, 4 <= 5).
    scores.update([Wire.from_points(hline(1)), Wire.from_points(hline(20, 0, 6))], gt)
    # Frame 2: wire 1 ends 6 px short of its tip (matched, not found); wire 2 is missed.
    scores.update([Wire.from_points(hline(0, 0, 4))], gt)
    s = scores.summary()
    assert s["tips_found"] == pytest.approx(2 / 4)
    # The median of the matched wires' tip errors (1, 4, 6) does not count the missed wire.
    assert s["tip_error_median_px"] == pytest.approx(4.0)
    assert math.isnan(CentrelineScores().summary()["tips_found"])


def test_untracked_predictions_and_empty_summary():
    scores = CentrelineScores()
    s = scores.summary()
    assert s["frames"] == 0 and math.isnan(s["mean_centreline_distance_px"])
    scores.update([Wire.from_points(hline(0))], [Wire.from_points(hline(0), wire_id=1)])
    s = scores.summary()
    assert s["assignment_accuracy"] == 1.0 and s["id_consistency"] == 1.0 and s["id_switches"] == 0


def test_closest_point_distances_equals_the_all_pairs_definition():
    from guidewire_model.core.polyline import closest_point_distances

    rng = np.random.default_rng(7)
    for _ in range(100):
        line = np.cumsum(rng.normal(0, rng.uniform(0.5, 20), (int(rng.integers(2, 40)), 2)), axis=0)
        pts = rng.uniform(-60, 60, (int(rng.integers(1, 40)), 2)) + line.mean(axis=0)
        a, b = line[:-1], line[1:]
        ab = b - a
        q = pts[:, None, :]
        t = np.clip(((q - a) * ab).sum(2) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
        brute = np.sqrt(((q - (a + t[..., None] * ab)) ** 2).sum(2).min(1))
        np.testing.assert_allclose(closest_point_distances(pts, line), brute, rtol=1e-12, atol=1e-12)


def test_subdividing_keeps_the_curve_and_its_vertices():
    line = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.5], [13.0, 4.0]])
    fine = subdivide(line, 1.0)
    assert np.all(np.hypot(*np.diff(fine, axis=0).T) <= 1.0 + 1e-12)
    assert all(np.any(np.all(np.isclose(fine, v), axis=1)) for v in line)
    rng = np.random.default_rng(1)
    points = rng.uniform(-20, 30, size=(300, 2))
    np.testing.assert_allclose(closest_point_distances(points, fine), closest_point_distances(points, line), atol=1e-9)


def test_nearest_sample_distance_is_within_half_a_pixel_of_the_exact_one_on_pixel_spaced_curves():
    rng = np.random.default_rng(7)
    for _ in range(20):
        t = np.linspace(0, 1, 2000)
        curve = np.stack([t * 300, 50 * np.sin(6 * t + rng.uniform(0, 6))], axis=1)
        # Pixel-spaced vertices, as the centreline extraction gives.
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])
        a = np.stack([np.interp(np.arange(0, s[-1], 1.0), s, curve[:, i]) for i in (0, 1)], axis=1)
        b = a[int(rng.integers(0, 100)):] + rng.uniform(-40, 40, size=2)
        exact, fast = mean_centreline_distance(a, b), nearest_sample_distance(a, b)
        assert abs(fast - exact) <= 0.5, (exact, fast)
    assert nearest_sample_distance(a, a) == 0.0


def test_true_runs_are_half_open_index_pairs():
    flags = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert true_runs(flags).tolist() == [[0, 2], [4, 5], [6, 9]]
    assert true_runs(np.zeros(4, bool)).shape == (0, 2)
    assert true_runs(np.ones(3, bool)).tolist() == [[0, 3]]
