"""End-to-end node benchmark: ROS in -> ROS out, against the offline pipeline on the same frames.

::

    python -m guidewire_seg_ros.tools.node_bench --frames 150 --rate 30

Measurements, printed as a table (and written as JSON with ``--json``):

1. **offline** — :class:`GuidewirePipeline` called directly on the frames (no ROS): ms per frame.
2. **saturated** — the node in its own process, fed at twice the offline rate so its worker never
   waits for a frame: served FPS is the node's capacity. *Node overhead* = offline FPS / served FPS
   - 1: what the ROS shell costs in throughput. The node's own ``/diagnostics`` split (image
   decoding + message building + publishing vs the pipeline) says where it goes.
3. **closed loop** — each frame published only after the previous result came back: the round trip
   including two transport hops and this process's receive, over the offline time per frame.
4. **open loop at ``--rate``** — frames on a fixed schedule whatever the node does (a fluoroscope does
   not wait): served FPS, latency p50/p99 (input stamp -> result received), frames dropped, and the
   node's resident memory before and after.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from guidewire_model.runtime.backends import create_backend
from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.runtime.rolling_stats import latency_summary
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_seg_ros.topic_diagnostics import NODE_STATUS_SUFFIX

__all__ = ["main", "overheads", "served_fps"]


def offline_timings(model: Path, frames: list[np.ndarray]) -> dict[str, float]:
    """Per-frame wall time of the pipeline called directly (after one warm-up pass)."""
    pipeline = GuidewirePipeline(create_backend("auto", model, device="cpu"))
    for image in frames[:5]:
        pipeline.process(image)
    pipeline.reset()
    times = []
    for image in frames:
        t0 = time.perf_counter()
        pipeline.process(image)
        times.append((time.perf_counter() - t0) * 1e3)
    pipeline.backend.close()
    s = latency_summary(times)
    return {"ms_mean": s["mean"], "ms_p50": s["p50"], "ms_p99": s["p99"], "fps": 1000.0 / s["mean"]}


def served_fps(received_ns: Sequence[int]) -> float:
    """Rate at which results came out, first to last [1/s]; NaN with fewer than two results.

    Not results / sending time: results still arrive after the last frame was sent.
    """
    out_ns = sorted(received_ns)
    if len(out_ns) < 2 or out_ns[-1] == out_ns[0]:
        return float("nan")
    return (len(out_ns) - 1) / ((out_ns[-1] - out_ns[0]) / 1e9)


def overheads(offline: dict[str, float], closed: dict[str, float], split: dict[str, float],
              saturated: dict[str, float]) -> dict[str, float]:
    """What the ROS shell costs, from the four measurements of :func:`main`.

    Returns
    -------
    dict
        ``throughput``: offline FPS / saturated served FPS - 1; ``round_trip``: closed-loop mean /
        offline mean - 1 (two transport hops and the receive); ``node_own_work``: the node's own
        work p50 (decode, messages, publish) / its pipeline p50.
    """
    return {"throughput": offline["fps"] / saturated["served_fps"] - 1.0,
            "round_trip": closed["ms_mean"] / offline["ms_mean"] - 1.0,
            "node_own_work": split["node_own_ms_p50"] / split["pipeline_ms_p50"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="node_bench", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=str(shipped_models_dir() / "default.onnx"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rate", type=float, default=30.0, help="open-loop input rate [Hz]")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--log", default="out/node_bench.log", help="the node's log")
    args = parser.parse_args(argv)

    import psutil
    import rclpy
    from .spinning import BackgroundSpinner
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from .processes import ros_environment, start_module, stop_process, wait_for_node
    from ..image_conversion import gray_to_image_fields
    from .recorder import ResultRecorder

    model = Path(args.model).resolve()
    print(f"[bench] generating {args.frames} frames ({args.size}px)", flush=True)
    frames = [f.image for f in generate_sequence(SyntheticConfig.preset("medium", size=args.size), args.seed,
                                                 args.frames)]
    offline = offline_timings(model, frames)
    print(f"[bench] offline pipeline: {offline['ms_mean']:.1f} ms/frame", flush=True)

    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    node = start_module("guidewire_seg_ros.node", ["-r", "image:=/bench/image", "-p", f"model_path:={model}",
                                              "-p", "device:=cpu"], Path(args.log))
    ros_environment()
    rclpy.init()
    recorder = ResultRecorder("/guidewire_seg/mask", "/guidewire_seg/centrelines", keep_images=False)
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
    pub = recorder.create_publisher(Image, "/bench/image", qos)
    spinner = BackgroundSpinner(recorder).start()
    messages = [Image(**gray_to_image_fields(f)) for f in frames]
    stamp = [0]

    def publish(i: int) -> int:
        now = recorder.get_clock().now().nanoseconds
        stamp[0] = max(now, stamp[0] + 1)
        h = Header(frame_id="bench")
        h.stamp.sec, h.stamp.nanosec = divmod(stamp[0], 10**9)
        messages[i].header = h
        pub.publish(messages[i])
        return stamp[0]

    diagnostics: dict[str, str] = {}
    fresh_diagnostics = threading.Event()

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(NODE_STATUS_SUFFIX):
                diagnostics.clear()
                diagnostics.update({kv.key: kv.value for kv in status.values})
                fresh_diagnostics.set()

    recorder.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    def open_loop(rate_hz: float) -> dict[str, float]:
        """Publish every frame on a fixed schedule, whatever the node does; then count what came back."""
        recorder.records.clear()
        rss_before = proc.memory_info().rss
        period = 1.0 / rate_hz
        start = time.monotonic()
        for i in range(len(messages)):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            publish(i)
        time.sleep(1.0)
        rss_after = proc.memory_info().rss
        served = [r for r in recorder.snapshot() if r.wires_received_ns is not None]
        lat = latency_summary(r.latency_ms for r in served)
        fps = served_fps([r.wires_received_ns for r in served])
        return {"rate_hz": rate_hz, "published": len(messages), "served": len(served),
                "dropped": len(messages) - len(served), "served_fps": fps,
                "latency_p50_ms": lat["p50"], "latency_p99_ms": lat["p99"],
                "node_rss_before_mb": rss_before / 2**20, "node_rss_after_mb": rss_after / 2**20}

    try:
        if not wait_for_node(recorder, ["/guidewire_seg/centrelines"], node, publisher=pub):
            print(f"[bench] node did not start; see {args.log}", file=sys.stderr)
            return 1
        proc = psutil.Process(node.pid)

        # Closed loop: each frame after the previous result came back; two transport hops per frame.
        for i in range(5):  # warm-up
            recorder.wait_for_wires(publish(i), 10)
        t0 = time.perf_counter()
        loop_ms = []
        unanswered = 0
        for i in range(len(messages)):
            t1 = time.perf_counter()
            # A frame the node drops (e.g. its result came later than max_age_ms) gets no answer.
            if not recorder.wait_for_wires(publish(i), 5):
                unanswered += 1
                if node.poll() is not None or unanswered > len(messages) // 10:
                    print(f"[bench] the node stopped answering; see {args.log}", file=sys.stderr)
                    return 1
                continue
            loop_ms.append((time.perf_counter() - t1) * 1e3)
        closed_elapsed = time.perf_counter() - t0
        loop = latency_summary(loop_ms)
        closed = {"fps": len(loop_ms) / closed_elapsed, "unanswered": unanswered, "ms_mean": loop["mean"],
                  "ms_p50": loop["p50"], "ms_p99": loop["p99"]}
        # The node's time split of the closed-loop frames: its next /diagnostics after the loop.
        fresh_diagnostics.clear()
        fresh_diagnostics.wait(5.0)
        split = {k: float(diagnostics.get(k, "nan")) for k in ("queue_ms_p50", "pipeline_ms_p50", "node_own_ms_p50")}

        # Saturated: input at twice the offline pipeline's rate, so the worker never waits for a frame;
        # served FPS is the node's capacity, to compare with the offline pipeline's.
        saturated = open_loop(2.0 * offline["fps"])
        # Open loop at the fluoroscope's rate.
        open_run = open_loop(args.rate)
    finally:
        stop_process(node)
        spinner.stop()
        recorder.destroy_node()
        rclpy.try_shutdown()

    overhead = overheads(offline, closed, split, saturated)
    round_trip, throughput, own_share = overhead["round_trip"], overhead["throughput"], overhead["node_own_work"]
    result = {"model": str(model), "size": args.size, "frames": len(frames), "offline": offline,
              "closed_loop": closed, "node_split": split, "saturated": saturated, "open_loop": open_run,
              "overhead": overhead}
    print(f"\n| measurement | figure |\n|---|---|\n"
          f"| offline pipeline, ms/frame (mean / p50 / p99) | {offline['ms_mean']:.1f} / {offline['ms_p50']:.1f} / "
          f"{offline['ms_p99']:.1f} |\n"
          f"| offline pipeline, FPS | {offline['fps']:.1f} |\n"
          f"| node saturated ({saturated['rate_hz']:.0f} Hz in), served FPS | {saturated['served_fps']:.1f} |\n"
          f"| **node overhead, throughput** (offline FPS / saturated FPS - 1) | {throughput:+.1%} |\n"
          f"| node's own work per frame, p50 (decode + messages + publish) / pipeline p50 | "
          f"{split['node_own_ms_p50']:.2f} / {split['pipeline_ms_p50']:.1f} ms ({own_share:.1%}) |\n"
          f"| closed loop (publish -> centrelines received, 2 transport hops), FPS | {closed['fps']:.1f} |\n"
          f"| closed loop, ms/frame (mean / p50 / p99) | {closed['ms_mean']:.1f} / {closed['ms_p50']:.1f} / "
          f"{closed['ms_p99']:.1f} |\n"
          f"| round trip over the offline pipeline (closed-loop mean / offline mean - 1) | {round_trip:+.1%} |\n"
          f"| open loop {args.rate:g} Hz: published / served / dropped | {open_run['published']} / "
          f"{open_run['served']} / {open_run['dropped']} |\n"
          f"| open loop {args.rate:g} Hz: served FPS | {open_run['served_fps']:.1f} |\n"
          f"| open loop {args.rate:g} Hz: latency p50 / p99 | {open_run['latency_p50_ms']:.1f} / "
          f"{open_run['latency_p99_ms']:.1f} ms |\n"
          f"| node RSS before / after open loop | {open_run['node_rss_before_mb']:.1f} / "
          f"{open_run['node_rss_after_mb']:.1f} MB |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
