"""Speed and quality of centreline extraction and tracking, apart from and with the model.

::

    python -m guidewire_model.evaluation.centreline_bench                      # ms per 512x512 mask, one core
    python -m guidewire_model.evaluation.centreline_bench --oracle --sequences 5 --frames 40
    python -m guidewire_model.evaluation.centreline_bench --demo --oracle --damaged --model models/default.onnx

Three ways to make the masks that are traced, each scored against the generator's ground-truth
centrelines with :class:`~guidewire_model.metrics.wires.CentrelineScores`:

``--oracle`` (alias ``--eval-gt``)
    the generator's *ground-truth* masks, fed through the node's whole post-processing
    (:class:`~guidewire_model.runtime.pipeline.GuidewirePipeline` with an
    :class:`~guidewire_model.evaluation.oracle_backend.OracleBackend`: field of view, threshold, centrelines,
    edge rules, tracking), so it measures the post-processing apart from segmentation;
``--damaged``
    the same masks with gaps, spurs, false-positive blobs and streaks
    (:func:`~guidewire_model.evaluation.mask_damage.damage_mask`, seeded): the post-processing's robustness;
``--model PATH``
    the masks a model predicts (the whole pipeline, as the node runs it), plus the model's pixel
    scores: strict ``pixel_precision`` / ``pixel_recall`` / ``pixel_f1`` and ``pixel_tolerance``
    (F1@2; see :mod:`guidewire_model.metrics.pixels`).

Every mode also reports ``wire_coverage``: how the traced masks cover each true wire (the share
within 2 px, the share of its last 30 px before the tip, the gaps of 4 px or more;
:func:`~guidewire_model.metrics.wires.wire_coverage`). The tracer stops at a gap, so two masks of
equal F1@2 can give lines of very different length.

One mode prints its figures; several print ``{"oracle": {...}, "damaged": {...}, "model": {...}}``.
``--demo`` scores the frames ``bash scripts/demo.sh`` publishes (the ``medium`` preset, seed 2026,
90 frames at 15 fps, one sequence); "crossing" frames are those where the ground-truth wires cross
or run within 8 px of each other beyond their first 30 px, as in the demo's summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from guidewire_model.runtime.centreline import extract_centrelines
from guidewire_model.runtime.rolling_stats import latency_summary
from guidewire_model.metrics.paired import BOOTSTRAP_RESAMPLES, compare_frames
from guidewire_model.metrics.pixels import AccuracyCounts, accuracy_counts
from guidewire_model.metrics.wires import (CentrelineScores, CoverageScores, FrameScore, WireCoverage,
                                           missed_by_coverage, wire_coverage, wires_cross)

__all__ = ["DEMO_SEQUENCE", "LineRecord", "benchmark_speed", "compare_records", "evaluate_masks",
           "evaluate_on_ground_truth", "evaluate_with_model", "main", "record_masks", "record_with_model",
           "synthetic_sequences"]

# The sequence scripts/demo.sh publishes (guidewire_seg_ros.tools.demo's defaults): preset, seed, frames, fps.
DEMO_SEQUENCE = {"preset": "medium", "seed": 2026, "sequences": 1, "frames": 90, "fps": 15.0}


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


def synthetic_sequences(preset: str = "medium", sequences: int = 5, frames: int = 40, seed: int = 0,
                        size: int = 512, **overrides) -> Iterator[list]:
    """Synthetic sequences (lists of ``SyntheticFrame``), seeds ``seed``, ``seed + 1``, ...

    ``overrides`` are :class:`~guidewire_model.synthetic.SyntheticConfig` fields (e.g. ``fps``,
    ``crossing_probability``).
    """
    from guidewire_model.synthetic import SyntheticConfig, generate_sequence

    cfg = SyntheticConfig.preset(preset, size=size, **overrides)
    for s in range(sequences):
        yield generate_sequence(cfg, seed + s, frames)


def benchmark_speed(masks: list[np.ndarray], repeats: int = 3) -> dict[str, float]:
    """Milliseconds per mask of :func:`extract_centrelines`: p50, p99, mean over all calls."""
    extract_centrelines(masks[0])  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        for mask in masks:
            t0 = time.perf_counter()
            extract_centrelines(mask)
            times.append((time.perf_counter() - t0) * 1e3)
    s = latency_summary(times)
    return {"masks": len(masks), "calls": s["runs"], "ms_p50": s["p50"], "ms_p99": s["p99"], "ms_mean": s["mean"]}


@dataclass
class LineRecord:
    """Per-frame scores of one pass of a pipeline over sequences: what a summary pools and a
    comparison pairs.

    ``frames``, ``counts`` and ``coverage`` hold one list per sequence, with one entry per frame:
    the frame's :class:`~guidewire_model.metrics.wires.FrameScore`, its pixel counts and its wire
    coverage. ``threshold``: the pipeline's.
    """

    frames: list[list[FrameScore]] = field(default_factory=list)
    counts: list[list[AccuracyCounts]] = field(default_factory=list)
    coverage: list[list[list[WireCoverage]]] = field(default_factory=list)
    gate_px: float = 10.0
    threshold: float = math.nan

    def summary(self) -> dict:
        """``threshold``, :meth:`CentrelineScores.summary` and ``pixel_precision``, ``pixel_recall``,
        ``pixel_f1``, ``pixel_tolerance``, ``wire_coverage`` (:meth:`CoverageScores.summary`) and
        ``missed_by_coverage`` (:func:`~guidewire_model.metrics.wires.missed_by_coverage`: whether the
        wires no line matched were lost in the mask or after it)."""
        counts = sum((c for seq in self.counts for c in seq), AccuracyCounts())
        frames = [f for seq in self.frames for f in seq]
        coverage = [c for seq in self.coverage for c in seq]
        out = {"threshold": self.threshold}
        out.update(CentrelineScores(self.gate_px, frames).summary())
        out.update({"pixel_precision": counts.pixel.precision, "pixel_recall": counts.pixel.recall,
                    "pixel_f1": counts.pixel.f1, "pixel_tolerance": counts.tolerance_dict(),
                    "wire_coverage": CoverageScores([w for c in coverage for w in c]).summary(),
                    "missed_by_coverage": missed_by_coverage(frames, coverage)})
        return out


def record_masks(sequences, pipeline, mask_of: Callable | None = None, gate_px: float = 10.0,
                 crossing_gap_px: float = 8.0, crossing_exclude_px: float = 30.0) -> LineRecord:
    """Every frame's centreline, identity, pixel and coverage scores of ``pipeline`` over synthetic sequences.

    Parameters
    ----------
    sequences : iterable of lists of SyntheticFrame
    pipeline : GuidewirePipeline
        Reset (tracks forgotten) at the start of each sequence.
    mask_of : callable, optional
        ``mask_of(frame, sequence_index, frame_index) -> mask``; when given, the pipeline's backend
        must be an :class:`~guidewire_model.evaluation.oracle_backend.OracleBackend` and is handed that mask
        before each frame. None: the backend's own prediction.
    gate_px : float
        Matching gate of :class:`CentrelineScores` (mean centreline distance).
    crossing_gap_px, crossing_exclude_px : float
        Arguments of :func:`wires_cross`, which flags a frame as crossing (the demo's definition).

    Returns
    -------
    LineRecord
    """
    record = LineRecord(gate_px=gate_px, threshold=float(pipeline.threshold))
    for s, seq in enumerate(sequences):
        pipeline.reset()
        scores = CentrelineScores(gate_px=gate_px)
        counts, coverage = [], []
        for k, frame in enumerate(seq):
            if mask_of is not None:
                pipeline.backend.set_mask(mask_of(frame, s, k))
            result = pipeline.process(frame.image)
            counts.append(accuracy_counts(result.mask.astype(bool), frame.mask.astype(bool)))
            coverage.append(wire_coverage(result.mask, frame.wires))
            scores.update(result.wires, frame.wires,
                          crossing=wires_cross(frame.wires, crossing_gap_px, crossing_exclude_px))
        record.frames.append(scores.frames)
        record.counts.append(counts)
        record.coverage.append(coverage)
    return record


def evaluate_masks(sequences, pipeline, mask_of: Callable | None = None, gate_px: float = 10.0,
                   crossing_gap_px: float = 8.0, crossing_exclude_px: float = 30.0) -> dict:
    """Centreline, identity and pixel scores of ``pipeline`` over synthetic sequences.

    Arguments as :func:`record_masks`.

    Returns
    -------
    dict
        :meth:`LineRecord.summary` of the pass: the pipeline's ``threshold``, the centreline
        figures, the traced masks' pixel scores against the ground-truth masks, ``wire_coverage``
        and ``missed_by_coverage``.
    """
    return record_masks(sequences, pipeline, mask_of, gate_px, crossing_gap_px, crossing_exclude_px).summary()


def compare_records(first: LineRecord, second: LineRecord, resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = 0) -> dict:
    """The paired difference ``first - second`` of two passes over the same frames.

    The units resampled are the sequences, or the frames where there are fewer than
    :data:`~guidewire_model.metrics.paired.MIN_SEQUENCE_UNITS` sequences (then the interval is too
    narrow: frames of one sequence are not independent).

    Returns
    -------
    dict
        :func:`~guidewire_model.metrics.paired.compare_frames`: pixel F1 and F1@2, wire coverage and,
        under ``lines``, the centreline figures of :func:`~guidewire_model.metrics.paired.paired_lines`.

    Raises
    ------
    ValueError
        If the two records do not hold the same frames.
    """
    if [len(seq) for seq in first.frames] != [len(seq) for seq in second.frames]:
        raise ValueError("the two records must hold the same sequences and frames")
    def flat(per_sequence: list[list]) -> list:
        return [item for seq in per_sequence for item in seq]

    return compare_frames([s for s, seq in enumerate(first.frames) for _ in seq],
                          (flat(first.counts), flat(second.counts)), (flat(first.coverage), flat(second.coverage)),
                          (flat(first.frames), flat(second.frames)), resamples=resamples, seed=seed)


def _oracle_pipeline(size: int, postprocess: dict | None = None):
    from guidewire_model.evaluation.oracle_backend import OracleBackend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    return GuidewirePipeline(OracleBackend(size), **(postprocess or {}))


def evaluate_on_ground_truth(preset: str = "medium", sequences: int = 5, frames: int = 40, seed: int = 0,
                             damaged: bool = False, damage_seed: int = 0, gate_px: float = 10.0,
                             size: int = 512, postprocess: dict | None = None, **overrides) -> dict:
    """Scores of the node's post-processing on the generator's ground-truth masks (the oracle).

    With ``damaged`` the masks first get gaps, spurs, blobs and streaks
    (:func:`~guidewire_model.evaluation.mask_damage.damage_mask`, seeded by ``damage_seed``, the sequence and
    the frame). ``postprocess``: :class:`~guidewire_model.runtime.pipeline.PostprocessSettings` fields
    other than the defaults. ``overrides`` are ``SyntheticConfig`` fields. See :func:`evaluate_masks`.
    """
    from guidewire_model.evaluation.mask_damage import damage_mask

    def mask_of(frame, s: int, k: int) -> np.ndarray:
        if not damaged:
            return frame.mask
        return damage_mask(frame.mask, frame.wires, np.random.default_rng([damage_seed, seed + s, k]))

    scale = size / 512.0
    return evaluate_masks(synthetic_sequences(preset, sequences, frames, seed, size, **overrides),
                          _oracle_pipeline(size, postprocess), mask_of, gate_px, 8.0 * scale, 30.0 * scale)


def record_with_model(model_path: str, preset: str = "medium", sequences: int = 5, frames: int = 40,
                      seed: int = 0, gate_px: float = 10.0, size: int = 512, postprocess: dict | None = None,
                      **overrides) -> LineRecord:
    """Every frame's scores of the whole pipeline with a model (:func:`record_masks`).

    ``postprocess``: keyword arguments of :class:`~guidewire_model.runtime.pipeline.GuidewirePipeline`
    (``threshold``, :class:`~guidewire_model.runtime.pipeline.PostprocessSettings` fields);
    ``overrides`` are ``SyntheticConfig`` fields.
    """
    from guidewire_model.runtime.backends import create_backend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    pipeline = GuidewirePipeline(create_backend("auto", model_path, device="cpu"), **(postprocess or {}))
    scale = size / 512.0
    return record_masks(synthetic_sequences(preset, sequences, frames, seed, size, **overrides),
                        pipeline, None, gate_px, 8.0 * scale, 30.0 * scale)


def evaluate_with_model(model_path: str, preset: str = "medium", sequences: int = 5, frames: int = 40,
                        seed: int = 0, gate_px: float = 10.0, size: int = 512, postprocess: dict | None = None,
                        **overrides) -> dict:
    """Centreline, identity and pixel scores of the whole pipeline with a model.

    Arguments as :func:`record_with_model`; see :func:`evaluate_masks`.
    """
    return record_with_model(model_path, preset, sequences, frames, seed, gate_px, size, postprocess,
                             **overrides).summary()


def _rounded(value):
    """Floats to 3 decimals, inside nested dicts too (the printout, not the figures, is rounded)."""
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 3) if isinstance(value, float) else value


def _settings(items: list[str]) -> dict:
    """``NAME=VALUE`` strings as pipeline settings (``threshold`` or a post-processing setting),
    typed by their field; ValueError naming the item and the settings there are."""
    import dataclasses

    from guidewire_model.runtime.pipeline import PostprocessSettings

    fields = {f.name: f for f in dataclasses.fields(PostprocessSettings)}
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or (name not in fields and name != "threshold"):
            raise ValueError(f"--compare-set {item!r}: expected NAME=VALUE with NAME threshold or one of "
                             f"{', '.join(fields)}")
        if name != "threshold" and fields[name].type in ("bool", bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"--compare-set {item!r}: {name} takes true or false")
            out[name] = text.lower() in ("true", "1")
        else:
            try:
                out[name] = float(text)
            except ValueError:
                raise ValueError(f"--compare-set {item!r}: {name} takes a number") from None
    if "threshold" in out and not 0.0 < out["threshold"] < 1.0:
        raise ValueError(f"--compare-set threshold={out['threshold']}: a threshold lies in (0, 1)")
    # Ranges checked here, before any frame is scored.
    PostprocessSettings(**{k: v for k, v in out.items() if k != "threshold"})
    return out


def main(argv: list[str] | None = None) -> int:
    from guidewire_model.runtime.pipeline import PostprocessSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--oracle", "--eval-gt", dest="oracle", action="store_true",
                        help="score the node's post-processing on ground-truth masks")
    parser.add_argument("--damaged", action="store_true",
                        help="score it on ground-truth masks with gaps, spurs, blobs and streaks")
    parser.add_argument("--model", help="score the masks this model predicts (ONNX or .pt)")
    parser.add_argument("--demo", action="store_true",
                        help="the demo's frames (medium, seed 2026, 90 frames at 15 fps); overrides the "
                             "sequence options below")
    parser.add_argument("--preset", default="medium", choices=("easy", "medium", "hard", "varied"))
    parser.add_argument("--sequences", type=int, default=5)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crossing-probability", type=float, default=0.7)
    parser.add_argument("--side-by-side-probability", type=float, default=0.4)
    parser.add_argument("--repeats", type=int, default=3, help="speed: passes over the masks")
    parser.add_argument("--catheter-orientation", action="store_true",
                        help="turn on the post-processing's catheter_orientation setting (off in the node by default)")
    defaults = PostprocessSettings()
    parser.add_argument("--faint-tail-ratio", type=float, default=defaults.faint_tail_ratio,
                        help="the post-processing's faint_tail_ratio setting (0 = off)")
    parser.add_argument("--corner-deg", type=float, default=defaults.corner_deg,
                        help="the post-processing's corner_deg setting")
    parser.add_argument("--threshold", type=float,
                        help="the --model run's threshold (default: the model's own; the oracle's masks are binary)")
    parser.add_argument("--compare", metavar="MODEL",
                        help="with --model: run this model too, on the same frames, and report the paired "
                             "difference (--model minus this) with bootstrap intervals over the sequences")
    parser.add_argument("--compare-set", metavar="NAME=VALUE", action="append", default=[],
                        help="a setting of the --compare run that differs from the --model run's: threshold or a "
                             "post-processing setting (repeatable; without --compare the same model is run again "
                             "with these settings)")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES,
                        help="bootstrap resamples of the comparison")
    args = parser.parse_args(argv)
    if (args.compare or args.compare_set) and not args.model:
        parser.error("--compare and --compare-set compare with the --model run: name --model")
    if args.resamples < 1:
        parser.error(f"--resamples must be at least 1, got {args.resamples}")
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        parser.error(f"--threshold must lie in (0, 1), got {args.threshold}")
    if args.demo:
        spec = dict(DEMO_SEQUENCE)
        overrides = {"fps": spec.pop("fps")}
    else:
        spec = {"preset": args.preset, "seed": args.seed, "sequences": args.sequences, "frames": args.frames}
        overrides = {"crossing_probability": args.crossing_probability,
                     "side_by_side_probability": args.side_by_side_probability}
    post = {"catheter_orientation": args.catheter_orientation, "faint_tail_ratio": args.faint_tail_ratio,
            "corner_deg": args.corner_deg}
    # --threshold is the --model run's; the --compare run keeps its own model's unless --compare-set names one.
    model_post = post if args.threshold is None else {**post, "threshold": args.threshold}
    try:
        post_against = {**post, **_settings(args.compare_set)}
    except ValueError as exc:
        parser.error(str(exc))
    results = {}
    if args.oracle:
        results["oracle"] = evaluate_on_ground_truth(**spec, postprocess=post, **overrides)
    if args.damaged:
        results["damaged"] = evaluate_on_ground_truth(**spec, damaged=True, postprocess=post, **overrides)
    if args.model and (args.compare or args.compare_set):
        first = record_with_model(args.model, **spec, postprocess=model_post, **overrides)
        against = args.compare or args.model
        second = record_with_model(against, **spec, postprocess=post_against, **overrides)
        results["model"] = first.summary()
        results["comparison"] = {"model": against, "postprocess": post_against, **second.summary(),
                                 "difference": compare_records(first, second, args.resamples)}
    elif args.model:
        results["model"] = evaluate_with_model(args.model, **spec, postprocess=model_post, **overrides)
    if not results:
        _single_core()
        masks = [f.mask for seq in synthetic_sequences(spec["preset"], spec["sequences"], spec["frames"],
                                                       spec["seed"]) for f in seq]
        results["speed"] = benchmark_speed(masks, args.repeats)
    result = next(iter(results.values())) if len(results) == 1 else results
    json.dump(_rounded(result), sys.stdout, indent=1)
    print()
    if "comparison" in results:
        print("\n".join(_comparison_lines(results["comparison"]["difference"])), file=sys.stderr)
    return 0


def _comparison_lines(difference: dict) -> list[str]:
    """The comparison as text: each figure of both runs, the difference and its interval."""
    lines = [f"--model minus --compare, {difference['confidence']:.0%} intervals over {difference['units']} "
             f"{difference['unit']}s ({difference['resamples']} resamples):"]
    if difference["unit"] == "frame":
        lines.append("  (frames of one sequence are not independent: these intervals are too narrow)")
    figures = {k: v for k, v in difference.items() if isinstance(v, dict) and "difference" in v}
    for group in ("wire_coverage", "lines"):
        figures.update({f"{group}.{k}": v for k, v in difference.get(group, {}).items() if isinstance(v, dict)})
    for name, d in figures.items():
        lines.append(f"  {name}: {d['first']:.3f} against {d['second']:.3f}, {d['difference']:+.3f} "
                     f"({d['low']:+.3f} ... {d['high']:+.3f})")
    if "lines" in difference:
        lines.append(f"  (tip error and distance over the {difference['lines']['paired_wires']} true wires both runs "
                     "matched)")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
