"""Freshness, staleness and backend-failure policies of the node, as a real process over real topics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image

from guidewire_model.runtime.backends.fault_injection import FAULT_ENV
from guidewire_seg_ros.publish_faults import PUBLISH_FAULT_ENV
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_seg_ros.image_conversion import gray_to_image_fields

from tiny_model import export_tiny_model
from ros_probe import Probe, ensure_rclpy, node_status, start_node, stop_node

pytestmark = pytest.mark.ros


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return export_tiny_model(tmp_path_factory.mktemp("model"), width=8)


@pytest.fixture(scope="module")
def frame():
    return generate_sequence(SyntheticConfig.preset("easy", size=128), seed=1, n_frames=1)[0].image


def _values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _run(tiny_model, tmp_path, params: dict, env: dict | None = None):
    ensure_rclpy()
    log = tmp_path / "node.log"
    params = {"model_path": tiny_model, "qos_reliability": "reliable", "qos_depth": 5, **params}
    topic = f"/rel{abs(hash(tmp_path)) % 10000}/image"
    proc = start_node(params, topic, log, env=env)
    probe = Probe(topic)
    probe.wait_for_node(proc)
    return proc, probe, log


def _send(probe: Probe, image: np.ndarray) -> int:
    msg = Image(**gray_to_image_fields(image))
    msg.header = probe.next_header()
    probe.image_pub.publish(msg)
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def test_fallback_keeps_serving_after_a_backend_fault(tiny_model, tmp_path, frame):
    proc, probe, log = _run(tiny_model, tmp_path, {"on_backend_failure": "fallback"}, env={FAULT_ENV: "2"})
    try:
        served = []
        for _ in range(6):
            key = _send(probe, frame)
            served.append(probe.wait_until(lambda: key in probe.lines, 10.0))
        # Frames 1-2 on the primary backend, frame 3 hits the fault (lost, counted), 4-6 on the fallback.
        assert served == [True, True, False, True, True, True]
        status = probe.wait_for_status(lambda s: "fallback" in s.message)
        assert status is not None and status.level == DiagnosticStatus.WARN
        assert int(_values(status)["frames_failed"]) == 1
        assert proc.poll() is None
    finally:
        probe.close()
        assert stop_node(proc) == 0
    text = log.read_text()
    assert "falling back to onnxruntime on the CPU" in text and "Traceback" not in text


def test_stop_policy_stops_publishing_and_reports_error(tiny_model, tmp_path, frame):
    proc, probe, log = _run(tiny_model, tmp_path, {"on_backend_failure": "stop"}, env={FAULT_ENV: "1"})
    try:
        key = _send(probe, frame)
        assert probe.wait_until(lambda: key in probe.lines, 10.0)
        for _ in range(3):
            key = _send(probe, frame)
            assert not probe.wait_until(lambda: key in probe.lines, 1.0)
        status = probe.wait_for_status(lambda s: s.level == DiagnosticStatus.ERROR)
        assert status is not None and "not publishing" in status.message and "injected" in status.message
        assert proc.poll() is None  # alive and reporting, not hung or crashed
    finally:
        probe.close()
        assert stop_node(proc) == 0
    assert "Traceback" not in log.read_text()


def test_a_fault_while_publishing_loses_that_frame_only_and_is_logged_once_with_its_traceback(
        tiny_model, tmp_path, frame):
    # The 2nd and 3rd ~/centrelines publish calls raise; before the fix the first killed the worker
    # thread silently (the node stayed up, nothing more was served, diagnostics went stale).
    proc, probe, log = _run(tiny_model, tmp_path, {"diagnostics_period_s": 0.2}, env={PUBLISH_FAULT_ENV: "2,3"})
    try:
        outcomes = []
        for _ in range(4):
            key = _send(probe, frame)
            # The mask goes out before the centrelines, so it marks the frame as handled either way.
            assert probe.wait_until(lambda: key in probe.masks, 20.0)
            outcomes.append(probe.wait_until(lambda: key in probe.lines and key in probe.clouds, 2.0))
        assert outcomes == [True, False, False, True]
        status = probe.wait_for_status(lambda s: _values(s)["frames_publish_failed"] == "2"
                                       and _values(s)["frames_published"] == "2", timeout=10.0)
        assert status is not None and status.level == DiagnosticStatus.OK
        assert proc.poll() is None
    finally:
        probe.close()
        assert stop_node(proc) == 0
    text = log.read_text()
    # The first fault logged with its traceback; the second, within 10 s of it, only counted.
    assert text.count("Traceback") == 1 and text.count("frame lost (publish_failed") == 1, text
    assert "InjectedFault: injected fault in publish call 2" in text


def test_diagnostics_go_warn_then_stale_without_input(tiny_model, tmp_path, frame):
    # The probe may join after the node's first WARN window has passed (start-up on a loaded machine),
    # so the WARN checked is the one that follows a served frame, when the probe is certainly listening;
    # the window (stale_warn_s..stale_s) is wide so a starved timer still lands in it.
    proc, probe, _ = _run(tiny_model, tmp_path, {"stale_warn_s": 0.5, "stale_s": 4.0,
                                                 "diagnostics_period_s": 0.2})
    try:
        stale = probe.wait_for_status(lambda s: s.level == DiagnosticStatus.STALE, timeout=30.0)
        assert stale is not None and "no image received" in stale.message
        assert float(_values(stale)["seconds_since_last_input"]) >= 4.0
        key = _send(probe, frame)
        assert probe.wait_until(lambda: key in probe.lines, 20.0)
        served_at = len(probe.diagnostics)
        warn = probe.wait_for_status(lambda s: s.level == DiagnosticStatus.WARN, timeout=30.0,
                                     since=served_at)
        assert warn is not None and "no image received" in warn.message
        assert 0.5 <= float(_values(warn)["seconds_since_last_input"]) <= 4.0
        # Every status published agrees with the input age it reports.
        for array in list(probe.diagnostics):
            status = node_status(array)
            age = float(_values(status)["seconds_since_last_input"])
            expected = (DiagnosticStatus.STALE if age > 4.0 else
                        DiagnosticStatus.WARN if age > 0.5 else DiagnosticStatus.OK)
            if min(abs(age - 4.0), abs(age - 0.5)) > 0.02:  # the age is published rounded to 10 ms
                assert status.level == expected, (age, status.level, status.message)
    finally:
        probe.close()
        stop_node(proc)


def test_results_older_than_max_age_are_dropped_not_published_late(tiny_model, tmp_path, frame):
    proc, probe, _ = _run(tiny_model, tmp_path, {"max_age_ms": 0.01, "diagnostics_period_s": 0.2})
    try:
        keys = [_send(probe, frame) for _ in range(1)]
        time.sleep(0.5)
        key = _send(probe, frame)
        status = probe.wait_for_status(lambda s: int(_values(s)["frames_expired"]) >= 1, timeout=10.0)
        assert status is not None
        assert key not in probe.lines and keys[0] not in probe.lines
        assert _values(status)["frames_published"] == "0"
    finally:
        probe.close()
        stop_node(proc)
