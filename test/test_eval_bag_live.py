"""guidewire-eval-bag in live mode: a bag replayed over ROS into a real node process, outputs recorded.

The bag uses topic names of its own; the report's figures must equal a direct computation with the
pipeline on the same frames.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from guidewire_model.runtime.backends import create_backend
from guidewire_model.evaluation.bags import read_frames, write_synthetic_bag
from guidewire_model.metrics.pixels import PixelCounts, pixel_counts
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

from foreign_bag import FOREIGN, write_foreign_bag
from tiny_model import export_tiny_model

pytestmark = pytest.mark.ros

TOPICS = dict(zip(("image", "gt_mask", "gt_centrelines"), FOREIGN))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp("model"), width=16)


def _run(args, timeout=300):
    return subprocess.run([sys.executable, "-m", "guidewire_seg_ros.tools.eval_bag", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_live_replay_matches_a_direct_computation(model, tmp_path):
    frames = generate_sequence(SyntheticConfig.preset("easy", size=128, bit_depth=16), seed=4, n_frames=12)
    bag = write_foreign_bag(tmp_path / "someone_elses_run", frames, 128)
    out = tmp_path / "out"
    proc = _run(["--mode", "live", "--start-node", "--bag", str(bag), "--model", str(model),
                 "--image-topic", TOPICS["image"], "--gt-mask-topic", TOPICS["gt_mask"],
                 "--gt-centrelines-topic", TOPICS["gt_centrelines"], "--out", str(out), "--rate", "1",
                 "--idle", "2", "--quiet"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "live" and metrics["frames"] == 12
    served = {f.stamp_ns: f.image > 0 for f in read_frames(metrics["files"]["results_bag"], "/guidewire_seg/mask")}
    assert len(served) == 12 - metrics["frames_dropped"] and len(served) >= 6
    assert metrics["latency_ms"]["end_to_end"]["p50"] > 0

    pipeline = GuidewirePipeline(create_backend("onnxruntime", model, device="cpu"))
    counts = PixelCounts()
    for frame in read_frames(bag, TOPICS["image"], TOPICS["gt_mask"], TOPICS["gt_centrelines"]):
        if frame.stamp_ns in served:
            mask = pipeline.process(frame.image).mask.astype(bool)
            np.testing.assert_array_equal(mask, served[frame.stamp_ns])
            counts = counts + pixel_counts(mask, frame.gt_mask.astype(bool))
    assert {k: metrics["pixel"][k] for k in ("tp", "fp", "fn", "tn")} == {
        "tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn}
    report = (out / "report.md").read_text()
    assert "live" in report.lower()


def test_live_mode_reports_wrong_topic_with_the_bags_topics(model, tmp_path):
    bag = write_synthetic_bag(tmp_path / "b", SyntheticConfig.preset("easy", size=64), seed=1, n_frames=2,
                              image_topic="/a/image")
    proc = _run(["--mode", "live", "--bag", str(bag), "--image-topic", "/nope", "--out", str(tmp_path / "o")])
    assert proc.returncode == 2
    assert "/a/image" in proc.stderr and "sensor_msgs/msg/Image" in proc.stderr


def test_record_mode_beside_an_external_player(model, tmp_path):
    """Record-only mode: something else publishes (as `ros2 bag play` would); we record and score."""
    import time

    from sensor_msgs.msg import Image

    from guidewire_seg.msg import GuidewireArray
    from guidewire_seg_ros.image_conversion import gray_to_image_fields
    from guidewire_seg_ros.messages import wires_to_msg
    from ros_probe import Probe, ensure_rclpy, start_node, stop_node

    ensure_rclpy()
    node = start_node({"model_path": model, "qos_reliability": "reliable"}, "/play/image", tmp_path / "node.log")
    probe = Probe("/play/image")
    mask_pub = probe.create_publisher(Image, "/play/gt_mask", 10)
    lines_pub = probe.create_publisher(GuidewireArray, "/play/gt_wires", 10)
    out = tmp_path / "out"
    recorder = subprocess.Popen(
        [sys.executable, "-m", "guidewire_seg_ros.tools.eval_bag", "--mode", "record", "--image-topic", "/play/image",
         "--gt-mask-topic", "/play/gt_mask", "--gt-centrelines-topic", "/play/gt_wires", "--duration", "12",
         "--out", str(out), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        probe.wait_for_node(node)
        deadline = time.monotonic() + 30
        while probe.count_subscribers("/play/gt_wires") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        frames = generate_sequence(SyntheticConfig.preset("easy", size=128), seed=2, n_frames=8)
        for frame in frames:
            header = probe.next_header()
            mask_pub.publish(Image(header=header, **gray_to_image_fields(frame.mask * 255)))
            lines_pub.publish(wires_to_msg(header, 128, 128, frame.wires))
            probe.image_pub.publish(Image(header=header, **gray_to_image_fields(frame.image)))
            time.sleep(0.15)
        output, _ = recorder.communicate(timeout=60)
    finally:
        probe.close()
        stop_node(node)
        if recorder.poll() is None:
            recorder.kill()
    assert recorder.returncode == 0, output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "record" and metrics["frames"] == 8
    assert metrics["pixel"]["frames"] >= 6 and "centreline" in metrics
    assert metrics["latency_ms"]["end_to_end"]["p99"] < 5000
