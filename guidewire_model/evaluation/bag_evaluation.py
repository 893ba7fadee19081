"""Judge the perception pipeline on recorded bags: accuracy against annotations, latency, throughput.

Offline, :func:`evaluate_bag` reads each bag's frames (:func:`guidewire_model.evaluation.bags.read_frames`),
runs :class:`~guidewire_model.runtime.pipeline.GuidewirePipeline` on them directly, writes the results as a
bag, and writes ``metrics.json``, ``report.md`` and ``report.html`` (:mod:`guidewire_model.evaluation.bag_report`).

The figures themselves come from one place, :class:`Evaluation` (or :func:`summarise_frames` over a
list), fed one :class:`FrameRecord` per frame. The live mode of ``guidewire-eval-bag`` (in
``guidewire_seg_ros``) builds the same records from what it received over ROS, so live and offline
numbers and reports are computed identically. Memory stays bounded on long bags: pixel counts and
the precision-recall histograms are accumulated, and only the few frames the report draws are kept.

Definitions (all in the report too):

* pixel precision / recall / F1 -- micro-averaged over all pixels of all frames with a mask
  (:mod:`guidewire_model.metrics.pixels`), overall and per sequence (one bag = one sequence), and beside
  them, under ``tolerance``, F1@2: predicted pixels within 2 px of the true wire, the true wire's
  skeleton within 2 px of a prediction (``pixel.tolerance``; per frame ``per_frame.tolerance.f1``);
* precision-recall curve -- :class:`~guidewire_model.metrics.pixels.ThresholdSweep` over the probability maps;
* centreline distance, tip error, instance-assignment accuracy, id switches --
  :class:`~guidewire_model.metrics.wires.CentrelineScores`; ``crossing_*`` over frames where
  the ground-truth wires cross (:func:`~guidewire_model.metrics.wires.wires_cross`);
* latency -- per-frame milliseconds per stage, mean / p50 / p95 / p99 / max;
* throughput -- frames / wall time of the whole run (reading, inference, writing results).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from guidewire_model.evaluation.bag_report import headline_text, write_report
from guidewire_model.metrics.wires import CentrelineScores, wires_cross
from guidewire_model.evaluation.frame_record import FrameRecord, frame_accuracy, frame_badness, headline_latency_key
from guidewire_model.metrics.pixels import AccuracyCounts, ThresholdSweep
from guidewire_model.runtime.rolling_stats import latency_summary

__all__ = [
    "Evaluation",
    "FrameRecord",
    "add_common_arguments",
    "evaluate_bag",
    "frame_badness",
    "json_ready",
    "run_offline",
    "summarise_frames",
]

LATENCY_STAGES = ("preprocess", "inference", "postprocess", "total")


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    s = latency_summary(values)
    if s["runs"] == 0:
        return {"count": 0}
    return {"count": s["runs"], **{k: s[k] for k in ("mean", "p50", "p95", "p99", "max")}}


@dataclass
class _Sequence:
    name: str
    frames: int = 0
    mask_frames: int = 0
    counts: AccuracyCounts = field(default_factory=AccuracyCounts)
    scores: CentrelineScores = field(default_factory=CentrelineScores)
    latency: dict[str, list[float]] = field(default_factory=dict)


class Evaluation:
    """Accumulates per-frame records into the evaluation's figures, in bounded memory.

    Parameters
    ----------
    threshold : float or None
        The decision threshold the masks were made with (reported, and marked on the PR curve).
    n_worst : int
        Frames kept for the report's overlays (the worst by :func:`frame_badness`).
    sweep_bins : int
        Thresholds of the precision-recall curve (``k / sweep_bins``).
    gate_px : float
        Largest mean centreline distance of a matched wire pair (CentrelineScores).
    crossing_gap_px, crossing_exclude_px : float
        A frame is a crossing frame when :func:`wires_cross` says so for its ground truth.
    """

    def __init__(self, threshold: float | None = None, n_worst: int = 6, sweep_bins: int = 200,
                 gate_px: float = 10.0, crossing_gap_px: float = 8.0, crossing_exclude_px: float = 30.0) -> None:
        self.threshold = threshold
        self.n_worst = int(n_worst)
        self.gate_px = float(gate_px)
        self.crossing_gap_px, self.crossing_exclude_px = float(crossing_gap_px), float(crossing_exclude_px)
        self.sweep = ThresholdSweep(sweep_bins)
        self.sweep_frames = 0
        self.counts = AccuracyCounts()
        self.scores = CentrelineScores(gate_px=self.gate_px)
        self.sequences: dict[str, _Sequence] = {}
        self._current: str | None = None
        self._worst: list[tuple[tuple[int, float], int, str, FrameRecord]] = []
        self._tiebreak = itertools.count()
        self.per_frame: dict[str, Any] = {"stamp_ns": [], "sequence": [], "f1": [], "tolerance": {"f1": []},
                                          "centreline_distance_px": [], "crossing": [], "wires": []}
        self.latency: dict[str, list[float]] = {}
        self.frames = 0
        self.frames_without_result = 0

    def add(self, record: FrameRecord) -> None:
        """Add one frame. Records of one sequence must arrive together and in time order."""
        if record.sequence != self._current:
            if record.sequence in self.sequences:
                raise ValueError(f"sequence {record.sequence!r} was interrupted by another; feed sequences "
                                 "one after another")
            self.scores.new_sequence()
            self.sequences[record.sequence] = _Sequence(record.sequence, scores=CentrelineScores(gate_px=self.gate_px))
            self._current = record.sequence
        seq = self.sequences[record.sequence]
        seq.frames += 1
        self.frames += 1
        for key, value in record.latency_ms.items():
            self.latency.setdefault(key, []).append(float(value))
            seq.latency.setdefault(key, []).append(float(value))
        f1 = tolerance_f1 = distance = None
        crossing = counts = None
        if record.mask is None:
            self.frames_without_result += 1
        if record.gt_mask is not None and record.mask is not None:
            counts = frame_accuracy(record)
            self.counts = self.counts + counts
            seq.counts = seq.counts + counts
            seq.mask_frames += 1
            f1, tolerance_f1 = counts.pixel.f1, counts.tolerance.f1
            if record.probability is not None:
                self.sweep.update(record.probability, np.asarray(record.gt_mask).astype(bool))
                self.sweep_frames += 1
        if record.gt_wires is not None and record.wires is not None:
            crossing = wires_cross(record.gt_wires, self.crossing_gap_px, self.crossing_exclude_px)
            score = self.scores.update(list(record.wires), list(record.gt_wires), crossing=crossing)
            seq.scores.frames.append(score)
            distance = float(np.mean(score.distances)) if score.distances else None
        self.per_frame["stamp_ns"].append(int(record.stamp_ns))
        self.per_frame["sequence"].append(record.sequence)
        self.per_frame["f1"].append(f1)
        self.per_frame["tolerance"]["f1"].append(tolerance_f1)
        self.per_frame["centreline_distance_px"].append(distance)
        self.per_frame["crossing"].append(crossing)
        self.per_frame["wires"].append(None if record.wires is None else len(record.wires))
        if self.n_worst > 0 and record.image is not None:
            level, value, caption = frame_badness(record, self.gate_px, counts)
            # Only what an overlay needs is kept: the probability map is the largest array and unused.
            item = ((level, value), next(self._tiebreak), caption, replace(record, probability=None))
            if len(self._worst) < self.n_worst:
                heapq.heappush(self._worst, item)
            elif item[0] > self._worst[0][0]:
                heapq.heapreplace(self._worst, item)

    @property
    def worst(self) -> list[FrameRecord]:
        """The kept frames, worst first."""
        return [r for *_, r in sorted(self._worst, key=lambda t: (t[0], -t[1]), reverse=True)]

    def summary(self, wall_time_s: float | None = None, frames_dropped: int = 0) -> dict[str, Any]:
        """The figures so far as a JSON-ready dict (NaN where undefined; see :func:`json_ready`).

        Accuracy sections (``pixel``, ``pr_curve``, ``centreline``) are present only when some frame
        had the ground truth they need.
        """
        out: dict[str, Any] = {
            "frames": self.frames,
            "frames_without_result": self.frames_without_result,
            "frames_dropped": int(frames_dropped),
            "threshold": self.threshold,
            "sequences": list(self.sequences),
            "wall_time_s": wall_time_s,
            "throughput_fps": (self.frames / wall_time_s) if wall_time_s else None,
            "latency_ms": {k: _percentiles(v) for k, v in self.latency.items()},
            "headline_latency": headline_latency_key(self.latency),
        }
        mask_frames = sum(s.mask_frames for s in self.sequences.values())
        if mask_frames:
            out["pixel"] = {"frames": mask_frames, **self.counts.to_dict()}
        if self.sweep_frames:
            curve = self.sweep.curve()
            best_t, best_f1 = self.sweep.best()
            # Average precision: precision integrated over recall, recall decreasing with threshold.
            recall, precision = curve["recall"][::-1], curve["precision"][::-1]
            ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))
            out["pr_curve"] = {"frames": self.sweep_frames, "best_threshold": best_t, "best_f1": best_f1,
                               "average_precision": ap, **{k: v.tolist() for k, v in curve.items()}}
        if self.scores.frames:
            out["centreline"] = {"gate_px": self.gate_px, **self.scores.summary()}
        rows = []
        for seq in self.sequences.values():
            row: dict[str, Any] = {"name": seq.name, "frames": seq.frames,
                                   "latency_ms": {k: _percentiles(v) for k, v in seq.latency.items()}}
            if seq.mask_frames:
                row["pixel"] = {"frames": seq.mask_frames, **seq.counts.to_dict()}
            if seq.scores.frames:
                row["centreline"] = seq.scores.summary()
            rows.append(row)
        out["per_sequence"] = rows
        out["per_frame"] = {**{k: (list(v) if isinstance(v, list) else {kk: list(vv) for kk, vv in v.items()})
                               for k, v in self.per_frame.items()},
                            "latency_ms": {k: list(v) for k, v in self.latency.items()}}
        return out


def summarise_frames(frames: Iterable[FrameRecord], threshold: float | None = None,
                     wall_time_s: float | None = None, frames_dropped: int = 0, **kwargs: Any) -> dict[str, Any]:
    """The figures of a list of frame records (the live mode's entry point; offline uses
    :class:`Evaluation` incrementally, with identical results).

    Parameters
    ----------
    frames : iterable of FrameRecord
        Grouped by ``sequence``, each sequence in time order.
    threshold : float, optional
        Decision threshold the masks were made with.
    wall_time_s : float, optional
        Duration of the run, for ``throughput_fps``.
    frames_dropped : int
        Inputs that got no result (live mode; 0 offline).
    **kwargs
        ``sweep_bins``, ``gate_px``, ``crossing_gap_px``, ``crossing_exclude_px`` of :class:`Evaluation`.

    Returns
    -------
    dict
        See :meth:`Evaluation.summary`.
    """
    evaluation = Evaluation(threshold=threshold, n_worst=0, **kwargs)
    for record in frames:
        evaluation.add(record)
    return evaluation.summary(wall_time_s=wall_time_s, frames_dropped=frames_dropped)


def json_ready(value: Any) -> Any:
    """``value`` with NaN / inf replaced by None and numpy scalars by Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _sequence_names(paths: Sequence[Path]) -> list[str]:
    names, seen = [], {}
    for path in paths:
        base = path.stem if path.is_file() else path.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def evaluate_bag(bag: str | os.PathLike | Sequence[str | os.PathLike], model_path: str | os.PathLike,
                 out_dir: str | os.PathLike, image_topic: str, gt_mask_topic: str | None = None,
                 gt_centrelines_topic: str | None = None, backend: str = "auto",
                 threshold: float | None = None, storage: str = "mcap", progress: bool = True,
                 n_overlays: int = 6, device: str = "cpu", threads: int | None = None,
                 max_wires: int = 2) -> dict[str, Any]:
    """Evaluate the pipeline offline on one or more bags and write the results and the report.

    Parameters
    ----------
    bag : path-like or sequence of them
        rosbag2 folders or ``.mcap`` / ``.db3`` files; each is one sequence.
    model_path : path-like
        ``.onnx`` model (or ``.pt`` checkpoint for the torch backend).
    out_dir : path-like
        Created if needed. Receives ``metrics.json``, ``report.md``, ``report.html``, ``figures/``
        and ``results/<sequence>`` (a bag of masks and centrelines; replaced if it exists).
    image_topic, gt_mask_topic, gt_centrelines_topic : str
        See :func:`guidewire_model.evaluation.bags.read_frames`; the same names in every bag.
    backend, device, threads : see :func:`guidewire_model.runtime.backends.create_backend`.
    threshold : float, optional
        Decision threshold; default the model's own.
    storage : {"mcap", "sqlite3"}
        Storage of the results bags.
    progress : bool
        Show a tqdm progress bar.
    n_overlays : int
        Worst frames drawn in the report.
    max_wires : int
        Most wires traced per frame.

    Returns
    -------
    dict
        The summary written to ``metrics.json`` (see :meth:`Evaluation.summary`), plus ``model``,
        ``backend``, ``bags`` (per bag: :meth:`guidewire_model.evaluation.bags.FrameStream.info` -- path, frames
        read and declared, frames lost, damage, problems -- and the results bag) and ``files``.
        A damaged bag is evaluated up to the damage and the damage reported; it does not raise.

    Raises
    ------
    guidewire_model.evaluation.bags.BagError
        Before any inference, if a bag cannot be opened or lacks a topic.
    ModelFileError, BackendError
        If the model cannot be loaded.
    """
    from tqdm import tqdm

    from guidewire_model.runtime.backends import create_backend
    from guidewire_model.evaluation.bags import ResultsBagWriter, read_frames
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    paths = [Path(bag)] if isinstance(bag, (str, os.PathLike)) else [Path(b) for b in bag]
    if not paths:
        raise ValueError("no bag given")
    # Open every bag first: a wrong topic name fails in a second, before the model loads.
    streams = [read_frames(p, image_topic, gt_mask_topic, gt_centrelines_topic) for p in paths]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = create_backend(backend, model_path, device=device, threads=threads)
    pipeline = GuidewirePipeline(model, threshold=threshold, max_wires=max_wires)
    evaluation = Evaluation(threshold=pipeline.threshold, n_worst=n_overlays)
    bags_info = []
    start = time.perf_counter()
    for name, stream in zip(_sequence_names(paths), streams):
        pipeline.reset()
        results_path = out_dir / "results" / name
        if results_path.exists():
            shutil.rmtree(results_path)  # ours, from an earlier run into the same folder
        n = 0
        with ResultsBagWriter(results_path, storage) as writer, \
                tqdm(total=stream.expected_frames, desc=name, unit="frame", disable=not progress) as bar:
            for frame in stream:
                result = pipeline.process(frame.image)
                t = result.timings
                record = FrameRecord(
                    stamp_ns=frame.stamp_ns, image=frame.image, probability=result.probability,
                    mask=result.mask, wires=result.wires, gt_mask=frame.gt_mask, gt_wires=frame.gt_wires,
                    latency_ms={"preprocess": t.preprocess_ms, "inference": t.inference_ms,
                                "postprocess": t.postprocess_ms, "total": t.total_ms},
                    sequence=name, frame_id=frame.frame_id, log_time_ns=frame.log_time_ns)
                evaluation.add(record)
                writer.write(frame.stamp_ns, frame.frame_id, result.mask, result.wires, frame.log_time_ns)
                n += 1
                bar.update()
        if stream.damage:
            print(f"warning: {stream.damage}", file=sys.stderr)
        bags_info.append({"name": name, **stream.info(), "results_bag": str(results_path)})
    wall = time.perf_counter() - start
    summary = evaluation.summary(wall_time_s=wall, frames_dropped=0)
    summary.update({"mode": "offline", "model": str(model_path), "backend": type(model).__name__,
                    "image_topic": image_topic, "gt_mask_topic": gt_mask_topic,
                    "gt_centrelines_topic": gt_centrelines_topic, "bags": bags_info})
    files = write_report(summary, evaluation.worst, out_dir, n_overlays=n_overlays)
    summary["files"] = {k: str(v) for k, v in files.items()}
    (out_dir / "metrics.json").write_text(json.dumps(json_ready(summary), indent=1))
    return summary


# ------------------------------------------------------------------------------------------ CLI


def add_common_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every mode of ``guidewire-eval-bag`` shares (bags, model, topics, output)."""
    from guidewire_model.core.shipped_files import shipped_models_dir

    parser.add_argument("--bag", type=Path, action="append", required=True,
                        help="rosbag2 folder or .mcap/.db3 file; repeat for several sequences")
    parser.add_argument("--model", type=Path, default=shipped_models_dir() / "default.onnx",
                        help="ONNX model (or .pt checkpoint with --backend torch); default: the shipped model")
    parser.add_argument("--backend", choices=("auto", "onnxruntime", "torch", "tensorrt"), default="auto")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--image-topic", required=True, help="sensor_msgs/Image topic of the frames")
    parser.add_argument("--gt-mask-topic", help="sensor_msgs/Image ground-truth masks (non-zero = wire)")
    parser.add_argument("--gt-centrelines-topic", help="guidewire_seg/GuidewireArray ground-truth centrelines")
    parser.add_argument("--threshold", type=float, help="decision threshold (default: the model's)")
    parser.add_argument("--out", type=Path, default=Path("out/eval_bag"), help="output folder")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage of results bags")
    parser.add_argument("--overlays", type=int, default=6, metavar="N", help="worst frames drawn in the report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def headline(summary: dict[str, Any]) -> str:
    """One line of the figures that matter most (printed, and the report's first line)."""
    return headline_text(summary)


def run_offline(args: argparse.Namespace) -> int:
    """Run :func:`evaluate_bag` from parsed :func:`add_common_arguments` options; returns the exit code."""
    from guidewire_model.runtime.backends import BackendError
    from guidewire_model.evaluation.bags import BagError
    from guidewire_model.runtime.model_info import ModelFileError

    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        print(f"guidewire-eval-bag: error: --threshold must lie in (0, 1), got {args.threshold}", file=sys.stderr)
        return 2
    try:
        summary = evaluate_bag(args.bag, args.model, args.out, args.image_topic, args.gt_mask_topic,
                               args.gt_centrelines_topic, backend=args.backend, threshold=args.threshold,
                               storage=args.storage, progress=not args.quiet, n_overlays=args.overlays,
                               device=args.device)
    except (BagError, ModelFileError, BackendError, FileNotFoundError, ValueError) as exc:
        print(f"guidewire-eval-bag: error: {exc}", file=sys.stderr)
        return 2
    print(headline(summary))
    print(f"report: {summary['files']['report_html']} (and report.md, metrics.json)")
    return 0
