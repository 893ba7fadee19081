"""Stand-alone recorder for ``demo.launch.py``: waits for a run to finish, then prints and writes figures.

It records the node's outputs and the synthetic fluoroscope's inputs and ground truth, and once no
new input has arrived for ``idle_s`` seconds after the first one, writes the same summary, overlay
strip and video as ``guidewire-demo`` and exits.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException

from .demo import _format, summarise, write_visuals
from .recorder import ResultRecorder


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    probe = rclpy.create_node("demo_recorder_params")
    out_dir = Path(probe.declare_parameter("out", "out/demo").value)
    ns = probe.declare_parameter("input_namespace", "/fluoro").value
    node_ns = probe.declare_parameter("node_name", "/guidewire_seg").value
    idle_s = float(probe.declare_parameter("idle_s", 5.0).value)
    rate = float(probe.declare_parameter("rate_hz", 15.0).value)
    probe.destroy_node()
    recorder = ResultRecorder(f"{node_ns}/mask", f"{node_ns}/centrelines", image_topic=f"{ns}/image",
                              gt_mask_topic=f"{ns}/ground_truth/mask",
                              gt_centrelines_topic=f"{ns}/ground_truth/centrelines")
    try:
        last_count, last_change = 0, time.monotonic()
        while rclpy.ok():
            rclpy.spin_once(recorder, timeout_sec=0.1)
            count = len(recorder.records)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            elif count and time.monotonic() - last_change > idle_s:
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    records = recorder.snapshot()
    inputs = [r for r in records if r.input_received_ns is not None]
    if inputs:
        out_dir.mkdir(parents=True, exist_ok=True)
        duration = (inputs[-1].input_received_ns - inputs[0].input_received_ns) / 1e9 + 1.0 / rate
        summary = summarise(records, duration)
        write_visuals(records, out_dir)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        print(_format(summary), flush=True)
    recorder.destroy_node()
    rclpy.try_shutdown()
    return 0 if inputs else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
