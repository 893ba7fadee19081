"""Parameters changed on a running node through its real parameter service take effect on what it publishes.

The node runs as its own process; this process sets parameters as ``ros2 param set`` does (the
SetParameters service, via rclpy's AsyncParameterClient) and checks the next frame's outputs against
the offline pipeline, and the node's diagnostics. The model marks dark lines (test/line_model.py), so
every figure is exact: 1130 mask pixels and two wires at the model's threshold on this frame.
"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image

from guidewire_model.runtime.backends import create_backend
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_seg_ros.image_conversion import gray_to_image_fields, image_to_gray
from guidewire_seg_ros.messages import msg_to_wires

from line_model import dark_curves, export_line_model
from ros_probe import Probe, ensure_rclpy, start_node, status_values, stop_node

pytestmark = pytest.mark.ros

SIZE = 128


@pytest.fixture(scope="module")
def line_model(tmp_path_factory):
    return export_line_model(tmp_path_factory.mktemp("model"), size=SIZE)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    t = np.linspace(0.0, 1.0, 50)
    return dark_curves((SIZE, SIZE), [np.c_[30 + 10 * np.sin(3 * t), 10 + 100 * t],
                                      np.c_[95 - 10 * np.sin(3 * t), 10 + 100 * t]])


@pytest.fixture(scope="module")
def node(line_model, tmp_path_factory):
    ensure_rclpy()
    log = tmp_path_factory.mktemp("node") / "node.log"
    proc = start_node({"model_path": line_model, "qos_reliability": "reliable", "qos_depth": 5,
                       "diagnostics_period_s": 0.2}, "/live/image", log)
    probe = Probe("/live/image")
    probe.wait_for_node(proc)
    yield proc, probe, log
    probe.close()
    code = stop_node(proc)
    assert code == 0, log.read_text()


def _serve(probe: Probe, frame: np.ndarray) -> tuple[np.ndarray, list]:
    key = probe.send_and_wait(Image(**gray_to_image_fields(frame)))
    return image_to_gray(probe.masks[key]) > 0, msg_to_wires(probe.lines[key])


def _set(probe: Probe, **values) -> None:
    results = probe.set_parameters(values)
    assert all(r.successful for r in results), [r.reason for r in results]


def _offline_mask(line_model, frame, threshold=None) -> np.ndarray:
    return GuidewirePipeline(create_backend("onnxruntime", line_model), threshold=threshold).process(frame).mask > 0


def _diagnostic(probe: Probe, key: str, predicate, timeout: float = 20.0) -> str:
    status = probe.wait_for_status(lambda s: predicate(status_values(s).get(key, "")), timeout=timeout)
    assert status is not None, (key, status_values(probe.latest_status()))
    return status_values(status)[key]


def test_threshold_changes_and_minus_one_restores_the_models_own(node, line_model, frame):
    _, probe, _ = node
    at_model = _offline_mask(line_model, frame)
    assert at_model.sum() == 1130  # the model file's threshold, 0.5
    mask, wires = _serve(probe, frame)
    np.testing.assert_array_equal(mask, at_model)
    assert len(wires) == 2

    _set(probe, threshold=0.999)
    mask, wires = _serve(probe, frame)
    np.testing.assert_array_equal(mask, _offline_mask(line_model, frame, threshold=0.999))
    assert mask.sum() < 100 and wires == []
    _diagnostic(probe, "threshold", lambda v: v == "0.9990")

    _set(probe, threshold=-1.0)  # negative = the model's own threshold (it kept 0.999 before the fix)
    mask, wires = _serve(probe, frame)
    np.testing.assert_array_equal(mask, at_model)
    assert len(wires) == 2
    _diagnostic(probe, "threshold", lambda v: v == "0.5000")


def test_max_wires_lowered_and_raised_reaches_the_tracker(node, frame):
    _, probe, _ = node
    _set(probe, max_wires=1)
    assert len(_serve(probe, frame)[1]) == 1
    _set(probe, max_wires=2)
    assert len(_serve(probe, frame)[1]) == 2


def test_post_processing_parameter_changes_the_published_wires(node, frame):
    _, probe, _ = node
    _set(probe, min_wire_length_px=500.0)  # longer than either wire (about 100 px)
    mask, wires = _serve(probe, frame)
    assert wires == [] and mask.sum() == 1130  # the mask is not a wire decision
    _set(probe, min_wire_length_px=20.0)
    assert len(_serve(probe, frame)[1]) == 2


def test_max_age_set_then_zero_is_measured_again(node, frame):
    _, probe, _ = node
    measured = float(_diagnostic(probe, "max_age_ms", lambda v: v != ""))
    assert measured >= 250.0  # measured at start: 4x a blank frame, at least 250 ms
    _set(probe, max_age_ms=5000.0)
    _diagnostic(probe, "max_age_ms", lambda v: v == "5000")
    _set(probe, max_age_ms=0.0)  # 0 = measure again (it kept 5000 before the fix)
    again = float(_diagnostic(probe, "max_age_ms", lambda v: v not in ("", "5000")))
    assert 250.0 <= again < 5000.0
    # Tracking was off while measuring: the wires keep their ids across the re-measurement.
    ids = [w.wire_id for w in _serve(probe, frame)[1]]
    assert [w.wire_id for w in _serve(probe, frame)[1]] == ids


def test_start_only_and_out_of_range_values_are_refused_and_change_nothing(node, frame):
    _, probe, _ = node
    (backend,) = probe.set_parameters({"backend": "torch"})
    assert not backend.successful and "read-only" in backend.reason  # declared read-only: rclpy refuses it
    (threshold,) = probe.set_parameters({"threshold": 3.0})
    assert not threshold.successful
    mask, wires = _serve(probe, frame)
    assert mask.sum() == 1130 and len(wires) == 2
