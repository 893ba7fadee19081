"""The ROS demo's summary (what guidewire-demo and demo_recorder print): F1@2 beside strict pixel F1,
and how the masks cover the true wires.

No processes are started: the recorder's records are built here as the recorder would fill them.
"""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.synthetic import SyntheticConfig, generate_sequence

# Skipped only where ROS itself is absent; our own modules must import (a broken import fails, not skips).
pytest.importorskip("rclpy", reason="needs a ROS 2 install")
from guidewire_seg_ros.tools import recorder  # noqa: E402
from guidewire_seg_ros.tools.demo import _format, summarise  # noqa: E402


def _records(masks, gt_masks, gt_wires=None):
    """Served frames 10 ms apart, each answered 5 ms after its stamp."""
    out = []
    for i, (mask, gt) in enumerate(zip(masks, gt_masks)):
        stamp = 1_000_000_000 + i * 10_000_000
        out.append(recorder.ReceivedFrame(stamp_ns=stamp, input_received_ns=stamp, mask=mask, mask_received_ns=stamp,
                                        wires=[], wires_received_ns=stamp + 5_000_000, gt_mask=gt,
                                        gt_wires=None if gt_wires is None else gt_wires[i]))
    return out


@pytest.fixture(scope="module")
def frames():
    return generate_sequence(SyntheticConfig.preset("easy", size=96), 4, 3)


@pytest.fixture(scope="module")
def truth(frames):
    return [f.mask for f in frames]


def test_a_perfect_run_scores_one_within_tolerance_and_strictly(truth):
    s = summarise(_records(truth, truth), duration_s=1.0)
    assert (s["precision"], s["recall"], s["f1"]) == (1.0, 1.0, 1.0)
    t = s["tolerance"]
    assert t["tolerance_px"] == 2.0 and (t["precision"], t["recall"], t["f1"]) == (1.0, 1.0, 1.0)
    assert t["pred"] == sum(int(m.sum()) for m in truth) and t["skeleton"] > 0
    assert s["frames_served"] == 3 and s["latency_p50_ms"] == pytest.approx(5.0)
    assert "P@2 / R@2 / F1@2" in _format(s) and "1.000 / 1.000 / 1.000" in _format(s)


def test_an_empty_run_scores_zero_and_a_shifted_one_only_strictly(truth):
    empty = summarise(_records([np.zeros_like(m) for m in truth], truth), duration_s=1.0)
    assert empty["f1"] == 0.0 and empty["tolerance"]["f1"] == 0.0 and empty["tolerance"]["recall"] == 0.0
    # The true masks moved one pixel to the right (the wires are wider than 1 px, so some pixels still
    # overlap strictly): within 2 px everything still matches.
    shifted = [np.zeros_like(m) for m in truth]
    for moved, m in zip(shifted, truth):
        moved[:, 1:] = m[:, :-1]
    s = summarise(_records(shifted, truth), duration_s=1.0)
    assert s["f1"] < 1.0 and s["tolerance"]["f1"] == 1.0


def test_the_summary_says_how_the_masks_cover_the_true_wires(frames, truth):
    wires = [f.wires for f in frames]
    full = summarise(_records(truth, truth, wires), duration_s=1.0)["wire_coverage"]
    assert full["wires"] == sum(len(w) for w in wires) > 0
    assert (full["covered"], full["distal_covered"], full["gaps_per_wire"]) == (1.0, 1.0, 0.0)
    s = summarise(_records([np.zeros_like(m) for m in truth], truth, wires), duration_s=1.0)
    assert (s["wire_coverage"]["covered"], s["wire_coverage"]["gaps_per_wire"]) == (0.0, 1.0)
    assert "0.0% / 0.0%, 1.00 gaps a wire" in _format(s)
