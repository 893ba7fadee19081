"""Tests of guidewire_model.runtime.tracking: stable wire ids across frames."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.core.wire import Wire
from guidewire_model.runtime.tracking import WireTracker, assign

from drawn_lines import dense


def wire(y: float, x0: float = 0.0, length: float = 150.0) -> Wire:
    x = np.arange(x0, x0 + length + 1.0)
    return Wire.from_points(np.stack([x, np.full_like(x, y)], axis=1))


def ids(tracked: list[Wire]) -> dict[int, float]:
    return {t.wire_id: float(t.points[0, 1]) for t in tracked}


def test_ids_are_stable_under_small_motion_and_swapped_order():
    tracker = WireTracker(max_wires=2, max_match_distance_px=20.0)
    first = ids(tracker.update([wire(50), wire(150)]))
    assert sorted(first) == [1, 2]
    id_top = next(k for k, y in first.items() if y == 50)
    for step in range(1, 6):
        frame = [wire(150 + 2 * step), wire(50 + 2 * step)]  # swapped input order, moving
        out = tracker.update(frame)
        got = ids(out)
        assert got[id_top] == 50 + 2 * step
        assert all(t.frames_tracked == step + 1 for t in out)


def test_disappearing_wire_keeps_id_briefly_then_frees_its_slot():
    tracker = WireTracker(max_wires=2, max_match_distance_px=20.0, max_missed_frames=2)
    tracker.update([wire(50), wire(150)])
    # Wire at 150 vanishes for two frames and returns: same id.
    for _ in range(2):
        assert sorted(ids(tracker.update([wire(50)]))) == [1]
    assert ids(tracker.update([wire(50), wire(151)])) == {1: 50.0, 2: 151.0}
    # While its slot is held, a far-away new wire is not reported.
    assert ids(tracker.update([wire(50), wire(230)])) == {1: 50.0}
    for _ in range(2):
        tracker.update([wire(50)])
    # Slot freed after max_missed_frames: the new wire gets a fresh id, never 2 again.
    assert ids(tracker.update([wire(50), wire(230)])) == {1: 50.0, 3: 230.0}


def test_new_wire_gets_new_id_and_reset_restarts():
    tracker = WireTracker(max_wires=2, max_missed_frames=0)
    assert ids(tracker.update([wire(50)])) == {1: 50.0}
    assert ids(tracker.update([wire(50), wire(200)])) == {1: 50.0, 2: 200.0}
    assert tracker.update([]) == []
    assert ids(tracker.update([wire(120)])) == {3: 120.0}
    tracker.reset()
    assert ids(tracker.update([wire(120)])) == {1: 120.0}


def test_assign_is_optimal_and_gated():
    prev = [wire(50), wire(60)]
    cur = [wire(62), wire(49), wire(200)]
    pairs = sorted(assign(prev, cur, gate_px=5.0))
    assert pairs == [(0, 1), (1, 0)]
    assert assign(prev, [wire(100)], gate_px=5.0) == []
    assert assign([], cur, gate_px=5.0) == []


def test_a_track_with_no_partner_does_not_cost_another_its_match():
    # Track 0 (a vertical wire at x=0) has no partner; track 1 lies on centreline 1. Crossed, the
    # pairs cost 52 + 52 px against 140 + 1 px straight: matching first and gating after loses both.
    vertical = [Wire.from_points(np.array([[x, 0.0], [x, 100.0]])) for x in (0.0, 140.0)]
    prev = [vertical[0], wire(50, x0=20, length=100)]
    cur = [vertical[1], wire(51, x0=20, length=100)]
    assert assign(prev, cur, gate_px=20.0) == [(1, 1)]


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="max_wires"):
        WireTracker(max_wires=0)
    with pytest.raises(ValueError, match="max_match_distance_px"):
        WireTracker(max_match_distance_px=0)
    with pytest.raises(ValueError, match="max_missed_frames"):
        WireTracker(max_missed_frames=-1)


def reversed_wire(y: float) -> Wire:
    return Wire.from_points(wire(y).points[::-1])


def test_a_lone_reversed_frame_is_turned_back_to_the_track_direction():
    tracker = WireTracker(max_wires=1)
    for _ in range(3):
        tracker.update([wire(50.0)])
    (turned,) = tracker.update([reversed_wire(50.0)])  # one frame whose orientation went wrong
    assert turned.wire_id == 1
    np.testing.assert_allclose(turned.tip, wire(50.0).tip)  # tip still at the distal end
    assert turned.tip_direction[0] > 0.99


def test_a_track_whose_frames_keep_disagreeing_turns_round():
    tracker = WireTracker(max_wires=1)
    tracker.update([wire(50.0)])  # a wrong first frame
    tips = [tracker.update([reversed_wire(50.0)])[0].tip[0] for _ in range(4)]
    # The first disagreeing frame ties the vote (the track keeps its direction), the next outvotes it.
    assert tips[0] == pytest.approx(150.0) and tips[1:] == [pytest.approx(0.0)] * 3


def test_same_direction_ignores_a_short_piece_across_the_wire():
    from guidewire_model.runtime.tracking import same_direction

    long = wire(50.0)
    assert same_direction(wire(51.0, x0=40.0, length=60.0), long) is True
    assert same_direction(Wire.from_points(wire(51.0, x0=40.0, length=60.0).points[::-1]), long) is False
    assert same_direction(wire(51.0, x0=40.0, length=5.0), long) is None


def test_a_loosely_matched_frame_keeps_its_id_but_not_the_tracks_shape():
    from guidewire_model.core.polyline import nearest_sample_distance

    gate = 22.0
    upper, lower = wire(50.0), wire(150.0)
    # One frame traces the lower wire joined to a stray branch (two wires run together into one path
    # at a crossing, as a broken mask gives): still the lower wire's id, but a poor shape.
    joined = Wire.from_points(dense([(150.0, 150.0), (0.0, 150.0), (0.0, 0.0)], spacing=1.0))
    moved = wire(154.0)
    assert 5.0 < nearest_sample_distance(joined, lower) < gate  # a loose match ...
    assert nearest_sample_distance(moved, joined) > gate  # ... that the next frame would not match

    tracker = WireTracker(max_wires=2, max_match_distance_px=gate)
    first = ids(tracker.update([upper, lower]))
    lower_id = next(k for k, y in first.items() if y == 150.0)
    out = {w.wire_id: w for w in tracker.update([upper, joined])}
    np.testing.assert_array_equal(out[lower_id].points, joined.points)  # published as traced
    assert ids(tracker.update([upper, moved]))[lower_id] == 154.0


def test_a_track_matched_only_loosely_for_long_takes_the_new_shape():
    tracker = WireTracker(max_wires=1, max_match_distance_px=20.0, max_missed_frames=2)
    tracker.update([wire(50.0)])
    for _ in range(3):  # 10 px away: loose; the third such frame in a row is one more than allowed
        assert ids(tracker.update([wire(60.0)])) == {1: 60.0}
    # 15 px from the adopted shape, 25 px from the first one (beyond the gate): matched, so adopted.
    assert ids(tracker.update([wire(75.0)])) == {1: 75.0}
