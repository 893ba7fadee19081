"""Speed and quality of centreline extraction and tracking on synthetic ground-truth masks.

::

    python -m guidewire_model.centreline_bench                      # ms per 512x512 mask, one core
    python -m guidewire_model.centreline_bench --eval-gt --sequences 5 --frames 40
    python -m guidewire_model.centreline_bench --model models/default.onnx --sequences 5 --frames 40

The ``--eval-gt`` run feeds the generator's *ground-truth* masks to :func:`extract_centrelines` and
:class:`WireTracker`, so it measures centreline and tracking quality apart from segmentation; the
``--model`` run traces the masks a model predicts (the whole pipeline, as the node runs it) and
adds the model's pixel scores: strict ``pixel_precision`` / ``pixel_recall`` / ``pixel_f1`` and,
beside them, ``pixel_tolerance`` (F1@2; see :mod:`guidewire_model.metrics`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from guidewire_model.centreline import extract_centrelines
from guidewire_model.centreline_metrics import CentrelineScores
from guidewire_model.tracking import WireTracker

__all__ = ["benchmark_speed", "evaluate_on_ground_truth", "main"]


def _single_core() -> None:
    # Pin to one core so the figure is the per-core cost the ROS node pays per frame.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


def _frames(preset: str, sequences: int, frames: int, seed: int, **overrides):
    from guidewire_model.synthetic import SyntheticConfig, generate_sequence

    cfg = SyntheticConfig.preset(preset, size=512, **overrides)
    for s in range(sequences):
        yield s, generate_sequence(cfg, seed + s, frames)


def benchmark_speed(masks: list[np.ndarray], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per mask of :func:`extract_centrelines`: p50, p99, mean over all calls."""
    extract_centrelines(masks[0])  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        for mask in masks:
            t0 = time.perf_counter()
            extract_centrelines(mask)
            times.append((time.perf_counter() - t0) * 1e3)
    t = np.asarray(times)
    return {"masks": len(masks), "calls": len(t), "ms_p50": float(np.percentile(t, 50)),
            "ms_p99": float(np.percentile(t, 99)), "ms_mean": float(t.mean())}


def evaluate_on_ground_truth(preset: str = "medium", sequences: int = 5, frames: int = 40, seed: int = 0,
                             crossing_probability: float = 0.7, side_by_side_probability: float = 0.4,
                             gate_px: float = 10.0) -> dict[str, float]:
    """Centreline and identity scores from ground-truth masks of synthetic sequences (512^2)."""
    scores = CentrelineScores(gate_px=gate_px)
    tracked = CentrelineScores(gate_px=gate_px)
    for _, seq in _frames(preset, sequences, frames, seed, crossing_probability=crossing_probability,
                          side_by_side_probability=side_by_side_probability):
        tracker = WireTracker(max_wires=2)
        scores.new_sequence()
        tracked.new_sequence()
        for frame in seq:
            cls = extract_centrelines(frame.mask)
            scores.update(cls, frame.wires, crossing=frame.crossing)
            tracked.update(tracker.update(cls), frame.wires, crossing=frame.crossing)
    out = scores.summary()
    t = tracked.summary()
    for key in ("id_consistency", "id_switches", "id_switches_per_100_frames"):
        out[key] = t[key]
        out[f"crossing_{key}"] = t[f"crossing_{key}"]
    return out


def evaluate_with_model(model_path: str, preset: str = "medium", sequences: int = 5, frames: int = 40,
                        seed: int = 0, crossing_probability: float = 0.7, side_by_side_probability: float = 0.4,
                        gate_px: float = 10.0) -> dict[str, float]:
    """Centreline, identity and pixel scores (strict and F1@2) of the whole pipeline on synthetic
    sequences (512^2)."""
    from guidewire_model.backends import create_backend
    from guidewire_model.metrics import AccuracyCounts, accuracy_counts
    from guidewire_model.pipeline import GuidewirePipeline

    pipeline = GuidewirePipeline(create_backend("auto", model_path, device="cpu"))
    scores = CentrelineScores(gate_px=gate_px)
    counts = AccuracyCounts()
    for _, seq in _frames(preset, sequences, frames, seed, crossing_probability=crossing_probability,
                          side_by_side_probability=side_by_side_probability):
        pipeline.reset()
        scores.new_sequence()
        for frame in seq:
            result = pipeline.process(frame.image)
            counts = counts + accuracy_counts(result.mask.astype(bool), frame.mask.astype(bool))
            scores.update(result.wires, frame.wires, crossing=frame.crossing)
    out = scores.summary()
    out.update({"pixel_precision": counts.pixel.precision, "pixel_recall": counts.pixel.recall,
                "pixel_f1": counts.pixel.f1, "pixel_tolerance": counts.tolerance_dict()})
    return out


def _rounded(value):
    """Floats to 3 decimals, inside nested dicts too (the printout, not the figures, is rounded)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 3) if isinstance(value, float) else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--eval-gt", action="store_true", help="score centrelines from ground-truth masks")
    parser.add_argument("--preset", default="medium", choices=("easy", "medium", "hard"))
    parser.add_argument("--sequences", type=int, default=5)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crossing-probability", type=float, default=0.7)
    parser.add_argument("--side-by-side-probability", type=float, default=0.4)
    parser.add_argument("--repeats", type=int, default=3, help="speed: passes over the masks")
    parser.add_argument("--model", help="score the masks this model predicts (ONNX or .pt) instead")
    args = parser.parse_args(argv)
    if args.model:
        result = evaluate_with_model(args.model, args.preset, args.sequences, args.frames, args.seed,
                                     args.crossing_probability, args.side_by_side_probability)
    elif args.eval_gt:
        _single_core()
        result = evaluate_on_ground_truth(args.preset, args.sequences, args.frames, args.seed,
                                          args.crossing_probability, args.side_by_side_probability)
    else:
        _single_core()
        frames = _frames(args.preset, args.sequences, args.frames, args.seed)
        masks = [f.mask for _, seq in frames for f in seq]
        result = benchmark_speed(masks, args.repeats)
    json.dump(_rounded(result), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
