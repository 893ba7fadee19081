"""``guidewire-soak``: drive the node for a long procedure and watch it for leaks and drift.

::

    guidewire-soak --frames 10000 --rate 30            # ~6 minutes at 30 Hz

The node runs in its own process; this process publishes synthetic frames at ``--rate`` and listens
to the node's centrelines. It prints, per window of frames, latency percentiles (input stamp -> result
received), frames served and dropped, and the node's resident memory, open file descriptors and
threads; at the end, the growth of each after warm-up. Exit code 1 when memory grew more than
``--max-rss-growth-mb`` or descriptors or threads grew at all after warm-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path


from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.runtime.rolling_stats import latency_summary

__all__ = ["main"]


def _node_stats(proc) -> dict[str, float]:
    with proc.oneshot():
        return {"rss_mb": proc.memory_info().rss / 2**20, "fds": proc.num_fds(), "threads": proc.num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guidewire-soak", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model", default=str(shipped_models_dir() / "default.onnx"))
    parser.add_argument("--frames", type=int, default=10000, help="frames to publish")
    parser.add_argument("--rate", type=float, default=30.0, help="input rate [Hz]")
    parser.add_argument("--size", type=int, default=512, help="frame side [px]")
    parser.add_argument("--distinct", type=int, default=32, help="distinct synthetic frames, cycled")
    parser.add_argument("--warmup", type=int, default=500, help="frames before the baseline is taken")
    parser.add_argument("--window", type=int, default=1000, help="frames per printed row")
    parser.add_argument("--max-rss-growth-mb", type=float, default=5.0)
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--log", default="out/soak_node.log")
    args = parser.parse_args(argv)
    if args.warmup >= args.frames:
        parser.error("--warmup must be smaller than --frames")

    import psutil
    import rclpy
    from .spinning import BackgroundSpinner
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from guidewire_model.synthetic import SyntheticConfig, generate_sequence
    from guidewire_seg.msg import GuidewireArray

    from .processes import ros_environment, start_module, stop_process, wait_for_node
    from ..image_conversion import gray_to_image_fields

    images = [f.image for f in generate_sequence(SyntheticConfig.preset("medium", size=args.size), 1, args.distinct)]
    messages = [Image(**gray_to_image_fields(im)) for im in images]
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    node = start_module("guidewire_seg_ros.node", ["-r", "image:=/soak/image", "-p", f"model_path:={Path(args.model).resolve()}",
                                              "-p", "device:=cpu"], Path(args.log))
    ros_environment()
    rclpy.init()
    me = rclpy.create_node("guidewire_soak")
    pub = me.create_publisher(Image, "/soak/image", QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                                              reliability=ReliabilityPolicy.RELIABLE))
    lock = threading.Lock()
    pending: dict[int, int] = {}  # stamp -> publish time; bounded by pruning below
    latencies: list[tuple[int, float]] = []  # (frame index, ms)
    index_of: dict[int, int] = {}

    def on_result(msg: GuidewireArray) -> None:
        now = me.get_clock().now().nanoseconds
        key = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        with lock:
            sent = pending.pop(key, None)
            if sent is not None:
                latencies.append((index_of.pop(key), (now - sent) / 1e6))

    me.create_subscription(GuidewireArray, "/guidewire_seg/centrelines", on_result,
                           QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE))
    spinner = BackgroundSpinner(me).start()
    rows, baseline, final = [], None, None
    try:
        if not wait_for_node(me, ["/guidewire_seg/centrelines"], node, publisher=pub):
            print(f"guidewire-soak: the node did not start; see {args.log}", file=sys.stderr)
            return 2
        proc = psutil.Process(node.pid)
        period = 1.0 / args.rate
        start = time.monotonic()
        window_start = 0
        for i in range(args.frames):
            delay = start + i * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = messages[i % len(messages)]
            now = me.get_clock().now().nanoseconds
            h = Header(frame_id="soak")
            h.stamp.sec, h.stamp.nanosec = divmod(now, 10**9)
            msg.header = h
            with lock:
                pending[now] = now
                index_of[now] = i
                # Frames the node dropped never get an answer: forget them after 10 s.
                for key in [k for k in pending if now - k > 10 * 10**9]:
                    pending.pop(key)
                    index_of.pop(key, None)
            pub.publish(msg)
            if i + 1 == args.warmup:
                time.sleep(0.5)
                baseline = _node_stats(proc)
            if (i + 1) % args.window == 0 or i + 1 == args.frames:
                rows.append(_window_row(window_start, i + 1, latencies, lock, proc))
                print(_format_row(rows[-1]), flush=True)
                window_start = i + 1
        time.sleep(1.0)
        final = _node_stats(proc)
        alive = node.poll() is None
    finally:
        code = stop_process(node)
        spinner.stop()
        me.destroy_node()
        rclpy.try_shutdown()

    served = len(latencies)
    lat = latency_summary(ms for _, ms in latencies)
    growth = {k: final[k] - baseline[k] for k in final}
    ok = alive and code == 0 and growth["rss_mb"] <= args.max_rss_growth_mb and growth["fds"] <= 0 \
        and growth["threads"] <= 0
    result = {"frames": args.frames, "rate_hz": args.rate, "served": served, "dropped": args.frames - served,
              "latency_p50_ms": lat["p50"], "latency_p99_ms": lat["p99"],
              "after_warmup": baseline, "end": final, "growth": growth, "node_exit_code": code, "ok": ok,
              "windows": rows}
    print(f"\nnode after warm-up ({args.warmup} frames): RSS {baseline['rss_mb']:.1f} MB, {baseline['fds']} fds, "
          f"{baseline['threads']} threads")
    print(f"node at the end ({args.frames} frames):     RSS {final['rss_mb']:.1f} MB, {final['fds']} fds, "
          f"{final['threads']} threads")
    print(f"growth after warm-up: RSS {growth['rss_mb']:+.2f} MB (limit {args.max_rss_growth_mb}), "
          f"fds {growth['fds']:+d}, threads {growth['threads']:+d}; served {served}/{args.frames}, "
          f"latency p50 {result['latency_p50_ms']:.1f} ms, p99 {result['latency_p99_ms']:.1f} ms; "
          f"node exit code {code} -> {'PASS' if ok else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


def _window_row(first: int, last: int, latencies, lock, proc) -> dict:
    with lock:
        window = [ms for i, ms in latencies if first <= i < last]
    stats = _node_stats(proc)
    latency = latency_summary(window)
    return {"frames": f"{first}-{last - 1}", "served": len(window), "dropped": (last - first) - len(window),
            "p50_ms": latency["p50"], "p99_ms": latency["p99"], **stats}


def _format_row(row: dict) -> str:
    return (f"frames {row['frames']:>11}: served {row['served']:5d}, dropped {row['dropped']:5d}, latency p50 "
            f"{row['p50_ms']:6.1f} ms p99 {row['p99_ms']:6.1f} ms | node RSS {row['rss_mb']:7.1f} MB, "
            f"{row['fds']} fds, {row['threads']} threads")


if __name__ == "__main__":
    sys.exit(main())
