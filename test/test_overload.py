"""Overload: frames at 60 Hz into a node whose model takes far longer than 1/60 s.

The paper's ResNet-50 LinkNet on the CPU is that slow model. The callback must never block (almost
every frame is received), latency must stay bounded by about two inference times (one frame may wait
for the one in progress) and must not grow over the run, memory must stay flat, and every frame must be
accounted for in the diagnostics.
"""

from __future__ import annotations

import time

import numpy as np
import psutil
import pytest
from sensor_msgs.msg import Image

from guidewire_model.runtime.backends import create_backend
from guidewire_model.training.config import load_train_config
from guidewire_model.training.export import export_model
from guidewire_model.training.network import build_model
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_seg_ros.image_conversion import gray_to_image_fields

from ros_probe import Probe, ensure_rclpy, start_node, stop_node

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RATE_HZ, SECONDS = 60.0, 10.0


def test_overload_keeps_latency_bounded_and_counts_every_drop(tmp_path):
    cfg = load_train_config(overrides={"model.pretrained": False, "model.input_size": 256})  # paper's ResNet-50
    model = tmp_path / "paper256.onnx"
    export_model(build_model(cfg.model).eval(), cfg, model, n_check_frames=1)
    frames = [f.image for f in generate_sequence(SyntheticConfig.preset("medium", size=256), 3, 8)]
    pipeline = GuidewirePipeline(create_backend("onnxruntime", model, threads=1))
    pipeline.process(frames[0])
    inference_ms = float(np.median([pipeline.process(f).timings.total_ms for f in frames[:4]]))
    assert inference_ms > 3 * 1000 / RATE_HZ, "the model must be much slower than the input for this test"

    ensure_rclpy()
    log = tmp_path / "node.log"
    node = start_node({"model_path": model, "inference_threads": 1, "diagnostics_period_s": 0.5}, "/ovl/image", log)
    probe = Probe("/ovl/image")
    try:
        probe.wait_for_node(node, timeout=120)
        proc = psutil.Process(node.pid)
        sent, rss = [], []
        start = time.monotonic()
        n = int(RATE_HZ * SECONDS)
        for i in range(n):
            delay = start + i / RATE_HZ - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = Image(**gray_to_image_fields(frames[i % len(frames)]))
            msg.header = probe.next_header()
            probe.image_pub.publish(msg)
            sent.append((msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, time.monotonic()))
            if i in (n // 5, n - 1):
                rss.append(proc.memory_info().rss / 2**20)
        time.sleep(3 * inference_ms / 1000 + 1.0)
        final = probe.wait_for_status(lambda s: int(_v(s)["frames_received"]) >= 0.95 * n and
                                      int(_v(s)["frames_published"]) == len(probe.lines), timeout=10)
    finally:
        probe.close()
        code = stop_node(node)
    assert code == 0 and "Traceback" not in log.read_text()
    assert final is not None, "diagnostics never caught up with the run"
    counts = {k: int(v) for k, v in _v(final).items() if k.startswith("frames_")}
    # The callback never blocks: (almost) every frame sent is received, though few can be served.
    assert counts["frames_received"] >= 0.95 * n
    served = len(probe.lines)
    assert 0 < served < 0.5 * n
    # Every frame is accounted for: served, dropped for a newer one, or (at most one) still in the slot.
    accounted = (counts["frames_published"] + counts["frames_dropped"] + counts["frames_expired"]
                 + counts["frames_failed"] + counts["frames_malformed"] + counts["frames_not_served"])
    assert counts["frames_received"] - 1 <= accounted <= counts["frames_received"]
    # Latency: input published -> centrelines received, bounded by about two inference times.
    sent_at = dict(sent)
    received_at = {k: v for k, v in probe.received_at.items() if k in sent_at}
    latency = np.array([(received_at[k] - sent_at[k]) * 1e3 for k in sorted(received_at)])
    # The inference time as the node itself measured it during the run, under whatever else the
    # machine was doing then, if that was slower than the measurement before the run.
    during_ms = float(_v(final).get("pipeline_ms_p50", "nan"))
    bound = 2.5 * max(inference_ms, during_ms if np.isfinite(during_ms) else 0.0) + 150.0
    # This bound also rules out a backlog: with frames arriving ~20x faster than they are served, a
    # queue would add a whole inference time per served frame and pass it within a few frames. (A
    # first-third vs last-third comparison was dropped: it measured how the machine's other load
    # changed during the run, and failed on a loaded machine.)
    assert np.percentile(latency, 99) <= bound, (np.percentile(latency, 99), inference_ms)
    assert rss[-1] - rss[0] <= 10.0  # memory flat (MB)


def _v(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}
