"""The node's lifecycle and its reset service, driven from another process as a lifecycle manager does.

The node runs as its own process with ``autostart: false``; this process calls its real
``~/change_state``, ``~/get_state`` and ``~/reset_tracking`` services and checks what it publishes in
each state. The model marks dark lines (test/line_model.py), so the served frames' wires are known.
"""

from __future__ import annotations


import numpy as np
import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from guidewire_seg_ros.image_conversion import gray_to_image_fields
from guidewire_seg_ros.messages import msg_to_wires

from line_model import dark_curves, export_line_model
from ros_probe import Probe, ensure_rclpy, start_node, status_values, stop_node

pytestmark = pytest.mark.ros

SIZE = 128
NODE = "/guidewire_seg"


@pytest.fixture(scope="module")
def line_model(tmp_path_factory):
    return export_line_model(tmp_path_factory.mktemp("model"), size=SIZE)


def two_wires() -> np.ndarray:
    t = np.linspace(0.0, 1.0, 50)
    return dark_curves((SIZE, SIZE), [np.c_[30 + 10 * np.sin(3 * t), 10 + 100 * t],
                                      np.c_[95 - 10 * np.sin(3 * t), 10 + 100 * t]])


class Manager:
    """Service clients of one lifecycle node, on the probe's node (its spinner serves the replies)."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.change = probe.create_client(ChangeState, f"{NODE}/change_state")
        self.get = probe.create_client(GetState, f"{NODE}/get_state")
        self.reset = probe.create_client(Trigger, f"{NODE}/reset_tracking")
        for client in (self.change, self.get, self.reset):
            assert client.wait_for_service(timeout_sec=30.0), f"{client.srv_name} not offered"

    def _call(self, client, request):
        return self.probe.wait_future(client.call_async(request), 60.0, client.srv_name)

    def state(self) -> int:
        return self._call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        return self._call(self.change, ChangeState.Request(transition=Transition(id=transition_id))).success

    def reset_tracking(self) -> Trigger.Response:
        return self._call(self.reset, Trigger.Request())


def _node_value(probe: Probe, key: str, predicate, since: int) -> dict:
    status = probe.wait_for_status(lambda s: key in status_values(s) and predicate(status_values(s)[key]),
                                   timeout=20.0, since=since)
    assert status is not None, f"no diagnostics with a matching {key}; last: {probe.latest_status()}"
    return status_values(status)


def _ids(probe: Probe, frame: np.ndarray) -> list[int]:
    key = probe.send_and_wait(Image(**gray_to_image_fields(frame)))
    return [w.wire_id for w in msg_to_wires(probe.lines[key])]


def test_a_manager_walks_the_node_through_its_states(line_model, tmp_path):
    ensure_rclpy()
    log = tmp_path / "node.log"
    proc = start_node({"model_path": line_model, "autostart": "false", "qos_reliability": "reliable",
                       "qos_depth": 5, "diagnostics_period_s": 0.2}, "/lifecycle/image", log)
    probe = Probe("/lifecycle/image")
    try:
        manager = Manager(probe)
        # Unconfigured: no model, no outputs, nothing subscribed; the reset has nothing to reset.
        assert manager.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert probe.count_publishers(probe.lines_topic) == 0
        assert probe.image_pub.get_subscription_count() == 0
        assert not manager.reset_tracking().success
        assert _node_value(probe, "lifecycle_state", lambda v: v == "unconfigured", 0)

        # Inactive: the model is loaded and the outputs exist, but the node does not subscribe yet.
        assert manager.transition(Transition.TRANSITION_CONFIGURE)
        assert manager.state() == State.PRIMARY_STATE_INACTIVE
        assert probe.wait_until(lambda: probe.count_publishers(probe.lines_topic) == 1, 30.0)
        _node_value(probe, "lifecycle_state", lambda v: v == "inactive", len(probe.diagnostics))
        assert probe.image_pub.get_subscription_count() == 0
        assert not probe.lines and not probe.masks

        # Active: served, tracked; a reset makes the ids start again at 1.
        assert manager.transition(Transition.TRANSITION_ACTIVATE)
        assert manager.state() == State.PRIMARY_STATE_ACTIVE
        probe.wait_for_node(proc)
        assert _ids(probe, two_wires()) == [1, 2]
        blank = np.full((SIZE, SIZE), 200, np.uint8)
        for _ in range(7):  # the tracker forgets wires missing for more than 5 frames
            assert _ids(probe, blank) == []
        assert _ids(probe, two_wires()) == [3, 4]
        answer = manager.reset_tracking()
        assert answer.success and "restart at 1" in answer.message
        assert _ids(probe, two_wires()) == [1, 2]

        # Deactivated: unsubscribed, nothing served; cleaned up: the model and the outputs are gone.
        assert manager.transition(Transition.TRANSITION_DEACTIVATE)
        assert probe.wait_until(lambda: probe.image_pub.get_subscription_count() == 0, 30.0)
        _node_value(probe, "lifecycle_state", lambda v: v == "inactive", len(probe.diagnostics))
        assert manager.transition(Transition.TRANSITION_CLEANUP)
        assert manager.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert probe.wait_until(lambda: probe.count_publishers(probe.lines_topic) == 0, 30.0)

        # Configured and activated again, it serves again; shut down, it is finalized and exits cleanly.
        assert manager.transition(Transition.TRANSITION_CONFIGURE)
        assert manager.transition(Transition.TRANSITION_ACTIVATE)
        probe.wait_for_node(proc)
        assert _ids(probe, two_wires()) == [1, 2]
        assert manager.transition(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert manager.state() == State.PRIMARY_STATE_FINALIZED
    finally:
        probe.close()
        code = stop_node(proc)
    assert code == 0, log.read_text()


def test_a_failed_configure_leaves_the_node_unconfigured_and_says_why(tmp_path):
    ensure_rclpy()
    log = tmp_path / "node.log"
    missing = tmp_path / "no_such_model.onnx"
    proc = start_node({"model_path": str(missing), "autostart": "false", "diagnostics_period_s": 0.2},
                      "/lifecycle_bad/image", log)
    probe = Probe("/lifecycle_bad/image")
    try:
        manager = Manager(probe)
        assert not manager.transition(Transition.TRANSITION_CONFIGURE)
        assert manager.state() == State.PRIMARY_STATE_UNCONFIGURED
        status = probe.wait_for_status(lambda s: "configure failed" in s.message, timeout=20.0)
        assert status is not None and str(missing) in status.message, probe.latest_status()
        assert proc.poll() is None  # waiting for a manager to fix the parameter, not exited
    finally:
        probe.close()
        code = stop_node(proc)
    assert code == 0, log.read_text()
