"""Records the node's outputs (and, when published, the inputs and ground truth) keyed by header stamp.

Used by the demo, the live bag evaluator and the soak test: each output is matched to its input by the
header stamp the node copies from the input, and its end-to-end latency is the receive time minus that
stamp (publisher and recorder share the host's clock).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from guidewire_seg.msg import GuidewireArray

from ..image_conversion import image_to_gray
from ..messages import msg_to_wires

__all__ = ["ReceivedFrame", "ResultRecorder", "stamp_ns"]


def stamp_ns(header: Any) -> int:
    """A header's stamp as integer nanoseconds (the key that matches outputs to inputs)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class ReceivedFrame:
    """What was seen for one input stamp; fields stay ``None`` until their message arrives."""

    stamp_ns: int
    image: np.ndarray | None = None
    input_received_ns: int | None = None
    mask: np.ndarray | None = None
    mask_received_ns: int | None = None
    wires: list | None = None
    wires_received_ns: int | None = None
    gt_mask: np.ndarray | None = None
    gt_wires: list | None = None

    @property
    def latency_ms(self) -> float | None:
        """Input stamp -> centrelines received (the last output the node publishes for a frame)."""
        received = self.wires_received_ns if self.wires_received_ns is not None else self.mask_received_ns
        return None if received is None else (received - self.stamp_ns) / 1e6


class ResultRecorder(Node):
    """Subscribes to a guidewire_seg node's outputs and keeps one :class:`ReceivedFrame` per stamp.

    Parameters
    ----------
    mask_topic, centrelines_topic : str
        The node's ``~/mask`` and ``~/centrelines`` as seen from here (e.g. ``/guidewire_seg/mask``).
    image_topic : str, optional
        The node's input, to count inputs (drops = inputs without outputs) and keep frames for overlays.
    gt_mask_topic, gt_centrelines_topic : str, optional
        Ground truth stamped like the inputs (the synthetic publisher's, or a bag's).
    keep_images : bool
        Store decoded input frames and masks (memory grows with the run; off for soak runs).
    """

    def __init__(self, mask_topic: str, centrelines_topic: str, image_topic: str | None = None,
                 gt_mask_topic: str | None = None, gt_centrelines_topic: str | None = None,
                 keep_images: bool = True, name: str = "guidewire_recorder") -> None:
        super().__init__(name)
        self.keep_images = keep_images
        self.records: dict[int, ReceivedFrame] = {}
        self._lock = threading.Condition()
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(Image, mask_topic, self._on_mask, qos)
        self.create_subscription(GuidewireArray, centrelines_topic, self._on_wires, qos)
        if image_topic:
            self.create_subscription(Image, image_topic, self._on_image, qos)
        if gt_mask_topic:
            self.create_subscription(Image, gt_mask_topic, self._on_gt_mask, qos)
        if gt_centrelines_topic:
            self.create_subscription(GuidewireArray, gt_centrelines_topic, self._on_gt_wires, qos)

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _record(self, header: Any) -> ReceivedFrame:
        key = stamp_ns(header)
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = ReceivedFrame(key)
        return rec

    def _on_image(self, msg: Image) -> None:
        now = self._now_ns()
        with self._lock:
            rec = self._record(msg.header)
            rec.input_received_ns = now
            if self.keep_images:
                rec.image = image_to_gray(msg)

    def _on_mask(self, msg: Image) -> None:
        now = self._now_ns()
        mask = image_to_gray(msg) if self.keep_images else None
        with self._lock:
            rec = self._record(msg.header)
            rec.mask_received_ns = now
            rec.mask = None if mask is None else (mask > 0).astype(np.uint8)

    def _on_wires(self, msg: GuidewireArray) -> None:
        now = self._now_ns()
        wires = msg_to_wires(msg)
        with self._lock:
            rec = self._record(msg.header)
            rec.wires_received_ns = now
            rec.wires = wires
            self._lock.notify_all()

    def _on_gt_mask(self, msg: Image) -> None:
        mask = (image_to_gray(msg) > 0).astype(np.uint8)
        with self._lock:
            self._record(msg.header).gt_mask = mask

    def _on_gt_wires(self, msg: GuidewireArray) -> None:
        wires = msg_to_wires(msg)
        with self._lock:
            self._record(msg.header).gt_wires = wires

    def wait_for_wires(self, key: int, timeout: float) -> bool:
        """Block until the centrelines for stamp ``key`` arrived; False after ``timeout`` seconds."""
        def arrived() -> bool:
            rec = self.records.get(key)
            return rec is not None and rec.wires_received_ns is not None

        with self._lock:
            return self._lock.wait_for(arrived, timeout)

    def snapshot(self) -> list[ReceivedFrame]:
        """Records in stamp order (a copy of the list; the records themselves are shared)."""
        with self._lock:
            return [self.records[k] for k in sorted(self.records)]

    def counts(self) -> dict[str, int]:
        recs = self.snapshot()
        inputs = sum(r.input_received_ns is not None for r in recs)
        outputs = sum(r.wires_received_ns is not None for r in recs)
        return {"inputs": inputs, "outputs": outputs, "dropped": max(inputs - outputs, 0)}
