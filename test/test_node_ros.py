"""The guidewire_seg node as a real process, driven over real rclpy topics from this process.

Localhost discovery and a per-session ROS_DOMAIN_ID come from conftest.py.
"""

from __future__ import annotations

import signal

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image

from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.core.polyline import closest_point_distances
from guidewire_model.metrics.pixels import pixel_counts
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_seg_ros.image_conversion import gray_to_image_fields, image_to_gray
from guidewire_seg_ros.messages import msg_to_wires
from guidewire_seg_ros.pointcloud import cloud_to_array

from tiny_model import export_tiny_model
from ros_probe import Probe, ensure_rclpy, node_status, start_node, status_values, stop_node

pytestmark = pytest.mark.ros

DEFAULT_MODEL = shipped_models_dir() / "default.onnx"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained but real exported network: enough for encodings, headers and lifecycle."""
    return export_tiny_model(tmp_path_factory.mktemp("model"), width=8)


@pytest.fixture(scope="module")
def running_node(tiny_model, tmp_path_factory):
    ensure_rclpy()
    log = tmp_path_factory.mktemp("node") / "node.log"
    # Per-topic rate bounds no probe sending frame by frame can meet (so the WARN path shows), and a
    # stamp age wide enough for a loaded machine (the probe's own 1970s stamps still exceed it).
    proc = start_node({"model_path": tiny_model, "qos_reliability": "reliable", "qos_depth": 5,
                       "diagnostics_period_s": 0.25, "diagnostics_min_hz": 100.0, "diagnostics_max_hz": 200.0,
                       "diagnostics_max_stamp_age_s": 60.0}, "/t/image", log)
    probe = Probe("/t/image")
    probe.wait_for_node(proc)
    yield proc, probe, log
    code = stop_node(proc)
    probe.close()
    assert code == 0, log.read_text()


def _image(array: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    a = array.astype(array.dtype.newbyteorder(">" if bigendian else "<"))
    rows = a.reshape(a.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    return Image(height=a.shape[0], width=a.shape[1], encoding=encoding, is_bigendian=bigendian,
                 step=rows.shape[1], data=rows.tobytes())


def _frame(size=160):
    return generate_sequence(SyntheticConfig.preset("easy", size=size), seed=3, n_frames=1)[0]


ENCODED = {
    "mono8": lambda g8, g16: g8,
    "8UC1": lambda g8, g16: g8,
    "mono16": lambda g8, g16: g16,
    "16UC1": lambda g8, g16: g16,
    "32FC1": lambda g8, g16: (g8 / 255.0).astype(np.float32),
    "rgb8": lambda g8, g16: np.repeat(g8[..., None], 3, axis=2),
    "bgr8": lambda g8, g16: np.repeat(g8[..., None], 3, axis=2),
    "rgba8": lambda g8, g16: np.dstack([g8, g8, g8, np.full_like(g8, 255)]),
    "bgra8": lambda g8, g16: np.dstack([g8, g8, g8, np.full_like(g8, 255)]),
}


@pytest.mark.parametrize("encoding, pad, bigendian", [
    *[(e, 0, False) for e in ENCODED],
    ("mono8", 13, False), ("rgb8", 7, False), ("mono16", 6, False), ("mono16", 0, True), ("32FC1", 8, True),
])
def test_every_encoding_gives_a_mask_with_the_inputs_size_and_header(running_node, encoding, pad, bigendian):
    _, probe, _ = running_node
    g8 = _frame().image
    g16 = g8.astype(np.uint16) * 257
    h, w = 150, 170  # not the model's size: outputs must come back at the input's size
    g8, g16 = g8[:h, :w] if g8.shape[0] >= h else g8, g16[:h, :w]
    msg = _image(ENCODED[encoding](g8, g16), encoding, pad, bigendian)
    key = probe.send_and_wait(msg)
    mask = probe.masks[key]
    assert mask.encoding == "mono8" and (mask.height, mask.width) == (g8.shape[0], g8.shape[1])
    assert mask.header.frame_id == "fluoroscope"
    assert mask.header.stamp == msg.header.stamp  # the input's stamp, never now()
    values = set(np.unique(image_to_gray(mask)).tolist())
    assert values <= {0, 255}
    lines = probe.lines[key]
    assert lines.header == msg.header
    assert (lines.image_width, lines.image_height) == (g8.shape[1], g8.shape[0])
    cloud_header = probe.clouds[key].header  # pixel units: the image's "_pixels" frame (REP-103)
    assert cloud_header.stamp == msg.header.stamp and cloud_header.frame_id == "fluoroscope_pixels"


def test_point_cloud_matches_the_centrelines(running_node):
    _, probe, _ = running_node
    frame = _frame(256)
    key = probe.send_and_wait(Image(**gray_to_image_fields(frame.image)))
    wires = msg_to_wires(probe.lines[key])
    points = cloud_to_array(probe.clouds[key])
    assert len(points) == sum(len(w.points) for w in wires)
    for wire in wires:
        mine = points[points["wire_id"] == wire.wire_id]
        np.testing.assert_allclose(np.c_[mine["x"], mine["y"]], wire.points, atol=1e-3)
        assert mine["index"].tolist() == list(range(len(wire.points)))


def _float_frame(value: float) -> Image:
    return Image(**{**gray_to_image_fields(np.zeros((16, 16), np.uint8)), "encoding": "32FC1", "step": 64,
                    "data": np.full((16, 16), value, np.float32).tobytes()})


def test_malformed_frames_are_skipped_counted_and_the_next_good_frame_is_served(running_node):
    proc, probe, log = running_node
    good = Image(**gray_to_image_fields(_frame().image))
    bad = [
        ("encoding", Image(height=4, width=4, encoding="yuv422", step=8, data=bytes(32))),
        ("data_length", Image(height=4, width=4, encoding="mono8", step=4, data=bytes(3))),
        ("step", Image(height=4, width=4, encoding="mono16", step=4, data=bytes(16))),
        ("size", Image(height=0, width=0, encoding="mono8", step=0, data=b"")),
        # Float frames of NaN or +Inf: refused, never served as a (meaningless) mask.
        ("non_finite", _float_frame(np.nan)),
        ("non_finite", _float_frame(np.inf)),
    ]
    before = _malformed(probe)
    sent = []
    for i, (kind, msg) in enumerate(bad, start=1):
        # One at a time: the keep-latest slot would otherwise (rightly) drop all but the last.
        msg.header = probe.next_header()
        sent.append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
        probe.image_pub.publish(msg)
        assert probe.wait_until(lambda: _malformed(probe)["frames_malformed"] >= before["frames_malformed"] + i,
                                timeout=20.0), (kind, _malformed(probe), log.read_text())
        assert f"skipping malformed image ({kind}" in log.read_text()
    probe.send_and_wait(good)
    assert proc.poll() is None
    after = _malformed(probe)
    assert after["malformed_non_finite"] - before["malformed_non_finite"] == 2
    for kind in ("encoding", "data_length", "step", "size"):
        assert after[f"malformed_{kind}"] - before[f"malformed_{kind}"] == 1, kind
    assert not any(key in probe.masks or key in probe.lines for key in sent)
    assert "Traceback" not in log.read_text()


def _malformed(probe: Probe) -> dict[str, int]:
    """The latest malformed counters of the node (0 for a kind not seen yet)."""
    status = probe.latest_status()
    values = status_values(status) if status is not None else {}
    keys = ["frames_malformed"] + [f"malformed_{k}" for k in ("encoding", "data_length", "step", "size", "non_finite")]
    return {k: int(values.get(k, 0)) for k in keys}


def _wait_for_text(path, text: str, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return True
        time.sleep(0.05)
    return False


def test_diagnostics_report_rate_latency_drops_and_backend(running_node):
    _, probe, _ = running_node
    for _ in range(3):
        probe.send_and_wait(Image(**gray_to_image_fields(_frame().image)))
    probe.diagnostics.clear()
    assert probe.wait_until(lambda: len(probe.diagnostics) >= 2, timeout=5.0)
    status = node_status(probe.diagnostics[-1])
    assert status.name == "guidewire_seg: guidewire segmentation" and status.hardware_id
    keys = status_values(status)
    for key in ("fps", "latency_p50_ms", "latency_p99_ms", "frames_dropped", "frames_received",
                "frames_lost_in_transport", "frames_publish_failed", "backend", "model", "threshold"):
        assert key in keys
    assert keys["backend"] == "onnxruntime"
    assert int(keys["frames_published"]) >= 1
    # The time split of served frames: the pipeline dominates; the shell's own share is measured.
    pipeline, own, queue = (float(keys[k]) for k in ("pipeline_ms_p50", "node_own_ms_p50", "queue_ms_p50"))
    assert pipeline > 0 and own > 0 and queue >= 0
    assert pipeline + own <= float(keys["latency_p99_ms"]) + 1e-6


TOPIC_KEYS = ["Events in window", "Events since startup", "Duration of window (s)", "Actual frequency (Hz)",
              "Minimum acceptable frequency (Hz)", "Maximum acceptable frequency (Hz)",
              "Earliest timestamp delay:", "Latest timestamp delay:", "Earliest acceptable timestamp delay:",
              "Latest acceptable timestamp delay:", "Late diagnostic update count:",
              "Early diagnostic update count:", "Zero seen diagnostic update count:"]


def test_each_output_topic_has_a_diagnostic_updater_topic_status(running_node):
    """Per output topic a status named and laid out as diagnostic_updater's TopicDiagnostic writes it: the
    published frames counted, the rate bounds given, and the stamp age judged on the node's clock."""
    _, probe, _ = running_node
    names = {topic: f"guidewire_seg: /guidewire_seg/{topic} topic status"
             for topic in ("mask", "centrelines", "centreline_points")}

    def topic_status(array, topic):
        return next((s for s in array.status if s.name == names[topic]), None)

    # A frame stamped with the probe's own 1970s stamps: 50+ years old on the node's clock.
    since = len(probe.diagnostics)
    probe.send_and_wait(Image(**gray_to_image_fields(_frame().image)))
    old = "Timestamps too far in past seen."
    assert probe.wait_until(lambda: any(
        (st := topic_status(d, "centrelines")) is not None and old in st.message
        for d in probe.diagnostics[since:]), timeout=20.0)
    array = probe.diagnostics[-1]
    assert node_status(array) is not None and node_status(array) is array.status[-1]
    for topic in names:
        st = topic_status(array, topic)
        assert st is not None and st.hardware_id == node_status(array).hardware_id != ""
        values = status_values(st)
        assert list(values) == TOPIC_KEYS, topic
        assert float(values["Minimum acceptable frequency (Hz)"]) == pytest.approx(90.0)  # 100 Hz - 10 %
        assert float(values["Maximum acceptable frequency (Hz)"]) == pytest.approx(220.0)
        assert float(values["Latest acceptable timestamp delay:"]) == pytest.approx(60.0)
        assert int(values["Events since startup"]) >= 1
        assert int(values["Late diagnostic update count:"]) >= 1  # the old stamp was judged too old
    # The overlay is off: no status for a topic that is not published.
    assert not any("/overlay topic status" in st.name for st in array.status)

    # A frame stamped now (the probe and the node share this host's clock) is judged reasonable. First
    # wait until an update saw no frame at all, so the next one with a frame holds only this frame.
    mark = len(probe.diagnostics)
    assert probe.wait_until(lambda: any(
        "No data since last update." in topic_status(d, "centrelines").message
        for d in probe.diagnostics[mark:]), timeout=20.0)
    mark = len(probe.diagnostics)
    msg = Image(**gray_to_image_fields(_frame().image))
    msg.header = probe.next_header()
    msg.header.stamp = probe.get_clock().now().to_msg()
    probe.image_pub.publish(msg)

    def first_update_with_the_frame():
        # The stamp window restarts at every update; the first one not saying "No data" holds the frame.
        for d in probe.diagnostics[mark:]:
            st = topic_status(d, "centrelines")
            if st is not None and "No data since last update." not in st.message:
                return st
        return None

    assert probe.wait_until(lambda: first_update_with_the_frame() is not None, timeout=20.0)
    fresh = first_update_with_the_frame()
    values = status_values(fresh)
    assert 0.0 <= float(values["Latest timestamp delay:"]) <= 60.0, values
    assert old not in fresh.message
    # Sent one at a time, the frames never reach 90 Hz: the frequency part warns, as the bounds say.
    assert fresh.message == "Frequency too low." and fresh.level == DiagnosticStatus.WARN


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_the_node_cleanly(tiny_model, tmp_path, sig):
    ensure_rclpy()
    log = tmp_path / "node.log"
    # running_node (module scope) is up too: its own name, so the probe waits for this node's outputs.
    proc = start_node({"model_path": tiny_model}, "/sig/image", log, node_name="guidewire_seg_sig")
    probe = Probe("/sig/image", node_name="guidewire_seg_sig")
    try:
        probe.wait_for_node(proc)
    finally:
        probe.close()
    assert stop_node(proc, sig) == 0
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("param, value, words", [
    ("max_wires", "0", ["max_wires", "[1, 8]"]),
    ("backend", "magic", ["backend", "onnxruntime"]),
    ("qos_reliability", "sometimes", ["qos_reliability", "best_effort"]),
    ("threshold", "3.0", ["threshold"]),
])
def test_bad_parameters_stop_the_node_at_start(tiny_model, tmp_path, param, value, words):
    log = tmp_path / "node.log"
    proc = start_node({"model_path": tiny_model, param: value}, "/bad/image", log)
    assert proc.wait(60) != 0
    text = log.read_text()
    for word in words:
        assert word in text, text
    assert "Traceback" not in text


def test_bad_model_file_stops_the_node_naming_the_file(tiny_model, tmp_path):
    import onnx

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx model at all")
    truncated = tmp_path / "truncated.onnx"
    data = tiny_model.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    bare = tmp_path / "no_metadata.onnx"
    model = onnx.load(str(tiny_model))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    for path, words in [(junk, ""), (tmp_path / "missing.onnx", "not found"), (truncated, ""),
                        (bare, "metadata")]:
        log = tmp_path / f"{path.stem}.log"
        proc = start_node({"model_path": path}, "/bad/image", log)
        assert proc.wait(60) != 0
        text = log.read_text()
        assert str(path) in text and words in text and "Traceback" not in text, text


def test_default_model_over_ros_equals_the_offline_pipeline(tmp_path):
    """The shipped model on synthetic 512 px frames over ROS: the node publishes exactly what the
    offline pipeline computes (masks, ordered centrelines, ids), the masks beat the trivial
    baselines by a wide margin, and most of the published centreline lies on the true wires. (The
    model also traces some distractors and misses faint wires; accuracy itself is reported by
    ``centreline_bench``, not asserted here.)"""
    from guidewire_model.runtime.backends import create_backend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    assert DEFAULT_MODEL.is_file(), f"the shipped default model {DEFAULT_MODEL} is missing"
    ensure_rclpy()
    log = tmp_path / "node.log"
    proc = start_node({"model_path": DEFAULT_MODEL, "qos_reliability": "reliable", "qos_depth": 5,
                       "max_age_ms": 10000.0}, "/acc/image", log, node_name="guidewire_seg_acc")
    # Its own name beside running_node (module scope): otherwise the probe's outputs match that
    # node's publishers at once, and this node's first frame can be published before they match it.
    probe = Probe("/acc/image", node_name="guidewire_seg_acc")
    offline = GuidewirePipeline(create_backend("onnxruntime", DEFAULT_MODEL))
    frames = generate_sequence(SyntheticConfig.preset("medium", size=512), seed=11, n_frames=5)
    counts, fg, on_true_wire, published_points, frames_with_wires, near_share = None, [], 0, 0, 0, []
    try:
        probe.wait_for_node(proc)
        # Frame by frame against a fresh offline pipeline: the outputs must reach us from the first
        # compared frame on, and the warm-up frame must not count in the node's tracking.
        probe.prime(Image(**gray_to_image_fields(frames[0].image)), "guidewire_seg_acc")
        for frame in frames:
            key = probe.send_and_wait(Image(**gray_to_image_fields(frame.image)))
            mask = image_to_gray(probe.masks[key]) > 0
            expected = offline.process(frame.image)
            np.testing.assert_array_equal(mask, expected.mask.astype(bool))
            wires = msg_to_wires(probe.lines[key])
            assert [w.wire_id for w in wires] == [w.wire_id for w in expected.wires]
            for got, want in zip(wires, expected.wires):
                np.testing.assert_allclose(got.points, want.points, atol=1e-6)
            def to_truth(points, wires=frame.wires):
                # Each wire on its own: one polyline through both would add a segment between them.
                return np.min([closest_point_distances(points, w.points) for w in wires], axis=0)

            # Chance level: the share of the image within 3 px of a true wire, where curves drawn
            # anywhere (noise, the border) would land.
            rows, cols = np.mgrid[0:frame.image.shape[0]:4, 0:frame.image.shape[1]:4]
            grid = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)
            near_share.append(float(np.mean(to_truth(grid) < 3.0)))
            for got in wires:
                on_true_wire += int(np.sum(to_truth(got.points) < 3.0))
                published_points += len(got.points)
            frames_with_wires += bool(wires)
            c = pixel_counts(mask, frame.mask.astype(bool))
            counts = c if counts is None else counts + c
            fg.append(frame.mask.mean())
    finally:
        probe.close()
        stop_node(proc)
    p = float(np.mean(fg))
    assert counts.f1 > max(0.2, 5 * 2 * p / (1 + p)), counts
    # Centrelines on the true wires far above chance: the share of published centreline points
    # within 3 px of a true wire against the share of the image that is (a pipeline tracing noise or
    # the border scores near chance). How accurate they are is centreline_bench's to report.
    assert frames_with_wires >= len(frames) - 1
    chance = float(np.mean(near_share))
    assert on_true_wire >= 10 * chance * published_points, (on_true_wire, published_points, chance)
