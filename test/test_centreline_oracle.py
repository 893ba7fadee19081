"""The node's post-processing on the generator's ground-truth masks (the oracle), clean and damaged.

Each case has a known answer: the ground-truth centrelines of real generator frames. The masks go
through the same path as a model's (:class:`OracleBackend` inside :class:`GuidewirePipeline`).
"""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.runtime.centreline import extract_centrelines
from guidewire_model.core.polyline import closest_point_distances
from guidewire_model.metrics.wires import CentrelineScores, match_wires
from guidewire_model.evaluation.mask_damage import MaskDamage, damage_mask
from guidewire_model.evaluation.oracle_backend import OracleBackend
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

NO_DAMAGE = MaskDamage(gaps_per_wire=0, spurs_per_wire=0, blobs=0, streaks=0)


@pytest.fixture(scope="module")
def crossing_frames():
    """Two sequences of wires that cross (the generator's own flag says so in every frame)."""
    cfg = SyntheticConfig.preset("medium", size=512, crossing_probability=1.0, side_by_side_probability=0.0)
    sequences = [generate_sequence(cfg, seed, 6) for seed in (1, 2)]
    assert all(f.crossing for seq in sequences for f in seq)
    return sequences


def run_oracle(sequences, damage: MaskDamage | None = None) -> dict:
    backend = OracleBackend(512)
    pipeline = GuidewirePipeline(backend)
    scores = CentrelineScores(gate_px=10.0)
    for s, seq in enumerate(sequences):
        pipeline.reset()
        scores.new_sequence()
        for k, frame in enumerate(seq):
            mask = frame.mask if damage is None else damage_mask(frame.mask, frame.wires,
                                                                  np.random.default_rng([s, k]), damage)
            backend.set_mask(mask)
            scores.update(pipeline.process(frame.image).wires, frame.wires, crossing=frame.crossing)
    return scores.summary()


def test_crossing_wires_keep_their_identity_and_tips_on_clean_masks(crossing_frames):
    summary = run_oracle(crossing_frames)
    assert summary["crossing_frames"] == 12
    assert summary["crossing_assignment_accuracy"] == 1.0  # both wires told apart in every frame
    assert summary["id_consistency"] == 1.0 and summary["id_switches"] == 0
    assert summary["tip_error_median_px"] < 2.0 and summary["tip_error_px"] < 5.0  # the distal end
    assert summary["mean_centreline_distance_px"] < 1.0


def test_crossing_wires_survive_damaged_masks(crossing_frames):
    summary = run_oracle(crossing_frames, MaskDamage())
    assert summary["crossing_assignment_accuracy"] >= 0.8
    assert summary["id_switches"] == 0
    assert summary["tip_error_median_px"] < 3.0
    assert summary["extra_wires"] <= 1


def one_frame(crossing_frames, damage: MaskDamage, seed: int = 0):
    frame = crossing_frames[0][0]
    return frame, damage_mask(frame.mask, frame.wires, np.random.default_rng(seed), damage)


@pytest.mark.parametrize("seed", range(4))
def test_a_gap_of_a_few_px_is_bridged(crossing_frames, seed):
    damage = MaskDamage(gaps_per_wire=1, gap_px=(4.0, 6.0), spurs_per_wire=0, blobs=0, streaks=0)
    frame, mask = one_frame(crossing_frames, damage, seed)
    assert (mask < frame.mask.astype(bool)).sum() > 20  # the gaps are really cut
    lines = extract_centrelines(mask)
    matches = match_wires(lines, frame.wires, gate_px=10.0)
    assert len(matches) == 2 and max(d for _, _, d in matches) < 1.5
    for t, p, _ in matches:  # one centreline over the whole wire, gap included
        assert abs(lines[p].length_px - np.sum(np.hypot(*np.diff(frame.wires[t].points, axis=0).T))) < 8.0
    # Without bridging the same gaps leave pieces (the test can fail).
    unbridged = extract_centrelines(mask, bridge_gap_px=0.0)
    assert len(match_wires(unbridged, frame.wires, gate_px=1.5)) < 2


@pytest.mark.parametrize("seed", range(4))
def test_a_spur_is_pruned(crossing_frames, seed):
    damage = MaskDamage(gaps_per_wire=0, spurs_per_wire=2, spur_px=(6.0, 10.0), blobs=0, streaks=0)
    frame, mask = one_frame(crossing_frames, damage, seed)
    assert mask.sum() > frame.mask.astype(bool).sum() + 10  # spurs were drawn
    lines = extract_centrelines(mask)
    assert len(lines) == 2
    truth = np.concatenate([w.points for w in frame.wires])
    for line in lines:  # no point strays onto a spur
        assert closest_point_distances(line.points, truth).max() < 2.5


@pytest.mark.parametrize("seed", range(4))
def test_false_positive_blobs_and_streaks_are_not_wires(crossing_frames, seed):
    damage = MaskDamage(gaps_per_wire=0, spurs_per_wire=0, blobs=6, streaks=4)
    frame, mask = one_frame(crossing_frames, damage, seed)
    lines = extract_centrelines(mask, max_wires=4)
    assert len(lines) == 2
    assert len(match_wires(lines, frame.wires, gate_px=1.5)) == 2


def test_damage_is_seeded_and_clean_damage_is_identity(crossing_frames):
    frame = crossing_frames[0][0]
    a = damage_mask(frame.mask, frame.wires, np.random.default_rng(5))
    b = damage_mask(frame.mask, frame.wires, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(damage_mask(frame.mask, frame.wires, np.random.default_rng(5), NO_DAMAGE),
                                  frame.mask != 0)
    with pytest.raises(ValueError, match="2-D"):
        damage_mask(np.zeros(5), frame.wires, np.random.default_rng(0))


def test_oracle_backend_refuses_a_mask_of_another_size():
    backend = OracleBackend(64)
    with pytest.raises(ValueError, match=r"\(64, 64\)"):
        backend.set_mask(np.zeros((32, 32)))


def test_network_one_frame_ahead_of_tracing_gives_the_serial_results(crossing_frames):
    # The node runs infer() on frame k+1 while finish() traces frame k; a measurement on a blank frame
    # in between (finish with track=False) must not touch the wires being tracked.
    seq = crossing_frames[0]
    backend = OracleBackend(512)
    serial = GuidewirePipeline(backend)
    expected = []
    for frame in seq:
        backend.set_mask(frame.mask)
        expected.append(serial.process(frame.image))

    staged = GuidewirePipeline(backend)
    results, pending = [], None
    for frame in [*seq, None]:
        ahead = None
        if frame is not None:
            backend.set_mask(frame.mask)
            ahead = staged.infer(frame.image)
        if pending is not None:
            results.append(staged.finish(pending))
            backend.set_mask(np.zeros((512, 512), np.uint8))
            for _ in range(6):  # tracked, six empty frames would make the tracker forget both wires
                assert staged.finish(staged.infer(np.zeros((512, 512), np.uint8)), track=False).wires == []
        pending = ahead
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        assert np.array_equal(got.mask, want.mask)
        assert [w.wire_id for w in got.wires] == [w.wire_id for w in want.wires] == [1, 2]
        for a, b in zip(got.wires, want.wires):
            assert np.array_equal(a.points, b.points)
