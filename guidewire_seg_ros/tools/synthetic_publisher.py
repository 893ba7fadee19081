"""A ROS 2 "fluoroscope": publishes a synthetic fluoroscopy sequence with its ground truth.

Topics (relative, remappable)::

    image                        sensor_msgs/Image (mono8 or mono16), stamped at publication
    ground_truth/mask            sensor_msgs/Image mono8 0/255, same header as the frame
    ground_truth/centrelines     guidewire_seg/GuidewireArray, same header as the frame

Frames are generated before publishing starts (the generator is slower than real time at 512²), and
publishing waits until ``wait_for_subscribers`` subscribers see the image topic, so no frame is sent
into the void at start-up. The process exits after the last frame.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy
from sensor_msgs.msg import Image

from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_seg.msg import GuidewireArray

from ..image_conversion import gray_to_image_fields
from ..messages import wires_to_msg

__all__ = ["SyntheticPublisher", "main"]


class SyntheticPublisher(Node):
    """Publishes ``frames`` synthetic frames at ``rate_hz`` (parameters below, all read-only)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("synthetic_fluoroscopy", **kwargs)
        p = {
            "frames": self.declare_parameter("frames", 60).value,
            "rate_hz": self.declare_parameter("rate_hz", 15.0).value,
            "seed": self.declare_parameter("seed", 0).value,
            "size": self.declare_parameter("size", 512).value,
            "bit_depth": self.declare_parameter("bit_depth", 8).value,
            "preset": self.declare_parameter("preset", "medium").value,
            "frame_id": self.declare_parameter("frame_id", "fluoroscope").value,
            "wait_for_subscribers": self.declare_parameter("wait_for_subscribers", 1).value,
            "reliable": self.declare_parameter("reliable", True).value,
        }
        self.p = p
        cfg = SyntheticConfig.preset(p["preset"], size=int(p["size"]), bit_depth=int(p["bit_depth"]),
                                     fps=float(p["rate_hz"]))
        t0 = time.monotonic()
        self.frames = generate_sequence(cfg, int(p["seed"]), int(p["frames"]))
        self.get_logger().info(f"generated {len(self.frames)} frames ({cfg.size}px, {cfg.bit_depth}-bit, "
                               f"{p['preset']}) in {time.monotonic() - t0:.1f} s")
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE if p["reliable"] else ReliabilityPolicy.BEST_EFFORT)
        self.image_pub = self.create_publisher(Image, "image", qos)
        self.mask_pub = self.create_publisher(Image, "ground_truth/mask", qos)
        self.lines_pub = self.create_publisher(GuidewireArray, "ground_truth/centrelines", qos)

    def wait_for_subscribers(self, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        need = int(self.p["wait_for_subscribers"])
        while self.image_pub.get_subscription_count() < need:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        time.sleep(0.5)  # let discovery finish on the subscribers' side as well
        return True

    def run(self) -> int:
        """Publish every frame on a fixed schedule (no drift: each frame has its own deadline)."""
        if not self.wait_for_subscribers():
            self.get_logger().error("no subscriber appeared on the image topic within 60 s")
            return 1
        period = 1.0 / float(self.p["rate_hz"])
        start = time.monotonic()
        for i, frame in enumerate(self.frames):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            header = self._header()
            h, w = frame.image.shape
            self.image_pub.publish(Image(header=header, **gray_to_image_fields(frame.image)))
            self.mask_pub.publish(Image(header=header, **gray_to_image_fields((frame.mask * 255).astype(np.uint8))))
            self.lines_pub.publish(wires_to_msg(header, w, h, frame.wires))
        self.get_logger().info(f"published {len(self.frames)} frames at {self.p['rate_hz']} Hz")
        time.sleep(0.5)
        return 0

    def _header(self):
        from std_msgs.msg import Header

        return Header(stamp=self.get_clock().now().to_msg(), frame_id=str(self.p["frame_id"]))


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    code = 0
    node = None
    try:
        node = SyntheticPublisher()
        code = node.run()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
