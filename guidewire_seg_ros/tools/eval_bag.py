"""``guidewire-eval-bag``: judge the node on recorded bags, offline or live over ROS.

Modes (the metrics, results bag and report are the same code in all three,
:mod:`guidewire_model.evaluation.bag_evaluation`)::

    # offline: read the bag, run the pipeline directly (no ROS needed)
    guidewire-eval-bag --mode offline --bag run.mcap --image-topic /fluoro/image \\
        --gt-mask-topic /fluoro/ground_truth/mask --gt-centrelines-topic /fluoro/ground_truth/centrelines

    # live: replay the bag into a running node at its recorded rate (x --rate, or --rate 0 for as fast as
    # possible), record the node's outputs, match them to inputs by header stamp
    guidewire-eval-bag --mode live --start-node --bag run.mcap --image-topic /fluoro/image ...

    # record: only record (beside `ros2 bag play`, which publishes): inputs, ground truth and outputs
    guidewire-eval-bag --mode record --image-topic /fluoro/image --duration 60 ...

In live and record modes the headline latency ``end_to_end`` is the time from the frame leaving the
replayer (live) or reaching the recorder (record) to the node's centrelines reaching the recorder, so
it is valid whatever the bag's original stamps are; the stamps only match outputs to inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from guidewire_model.evaluation.bag_evaluation import FrameRecord, add_common_arguments, headline, json_ready, run_offline

from .processes import ros_environment, start_module, stop_process, wait_for_node

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guidewire-eval-bag", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--mode", choices=("offline", "live", "record"), default="offline")
    add_common_arguments(parser)
    # --bag is required by the common options; record mode has no bag to read.
    for action in parser._actions:
        if action.dest == "bag":
            action.required = False
    live = parser.add_argument_group("live and record modes")
    live.add_argument("--rate", type=float, default=1.0,
                      help="live: replay speed as a multiple of the recorded rate; 0 = as fast as possible")
    live.add_argument("--start-node", action="store_true",
                      help="live: start a guidewire_seg node (with --model/--backend) subscribed to --image-topic")
    live.add_argument("--node-name", default="/guidewire_seg",
                      help="fully qualified name of the node whose ~/mask and ~/centrelines are recorded")
    live.add_argument("--publish-topic", help="live: publish frames here instead of on --image-topic")
    live.add_argument("--duration", type=float, default=0.0,
                      help="record: stop after this many seconds (0 = when idle for --idle seconds, or Ctrl-C)")
    live.add_argument("--idle", type=float, default=5.0, help="record/live: seconds without traffic that end the run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.mode == "offline":
        if not args.bag:
            print("guidewire-eval-bag: error: --bag is required in offline mode", file=sys.stderr)
            return 2
        return run_offline(args)
    if args.mode == "live" and not args.bag:
        print("guidewire-eval-bag: error: --bag is required in live mode", file=sys.stderr)
        return 2
    return _run_ros(args)


# ------------------------------------------------------------------------------------------ ROS modes


def _run_ros(args: argparse.Namespace) -> int:
    import rclpy
    from .spinning import BackgroundSpinner

    from guidewire_model.evaluation.bags import BagError, read_frames

    from .recorder import ResultRecorder

    frames_by_bag = []
    if args.mode == "live":
        try:
            for bag in args.bag:
                stream = read_frames(bag, args.image_topic, args.gt_mask_topic, args.gt_centrelines_topic)
                frames_by_bag.append((Path(bag), list(stream), stream))
        except BagError as exc:
            print(f"guidewire-eval-bag: error: {exc}", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    node_proc = None
    if args.mode == "live" and args.start_node:
        node_proc = start_module("guidewire_seg_ros.node", [
            "-r", f"image:={args.publish_topic or args.image_topic}", "-r", f"__node:={args.node_name.rsplit('/', 1)[-1]}",
            "-p", f"model_path:={Path(args.model).resolve()}", "-p", f"backend:={args.backend}",
            "-p", f"device:={args.device}", "-p", "qos_reliability:=reliable",
        ], out / "node.log")

    ros_environment()
    rclpy.init()
    record_inputs = args.mode == "record"
    recorder = ResultRecorder(
        f"{args.node_name}/mask", f"{args.node_name}/centrelines",
        image_topic=args.image_topic if record_inputs else None,
        gt_mask_topic=args.gt_mask_topic if record_inputs else None,
        gt_centrelines_topic=args.gt_centrelines_topic if record_inputs else None,
        keep_images=True, name="guidewire_eval_bag")
    spinner = BackgroundSpinner(recorder).start()
    try:
        if args.mode == "live":
            code, records, wall, sent = _live(args, recorder, frames_by_bag, node_proc)
        else:
            code, records, wall, sent = _record(args, recorder)
    finally:
        if node_proc is not None:
            stop_process(node_proc)
        spinner.stop()
        recorder.destroy_node()
        rclpy.try_shutdown()
    if code:
        return code
    return _report(args, records, wall, sent, frames_by_bag)


def _live(args, recorder, frames_by_bag, node_proc):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ..image_conversion import gray_to_image_fields

    topic = args.publish_topic or args.image_topic
    pub = recorder.create_publisher(Image, topic, QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                                             reliability=ReliabilityPolicy.RELIABLE))
    if not wait_for_node(recorder, [f"{args.node_name}/centrelines"], node_proc, publisher=pub):
        print(f"guidewire-eval-bag: error: no node publishes {args.node_name}/centrelines "
              f"(start one, or pass --start-node){'; see ' + str(Path(args.out) / 'node.log') if node_proc else ''}",
              file=sys.stderr)
        return 1, [], 0.0, 0
    from tqdm import tqdm

    sent_at: dict[int, int] = {}
    records: list[FrameRecord] = []
    total = sum(len(frames) for _, frames, _ in frames_by_bag)
    t_start = time.monotonic()
    with tqdm(total=total, desc="replaying", unit="frame", disable=args.quiet) as bar:
        for bag, frames, _ in frames_by_bag:
            if not frames:
                continue
            first_log, wall0 = frames[0].log_time_ns, time.monotonic()
            for frame in frames:
                if args.rate > 0:
                    due = wall0 + (frame.log_time_ns - first_log) / 1e9 / args.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                header = Header(frame_id=frame.frame_id)
                header.stamp.sec, header.stamp.nanosec = divmod(frame.stamp_ns, 10**9)
                image = frame.image if frame.image.dtype.name in ("uint8", "uint16") else None
                if image is None:
                    continue  # float frames cannot be re-encoded losslessly as mono; skipped
                msg = Image(header=header, **gray_to_image_fields(image))
                sent_at[frame.stamp_ns] = recorder.get_clock().now().nanoseconds
                pub.publish(msg)
                records.append(FrameRecord(stamp_ns=frame.stamp_ns, image=frame.image, gt_mask=frame.gt_mask,
                                           gt_wires=frame.gt_wires, sequence=bag.name, frame_id=frame.frame_id,
                                           log_time_ns=frame.log_time_ns))
                bar.update()
    _wait_idle(recorder, args.idle)
    wall = time.monotonic() - t_start
    _attach_outputs(recorder, records, sent_at)
    return 0, records, wall, len(sent_at)


def _record(args, recorder):
    print(f"guidewire-eval-bag: recording {args.image_topic} and {args.node_name}/{{mask,centrelines}}; "
          f"{'for %.0f s' % args.duration if args.duration else 'until idle for %.0f s or Ctrl-C' % args.idle}",
          file=sys.stderr, flush=True)
    t_start = time.monotonic()
    try:
        if args.duration:
            time.sleep(args.duration)
        else:
            while not recorder.records:
                time.sleep(0.1)
            _wait_idle(recorder, args.idle)
    except KeyboardInterrupt:
        pass
    wall = time.monotonic() - t_start
    records, received = [], {}
    for rec in recorder.snapshot():
        if rec.input_received_ns is None:
            continue
        received[rec.stamp_ns] = rec.input_received_ns
        records.append(FrameRecord(stamp_ns=rec.stamp_ns, image=rec.image, gt_mask=rec.gt_mask,
                                   gt_wires=rec.gt_wires, sequence="recording"))
    _attach_outputs(recorder, records, received)
    return 0, records, wall, len(records)


def _wait_idle(recorder, idle_s: float) -> None:
    last, changed = -1, time.monotonic()
    while time.monotonic() - changed < idle_s:
        n = sum(r.wires_received_ns is not None for r in recorder.snapshot())
        if n != last:
            last, changed = n, time.monotonic()
        time.sleep(0.1)


def _attach_outputs(recorder, records: list[FrameRecord], reference_ns: dict[int, int]) -> None:
    """Fill each record's mask, wires and end-to-end latency from what the recorder received."""
    outputs = {r.stamp_ns: r for r in recorder.snapshot()}
    for record in records:
        out = outputs.get(record.stamp_ns)
        if out is None or out.wires is None or out.mask is None:
            continue
        record.mask, record.wires = out.mask, out.wires
        record.latency_ms = {"end_to_end": (out.wires_received_ns - reference_ns[record.stamp_ns]) / 1e6}


def _report(args, records: list[FrameRecord], wall: float, sent: int, frames_by_bag) -> int:
    from guidewire_model.evaluation.bag_evaluation import summarise_frames
    from guidewire_model.evaluation.bag_report import write_report
    from guidewire_model.evaluation.bags import write_results_bag

    served = sum(r.mask is not None for r in records)
    if not records:
        print("guidewire-eval-bag: error: no input frame was seen", file=sys.stderr)
        return 1
    summary = summarise_frames(records, threshold=args.threshold, wall_time_s=wall, frames_dropped=sent - served)
    summary["mode"] = args.mode
    summary["model"] = str(args.model) if args.mode == "live" and args.start_node else f"node {args.node_name}"
    if frames_by_bag:
        summary["bags"] = [{"name": bag.name, **stream.info()} for bag, _, stream in frames_by_bag]
    out = Path(args.out)
    results = write_results_bag(out / "results" / "live_results", records, storage=args.storage)
    files = write_report(summary, records, out, n_overlays=args.overlays)
    summary["files"] = {**{k: str(v) for k, v in files.items()}, "results_bag": str(results)}
    (out / "metrics.json").write_text(json.dumps(json_ready(summary), indent=1))
    print(headline(summary))
    print(f"report: {files['report_html']} (and report.md, metrics.json); results bag: {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
