"""The main job: synthetic fluoroscopy -> ROS topic -> guidewire_seg node -> recorder -> figures.

Three processes, as on a robot: a synthetic fluoroscope publishing frames and ground truth at 15 fps,
the node with the shipped default model, and this process recording the node's outputs. At the end it
writes an overlay strip (and a video where OpenCV can encode one) and prints achieved FPS, latency
p50/p99, dropped frames, pixel F1 (strict, and F1@2 within 2 px: ``tolerance`` in ``summary.json``) and
centreline / tip errors against the synthetic ground truth.

On a ROS 2 install ``ros2 launch guidewire_seg demo.launch.py`` starts the same processes; this
command exists because launch_ros cannot be installed from PyPI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from guidewire_model.metrics.wires import DISTAL_PX, TIP_FOUND_PX, CentrelineScores, CoverageScores, wires_cross
from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.metrics.pixels import AccuracyCounts, accuracy_counts
from guidewire_model.runtime.rolling_stats import latency_summary
from guidewire_model.runtime.wire_overlay import render_overlay

from .processes import ros_environment, start_module, stop_process, wait_for_node

__all__ = ["main", "summarise"]

NAMESPACE = "/fluoro"
NODE_TOPICS = {"mask": "/guidewire_seg/mask", "centrelines": "/guidewire_seg/centrelines"}


def summarise(records: list, duration_s: float, crossing_gap_px: float = 8.0,
              crossing_exclude_px: float = 30.0) -> dict:
    """Figures of a recorded run (records in stamp order, as from ``ResultRecorder.snapshot``)."""
    inputs = [r for r in records if r.input_received_ns is not None]
    served = [r for r in inputs if r.wires_received_ns is not None and r.mask_received_ns is not None]
    latency = latency_summary(r.latency_ms for r in served)
    counts = AccuracyCounts()
    scores = CentrelineScores()
    coverage = CoverageScores()
    for r in served:
        if r.gt_mask is not None and r.mask is not None:
            counts = counts + accuracy_counts(r.mask.astype(bool), r.gt_mask.astype(bool))
        if r.gt_wires is not None and r.mask is not None:
            coverage.update(r.mask, r.gt_wires)
        if r.gt_wires is not None:
            scores.update(r.wires, r.gt_wires, crossing=wires_cross(r.gt_wires, crossing_gap_px, crossing_exclude_px))
    out = {
        "frames_published": len(inputs),
        "frames_served": len(served),
        "frames_dropped": len(inputs) - len(served),
        "achieved_fps": len(served) / duration_s if duration_s > 0 else float("nan"),
        "latency_p50_ms": latency["p50"],
        "latency_p99_ms": latency["p99"],
        "precision": counts.pixel.precision,
        "recall": counts.pixel.recall,
        "f1": counts.pixel.f1,
        "tolerance": counts.tolerance_dict(),
        "wire_coverage": coverage.summary(),
    }
    out.update({f"centreline_{k}": v for k, v in scores.summary().items()})
    return out


def write_visuals(records: list, out_dir: Path, strip_frames: int = 6) -> list[Path]:
    """Overlay strip PNG of evenly spaced frames, and an MP4 of every served frame where possible."""
    served = [r for r in records if r.image is not None and r.mask is not None and r.wires is not None]
    if not served:
        return []
    written = []
    picks = np.linspace(0, len(served) - 1, min(strip_frames, len(served))).round().astype(int)
    tiles = [render_overlay(served[i].image, served[i].mask, served[i].wires) for i in picks]
    strip = np.concatenate(tiles, axis=1)
    path = out_dir / "overlay_strip.png"
    cv2.imwrite(str(path), strip[..., ::-1])
    written.append(path)
    h, w = served[0].image.shape
    video = out_dir / "overlay.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (w, h))
    if writer.isOpened():
        for r in served:
            if r.image.shape == (h, w):
                writer.write(render_overlay(r.image, r.mask, r.wires)[..., ::-1].copy())
        writer.release()
        written.append(video)
    return written


def _format(summary: dict) -> str:
    tol, cov = summary["tolerance"], summary["wire_coverage"]
    rows = [
        ("frames published / served / dropped",
         f"{summary['frames_published']} / {summary['frames_served']} / {summary['frames_dropped']}"),
        ("achieved FPS", f"{summary['achieved_fps']:.1f}"),
        ("latency p50 / p99 (stamp -> centrelines received)",
         f"{summary['latency_p50_ms']:.1f} / {summary['latency_p99_ms']:.1f} ms"),
        ("pixel precision / recall / F1",
         f"{summary['precision']:.3f} / {summary['recall']:.3f} / {summary['f1']:.3f}"),
        (f"within {tol['tolerance_px']:g} px: P@{tol['tolerance_px']:g} / R@{tol['tolerance_px']:g} / "
         f"F1@{tol['tolerance_px']:g}", f"{tol['precision']:.3f} / {tol['recall']:.3f} / {tol['f1']:.3f}"),
        (f"true wires covered within {tol['tolerance_px']:g} px (all / last {DISTAL_PX:g} px)",
         f"{cov['covered']:.1%} / {cov['distal_covered']:.1%}, {cov['gaps_per_wire']:.2f} gaps a wire"),
        ("mean centreline distance", f"{summary['centreline_mean_centreline_distance_px']:.2f} px"),
        ("tip error (mean / median)",
         f"{summary['centreline_tip_error_px']:.2f} / {summary['centreline_tip_error_median_px']:.2f} px"),
        (f"tips found within {TIP_FOUND_PX:g} px (of all wires)", f"{summary['centreline_tips_found']:.1%}"),
        ("correct instance assignment (all / crossing frames)",
         f"{summary['centreline_assignment_accuracy']:.1%} / {summary['centreline_crossing_assignment_accuracy']:.1%}"
         f" (of {summary['centreline_crossing_frames']} crossing frames)"),
        ("identity switches per 100 frames", f"{summary['centreline_id_switches_per_100_frames']:.2f}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guidewire-demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--frames", type=int, default=90, help="frames to publish")
    parser.add_argument("--rate", type=float, default=15.0, help="publishing rate [Hz]")
    parser.add_argument("--size", type=int, default=512, help="frame side [px]")
    parser.add_argument("--preset", default="medium", choices=["easy", "medium", "hard"])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--model", default=str(shipped_models_dir() / "default.onnx"), help="model file")
    parser.add_argument("--backend", default="auto", help="auto | onnxruntime | torch | tensorrt")
    parser.add_argument("--out", default="out/demo", help="output folder")
    args = parser.parse_args(argv)

    import rclpy
    from .spinning import BackgroundSpinner

    from .recorder import ResultRecorder

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    node = start_module("guidewire_seg_ros.node", [
        "-r", f"image:={NAMESPACE}/image", "-p", f"model_path:={Path(args.model).resolve()}",
        "-p", f"backend:={args.backend}", "-p", "device:=cpu" if args.backend != "tensorrt" else "device:=cuda",
    ], out_dir / "node.log")
    ros_environment()
    rclpy.init()
    recorder = ResultRecorder(NODE_TOPICS["mask"], NODE_TOPICS["centrelines"], image_topic=f"{NAMESPACE}/image",
                              gt_mask_topic=f"{NAMESPACE}/ground_truth/mask",
                              gt_centrelines_topic=f"{NAMESPACE}/ground_truth/centrelines")
    spinner = BackgroundSpinner(recorder).start()
    publisher = None
    try:
        # Publish only once the node's outputs reach the recorder, so no frame is lost to discovery.
        if not wait_for_node(recorder, list(NODE_TOPICS.values()), node):
            print(f"[demo] the node did not start (exit code {node.poll()}); {out_dir / 'node.log'}:",
                  file=sys.stderr)
            print((out_dir / "node.log").read_text()[-3000:], file=sys.stderr)
            return 1
        publisher = start_module("guidewire_seg_ros.tools.synthetic_publisher", [
            "-r", f"__ns:={NAMESPACE}", "-p", f"frames:={args.frames}", "-p", f"rate_hz:={args.rate}",
            "-p", f"size:={args.size}", "-p", f"preset:={args.preset}", "-p", f"seed:={args.seed}",
            "-p", "wait_for_subscribers:=2",
        ], out_dir / "publisher.log")
        print(f"[demo] node and synthetic fluoroscope started; {args.frames} frames at {args.rate} Hz "
              f"(logs in {out_dir})", flush=True)
        deadline = time.monotonic() + 120 + 3 * args.frames / args.rate
        while publisher.poll() is None:
            if node.poll() is not None:
                print(f"[demo] the node exited early (code {node.returncode}); see {out_dir / 'node.log'}:",
                      file=sys.stderr)
                print((out_dir / "node.log").read_text()[-3000:], file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print("[demo] timed out waiting for the publisher", file=sys.stderr)
                return 1
            time.sleep(0.2)
        time.sleep(2.0)  # the last frames are still in flight
    finally:
        if publisher is not None:
            stop_process(publisher)
        node_code = stop_process(node)
        spinner.stop()
        recorder.destroy_node()
        rclpy.try_shutdown()
    records = recorder.snapshot()
    inputs = [r for r in records if r.input_received_ns is not None]
    if not inputs:
        print(f"[demo] no frames were published; see {out_dir / 'publisher.log'}", file=sys.stderr)
        return 1
    duration = (inputs[-1].input_received_ns - inputs[0].input_received_ns) / 1e9 + 1.0 / args.rate
    scale = args.size / 512
    summary = summarise(records, duration, crossing_gap_px=8.0 * scale, crossing_exclude_px=30.0 * scale)
    summary.update({"model": str(args.model), "backend": args.backend, "size": args.size,
                    "rate_hz": args.rate, "preset": args.preset, "seed": args.seed, "node_exit_code": node_code})
    visuals = write_visuals(records, out_dir)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"[demo] results ({args.size}px {args.preset} synthetic fluoroscopy, {args.rate:g} Hz input):")
    print(_format(summary))
    for path in visuals + [out_dir / "summary.json"]:
        print(f"[demo] wrote {path}")
    if summary["frames_served"] == 0:
        print("[demo] the node served no frame", file=sys.stderr)
        return 1
    return 0 if node_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
