"""Test-side helpers for driving a real guidewire_seg node process over real rclpy topics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header

from guidewire_seg.msg import GuidewireArray
from guidewire_seg_ros.tools.spinning import BackgroundSpinner
from guidewire_seg_ros.topic_diagnostics import NODE_STATUS_SUFFIX

REPO = Path(__file__).resolve().parent.parent
#: The node's own status in each DiagnosticArray is named "<node>: guidewire segmentation"; the others
#: are its per-topic statuses ("<node>: <topic> topic status").


def node_status(array: DiagnosticArray):
    """The node's own DiagnosticStatus in a DiagnosticArray (None when absent)."""
    return next((s for s in array.status if s.name.endswith(NODE_STATUS_SUFFIX)), None)


def status_values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def start_node(ros_params: dict, image_topic: str, log_path: Path, extra_args: list[str] = (),
               env: dict | None = None, node_name: str = "guidewire_seg") -> subprocess.Popen:
    """Start ``python -m guidewire_seg_ros.node`` in its own process with ``-p name:=value`` params.

    ``node_name`` renames the node (and so its output topics, ``/<node_name>/mask`` ...): a test
    that runs it beside another node must give it a name of its own and the same name to its
    :class:`Probe`, or the probe's outputs match the other node's publishers.
    """
    args = [sys.executable, "-m", "guidewire_seg_ros.node", "--ros-args", "-r", f"image:={image_topic}",
            "-r", f"__node:={node_name}"]
    for name, value in ros_params.items():
        args += ["-p", f"{name}:={value}"]
    args += list(extra_args)
    full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen(args, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=full_env, cwd=REPO)


def stop_node(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"node did not exit within {timeout} s of signal {sig}")
    return proc.returncode


class Probe(Node):
    """Publishes frames to the node and collects its outputs by stamp."""

    def __init__(self, image_topic: str, node_name: str = "guidewire_seg", reliable: bool = True) -> None:
        super().__init__(f"probe_{os.getpid()}_{int(time.monotonic() * 1000) % 100000}")
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.image_pub = self.create_publisher(Image, image_topic, qos)
        self.masks: dict[int, Image] = {}
        self.lines: dict[int, GuidewireArray] = {}
        self.clouds: dict[int, PointCloud2] = {}
        self.diagnostics: list[DiagnosticArray] = []
        self.received_at: dict[int, float] = {}  # stamp -> time.monotonic() when its centrelines arrived
        self._cond = threading.Condition()
        out_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.lines_topic = f"/{node_name}/centrelines"
        self._outputs = (
            self.create_subscription(Image, f"/{node_name}/mask", self._keep(self.masks), out_qos),
            self.create_subscription(GuidewireArray, self.lines_topic, self._keep(self.lines), out_qos),
            self.create_subscription(PointCloud2, f"/{node_name}/centreline_points", self._keep(self.clouds), out_qos),
        )
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self._parameter_clients: dict = {}
        self._spinner = BackgroundSpinner(self).start()
        self._stamp = 1_000_000_000
        # Set by wait_for_node: the next send_and_wait resends until served (see there).
        self._unserved = False

    def _keep(self, store: dict):
        def callback(msg):
            now = time.monotonic()
            with self._cond:
                key = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                store[key] = msg
                if store is self.lines:
                    self.received_at[key] = now
                self._cond.notify_all()
        return callback

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self._cond:
            self.diagnostics.append(msg)
            self._cond.notify_all()

    def next_header(self, frame_id: str = "fluoroscope") -> Header:
        """A unique, recognisable stamp (not now(): the node must copy it, not make its own)."""
        self._stamp += 7_654_321
        h = Header(frame_id=frame_id)
        h.stamp.sec, h.stamp.nanosec = divmod(self._stamp, 10**9)
        return h

    def wait_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def wait_for_node(self, proc: subprocess.Popen, timeout: float = 60.0) -> None:
        """Block until the node subscribes to our image topic and its outputs reach us.

        Each output subscription must have matched the node's publisher: a reliable, volatile
        message sent before that is lost to it, so seeing the publisher in the graph (discovery)
        is not enough for ``send_and_wait``, which needs all three outputs of the first frame.
        The match is counted per topic, so it is this node's only while no other node of the same
        name runs (``start_node(node_name=...)``).
        """
        deadline = time.monotonic() + timeout
        while (self.image_pub.get_subscription_count() < 1
               or any(sub.get_publisher_count() < 1 for sub in self._outputs)):
            if proc.poll() is not None:
                raise AssertionError(f"node exited with code {proc.returncode} before serving")
            if time.monotonic() > deadline:
                raise AssertionError("node did not come up in time")
            time.sleep(0.05)
        time.sleep(0.3)
        self._unserved = True

    def prime(self, msg: Image, node_name: str, timeout: float = 60.0, attempt_s: float = 3.0) -> None:
        """Make sure the node's outputs reach us, then reset its tracking: a fresh run from the next frame.

        :meth:`wait_for_node` sees the node's publishers from our side, but its writers may match our
        readers later, and an output published before then is lost (reliable, volatile); under load
        that window can outlast the settle time. So ``msg`` is sent, with a new stamp each time, until
        all three outputs of one copy arrive, and then ``~/reset_tracking`` makes the frames that follow
        a new run, as in a fresh offline pipeline. For tests that compare the node frame by frame.
        """
        from std_srvs.srv import Trigger

        deadline = time.monotonic() + timeout
        if not self._send_until_served(msg, deadline, attempt_s)[1]:
            raise AssertionError(f"no complete output from {node_name} within {timeout} s")
        client = self.create_client(Trigger, f"/{node_name}/reset_tracking")
        try:
            if not client.wait_for_service(timeout_sec=max(deadline - time.monotonic(), 1.0)):
                raise AssertionError(f"/{node_name}/reset_tracking not offered")
            if not self.wait_future(client.call_async(Trigger.Request()), max(deadline - time.monotonic(), 1.0),
                                    client.srv_name).success:
                raise AssertionError(f"/{node_name}/reset_tracking did not succeed")
        finally:
            self.destroy_client(client)

    def _send(self, msg: Image) -> int:
        """Publish ``msg`` with a new header (:meth:`next_header`); returns its stamp key."""
        msg.header = self.next_header()
        self.image_pub.publish(msg)
        return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec

    def _wait_outputs(self, key: int, timeout: float) -> bool:
        """Wait until the node's mask, centrelines and point cloud for stamp ``key`` have all arrived."""
        return self.wait_until(lambda: key in self.masks and key in self.lines and key in self.clouds, timeout)

    def send_and_wait(self, msg: Image, timeout: float = 20.0, attempt_s: float = 3.0) -> int:
        """Publish ``msg`` (its header set here) and wait for the node's mask and centrelines for it.

        The first call after :meth:`wait_for_node` resends ``msg`` (a new stamp each time, every
        ``attempt_s``) until one copy is served: the node's writers may match our readers after
        the graph shows them, and an output published before then is lost (as in :meth:`prime`,
        without the reset). Returns the served copy's stamp key.
        """
        key, served = self._send_until_served(msg, time.monotonic() + timeout,
                                              attempt_s if self._unserved else None)
        if not served:
            raise AssertionError(f"no output for stamp {key} within {timeout} s")
        return key

    def _send_until_served(self, msg: Image, deadline: float, attempt_s: float | None) -> tuple[int, bool]:
        """Send ``msg`` (a new stamp each time) until all outputs of one copy arrive or ``deadline``
        passes; the last copy's stamp key and whether it was served. ``attempt_s``: how long to wait
        for each copy before resending; None sends once and waits until the deadline."""
        while True:
            key = self._send(msg)
            left = max(deadline - time.monotonic(), 0.0)
            if self._wait_outputs(key, left if attempt_s is None else min(attempt_s, left)):
                self._unserved = False
                return key, True
            if time.monotonic() >= deadline:
                return key, False

    @staticmethod
    def wait_future(future, timeout: float, what: str):
        """The result of a service ``future`` that the probe's spinner completes; AssertionError
        naming ``what`` if it does not within ``timeout`` s."""
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise AssertionError(f"no answer from {what} within {timeout} s")
        return future.result()

    def latest_status(self):
        """The node's most recent own DiagnosticStatus (None before the first)."""
        with self._cond:
            return node_status(self.diagnostics[-1]) if self.diagnostics else None

    def wait_for_status(self, predicate, timeout: float = 10.0, since: int = 0):
        """Wait for the node's own DiagnosticStatus satisfying ``predicate``; return it (None on timeout).

        ``since`` skips the first ``since`` diagnostics received, so a caller can ask for a status
        published after an event it caused.
        """
        found = []

        def check():
            for d in reversed(self.diagnostics[since:]):
                status = node_status(d)
                if status is not None and predicate(status):
                    found.append(status)
                    return True
            return False

        self.wait_until(check, timeout)
        return found[0] if found else None

    def set_parameters(self, values: dict, node_name: str = "guidewire_seg", timeout: float = 20.0) -> list:
        """Set parameters of the running node through its real SetParameters service (as
        ``ros2 param set`` does); return the node's ``SetParametersResult`` per parameter."""
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        # One client per remote node, kept until the probe is destroyed (its service clients live on
        # the probe node, which the spinner thread is serving).
        client = self._parameter_clients.get(node_name)
        if client is None:
            client = self._parameter_clients[node_name] = AsyncParameterClient(self, node_name)
        if not client.wait_for_services(timeout_sec=timeout):
            raise AssertionError(f"parameter services of {node_name} not available within {timeout} s")
        future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
        return list(self.wait_future(future, timeout, f"set_parameters({values}) on {node_name}").results)

    def close(self) -> None:
        self._spinner.stop()
        self.destroy_node()


def ensure_rclpy() -> None:
    if not rclpy.ok():
        rclpy.init()
