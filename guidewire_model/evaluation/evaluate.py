"""Evaluate a model on full-resolution frames, as the paper reports its results.

Usage::

    guidewire-eval --model runs/paper/best.pt --data data/guidewire --split test --out runs/paper/eval
    guidewire-eval --model models/default.onnx --data data/guidewire --split all --out out/eval
    guidewire-eval --model models/default.onnx --folder my_frames/ --out out/eval_folder
    guidewire-eval --model runs/mine/best.pt --compare models/default.onnx --data my_runs --split all --out out/vs

**Model**: a training checkpoint (``.pt``: its stored split and threshold) or an exported ONNX file
(its threshold from its metadata; it carries no split, so a data set is evaluated with
``--split all``). ``--checkpoint`` is another name for ``--model``. Every frame goes through the
node's own inference path, :meth:`GuidewirePipeline.segment` on a backend from
:func:`~guidewire_model.runtime.backends.create_backend` (``prepare_batch`` -> network -> sigmoid ->
``restore_size`` to the frame's size), and is compared with its mask at the frame's own resolution.
A motion-input model (``ModelInfo.input`` ``frame+motion``) sees each frame of a data set beside the
frame ``motion.MOTION_LAG`` before it in its sequence, as the node sees a run; a folder's frames,
which need not be a run, each alone.

**Frames**: ``--data``, a data set in the sequence layout (:mod:`guidewire_model.data.layout`), or
``--folder``, a plain folder of frames and masks of any size (:mod:`guidewire_model.data.frame_folder`),
optionally with an annotation of a look-alike that is not guidewire (``--exclude-prefix``, e.g. the
catheter).

**Scores** (:mod:`guidewire_model.metrics.pixels`): strict pixel precision, recall and F1 over *all* pixels
(the paper's numbers) and, beside them under ``tolerance``, F1@2 (predicted pixels within 2 px of
the wire; the wire's skeleton within 2 px of a prediction), overall and per sequence. A threshold
sweep gives the precision-recall curve and the F1-best threshold. With an exclude annotation, the
share of predicted pixels within 1 px of it (a guidewire model should mark the guidewire, not the
catheter). Where a data set holds its wires' centrelines (``centrelines/``, as the generator and the
importers write them), wire coverage (:func:`guidewire_model.metrics.wires.wire_coverage`): the
share of each true wire within 2 px of the mask, of its last 30 px before the tip, and the gaps
along it, which the tracer stops at and pixel scores do not show; and the centrelines the node
would publish (``lines``): the model's masks through the node's post-processing and tracker
(:meth:`GuidewirePipeline.finish`, frame by frame in each sequence's order), scored as the
centreline benchmark scores them (:class:`~guidewire_model.metrics.wires.CentrelineScores`: wires
told apart, tips found, tip error, centreline distance, identity switches). A model's tip channel,
where it has one, is not used for these lines.

**Reference row** (``--reference frangi``, the default; ``--no-reference`` skips it): Frangi
vesselness (:mod:`guidewire_model.evaluation.ridge_filter`), thresholded as the model's threshold is chosen
(best F1 of a sweep over validation frames) and scored like the model, as the paper's Table III
sets other methods beside its own. Its validation frames are, in order of preference, those named
with ``--reference-val`` (a folder or a data set), the validation part of a checkpoint's stored
split, or synthetic frames generated for the purpose (:data:`REFERENCE_SYNTHETIC`) -- never the
frames being evaluated. The report says which.

**Comparison** (``--compare MODEL``): a second model scored on the same frames at its own
threshold, and the difference of the two (F1, F1@2 and, with centrelines, wire coverage and the
published centrelines' figures) with a paired bootstrap interval over the sequences
(:mod:`guidewire_model.metrics.paired`): whether a fine-tune beats the model it started from, or a
hospital's retrained model the shipped one, on these frames and not only on these draws of them.

Outputs in ``out``: ``metrics.json``, ``metrics.md`` (tables), ``pr_curve.png`` and
``overlays/<frame>.png`` of the frames with the lowest F1 (TP green, FP red, FN blue).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from guidewire_model.runtime.model_info import CheckpointError
from guidewire_model.data import layout
from guidewire_model.data.frame_folder import FolderPrefixes
from guidewire_model.metrics.paired import BOOTSTRAP_RESAMPLES, MIN_SEQUENCE_UNITS, compare_frames
from guidewire_model.metrics.pixels import AccuracyCounts, ThresholdSweep, accuracy_counts, count_near
from guidewire_model.metrics.wires import (DISTAL_PX, GAP_PX, MISSED_COVERAGE_BOUNDS, TIP_FOUND_PX, CentrelineScores,
                                           CoverageScores, FrameScore, WireCoverage, missed_by_coverage, wire_coverage,
                                           wires_cross)

__all__ = [
    "EXCLUDE_TOLERANCE_PX",
    "MIN_SEQUENCE_UNITS",
    "REFERENCE_SYNTHETIC",
    "SPLITS",
    "EvalFrame",
    "choose_threshold",
    "dataset_frames",
    "evaluate",
    "evaluate_checkpoint",
    "folder_frames",
    "main",
]

SPLITS = ("test", "val", "train", "all")

#: Frames per forward pass; evaluation is inference-only, so memory is small.
EVAL_BATCH = 8

#: Resolution of the threshold sweep (thresholds k / 1000).
SWEEP_BINS = 1000

#: A predicted pixel within this distance [px] of the exclude annotation counts as lying on it.
EXCLUDE_TOLERANCE_PX = 1.0

#: Validation frames of the reference row when none are named and the model has no stored split.
REFERENCE_SYNTHETIC = {"preset": "medium", "size": 512, "sequences": 3, "frames": 4, "seed": 20260}

#: A batch of frames and each one's frame ``motion.MOTION_LAG`` earlier in its group (None: none,
#: or not asked for) in, one probability-like map in [0, 1] per frame out, at each frame's size.
Predict = Callable[[list[np.ndarray], list["np.ndarray | None"]], list[np.ndarray]]
#: Loads one frame: image, guidewire mask {0, 1}, exclude annotation {0, 1} or None.
Loader = Callable[[], tuple[np.ndarray, np.ndarray, "np.ndarray | None"]]


@dataclass(frozen=True)
class EvalFrame:
    """One frame to score, loaded only when needed.

    Attributes
    ----------
    sequence : str
        Group it is reported under (a data set's sequence; a folder's name).
    index : int
        Position within its group.
    name : str
        Unique, file-name safe label (overlay file stem).
    load : callable
        Returns ``(image, mask, exclude)``; ``exclude`` is None where there is no such annotation.
    file : str or None
        The frame's file name, for a folder.
    wires : callable or None
        Returns the frame's true centrelines (``Wire``, proximal end to tip); None where the frame
        has none.
    """

    sequence: str
    index: int
    name: str
    load: Loader
    file: str | None = None
    wires: Callable[[], list[Any]] | None = None


def _load_dataset_frame(seq: Any, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    from guidewire_model.data.sequences import load_exclude, load_frame

    image, mask = load_frame(seq, index)
    return image, mask, load_exclude(seq, index)


def dataset_frames(sequences: Sequence[Any]) -> list[EvalFrame]:
    """The frames of data set sequences (``dataset.SequenceInfo``), in order, with their centrelines
    where the sequence has them."""
    return [EvalFrame(s.name, i, f"{s.name}_{i:06d}", functools.partial(_load_dataset_frame, s, i),
                      wires=functools.partial(layout.read_centrelines, s.centreline_paths[i])
                      if s.centreline_paths else None)
            for s in sequences for i in range(len(s))]


def folder_frames(folder: str | os.PathLike, prefixes: FolderPrefixes = FolderPrefixes()) -> list[EvalFrame]:
    """The frames of a plain folder (:func:`guidewire_model.data.frame_folder.scan_folder`), as one group
    named after the folder.

    Raises
    ------
    frame_folder.FolderError
        Naming the file, if a mask is missing, a size differs or a file is unreadable.
    """
    from guidewire_model.data.frame_folder import load_folder_frame, scan_folder

    group = Path(folder).resolve().name or "frames"
    return [EvalFrame(group, i, item.frame.stem, functools.partial(load_folder_frame, item), item.frame.name)
            for i, item in enumerate(scan_folder(folder, prefixes))]


def _batches(frames: Sequence[EvalFrame], earlier: Sequence[EvalFrame | None] | None = None):
    """``(frame, image, mask, exclude, earlier image)`` lists of up to EVAL_BATCH frames, loaded.

    ``earlier`` (:func:`_earlier_frames`) names each frame's earlier frame, whose image comes with
    it (None where there is none); without it the earlier image is always None. An earlier frame
    loaded in this batch or the one before is not read again.
    """
    previous: dict[str, np.ndarray] = {}
    for start in range(0, len(frames), EVAL_BATCH):
        chunk = frames[start:start + EVAL_BATCH]
        before = earlier[start:start + EVAL_BATCH] if earlier is not None else [None] * len(chunk)
        loaded: dict[str, np.ndarray] = {}
        rows = []
        for f, b in zip(chunk, before):
            image, mask, exclude = f.load()
            loaded[f.name] = image
            if b is None:
                earlier_image = None
            else:
                earlier_image = loaded.get(b.name, previous.get(b.name))
                earlier_image = b.load()[0] if earlier_image is None else earlier_image
            rows.append((f, image, mask, exclude, earlier_image))
        previous = loaded
        yield rows


def _earlier_frames(frames: Sequence[EvalFrame]) -> list[EvalFrame | None]:
    """Each frame's frame ``motion.MOTION_LAG`` earlier in its group (a motion-input model's second
    channel), or None where the group has none."""
    from guidewire_model.runtime.motion import MOTION_LAG

    where = {(f.sequence, f.index): f for f in frames}
    return [where.get((f.sequence, f.index - MOTION_LAG)) for f in frames]


def _frames_alone(predict: Callable[[list[np.ndarray]], list[np.ndarray]]) -> Predict:
    """A :data:`Predict` of a method that sees each frame alone (the earlier frames unused)."""
    return lambda images, earlier: predict(images)


def choose_threshold(frames: Sequence[EvalFrame], predict: Predict) -> tuple[float, float]:
    """The F1-best threshold of ``predict`` on ``frames``, as training chooses the model's on validation.

    Returns
    -------
    (threshold, f1)
        From :meth:`guidewire_model.metrics.pixels.ThresholdSweep.best` over all pixels of the frames.
    """
    sweep = ThresholdSweep(SWEEP_BINS)
    for batch in _batches(frames):
        for (_, _, mask, _, _), prob in zip(batch, predict([b[1] for b in batch], [None] * len(batch))):
            sweep.update(prob, mask)
    return sweep.best()


@dataclass
class _Exclusion:
    """Predicted pixels on the exclude annotation, over the frames that have one."""

    frames: int = 0
    pred: int = 0
    on_exclude: int = 0

    def to_dict(self, prefix: str | None) -> dict[str, Any]:
        return {"annotation": prefix, "tolerance_px": EXCLUDE_TOLERANCE_PX, "frames": self.frames,
                "pred": self.pred, "on_exclude": self.on_exclude,
                "share": self.on_exclude / self.pred if self.pred else None}


class _PublishedLines:
    """The centrelines a pipeline publishes from the maps it is handed, frame by frame in run order
    (the tracker restarts with each sequence), scored against the frames' true centrelines."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.scores = CentrelineScores()
        self._sequence: str | None = None

    def add(self, frame: EvalFrame, image: np.ndarray, prob: np.ndarray, truth: list[Any]) -> FrameScore:
        from guidewire_model.runtime.pipeline import Inference

        if frame.sequence != self._sequence:
            self.pipeline.reset()
            self.scores.new_sequence()
            self._sequence = frame.sequence
        result = self.pipeline.finish(Inference(image, prob, 0.0, 0.0))
        return self.scores.update(result.wires, truth, crossing=wires_cross(truth))


@dataclass
class _MethodScores:
    """Everything one method (the model, or the reference) scores over the evaluated frames.

    ``lines``: the model's published centrelines (None for the reference, which has no node);
    ``per_frame_lines`` holds each frame's score, None where the frame has no centrelines.
    """

    predict: Predict
    threshold: float
    lines: _PublishedLines | None = None
    total: AccuracyCounts = field(default_factory=AccuracyCounts)
    per_sequence: dict[str, AccuracyCounts] = field(default_factory=dict)
    sweep: ThresholdSweep = field(default_factory=lambda: ThresholdSweep(SWEEP_BINS))
    exclusion: _Exclusion = field(default_factory=_Exclusion)
    frame_scores: list[tuple[float, float, str, int]] = field(default_factory=list)
    per_frame: list[AccuracyCounts] = field(default_factory=list)
    per_frame_wires: list[list[WireCoverage]] = field(default_factory=list)
    per_frame_lines: list[FrameScore | None] = field(default_factory=list)

    def add(self, position: int, frame: EvalFrame, image: np.ndarray, prob: np.ndarray, mask: np.ndarray,
            exclude: np.ndarray | None, wires: list[Any] | None = None) -> None:
        from guidewire_model.runtime.preprocess import binarize

        pred = binarize(prob, self.threshold)
        counts = accuracy_counts(pred, mask)
        self.total = self.total + counts
        self.per_frame.append(counts)
        self.per_sequence[frame.sequence] = self.per_sequence.get(frame.sequence, AccuracyCounts()) + counts
        self.sweep.update(prob, mask)
        # Worst first: strict F1, then F1@2, then name, so the report is reproducible.
        self.frame_scores.append((counts.pixel.f1, counts.tolerance.f1, frame.name, position))
        if exclude is not None:
            n, near = count_near(pred, exclude, EXCLUDE_TOLERANCE_PX)
            self.exclusion = _Exclusion(self.exclusion.frames + 1, self.exclusion.pred + n,
                                        self.exclusion.on_exclude + near)
        self.per_frame_wires.append([] if wires is None else wire_coverage(pred, wires))
        self.per_frame_lines.append(None if wires is None or self.lines is None
                                    else self.lines.add(frame, image, prob, wires))

    def to_dict(self, exclude_prefix: str | None) -> dict[str, Any]:
        best_t, best_f1 = self.sweep.best()
        out = {"threshold": self.threshold, "overall": self.total.to_dict(),
               "per_sequence": {name: c.to_dict() for name, c in self.per_sequence.items()},
               "best_threshold": {"threshold": best_t, "f1": best_f1}}
        if self.exclusion.frames:
            out["exclude"] = self.exclusion.to_dict(exclude_prefix)
        coverage = CoverageScores([w for frame in self.per_frame_wires for w in frame])
        if coverage.wires:
            out["wire_coverage"] = coverage.summary()
        scored = [(f, c) for f, c in zip(self.per_frame_lines, self.per_frame_wires) if f is not None]
        if scored:
            out["lines"] = CentrelineScores(frames=[f for f, _ in scored]).summary()
            out["lines"]["missed_by_coverage"] = missed_by_coverage(*zip(*scored))
        return out


def _score(frames: Sequence[EvalFrame], methods: Sequence[_MethodScores],
           earlier: Sequence[EvalFrame | None] | None = None) -> None:
    """One pass over the frames (each loaded once; with ``earlier`` also the frames their motion
    channels need), every method scored on each."""
    start = 0
    for batch in _batches(frames, earlier):
        images, before = [b[1] for b in batch], [b[4] for b in batch]
        wires = [None if b[0].wires is None else b[0].wires() for b in batch]
        for method in methods:
            for i, ((frame, image, mask, exclude, _), prob) in enumerate(zip(batch, method.predict(images, before))):
                method.add(start + i, frame, image, prob, mask, exclude, wires[i])
        start += len(batch)


@dataclass
class _Model:
    path: Path
    kind: str  # "checkpoint" or "onnx"
    pipeline: Any
    threshold_source: str
    split: Any = None  # dataset.Split stored in a checkpoint
    loss: dict[str, float] | None = None


def _load_model(path: str | os.PathLike, threshold: float | None, device: str, backend: str) -> _Model:
    from guidewire_model.runtime.backends import CHECKPOINT_SUFFIXES, create_backend
    from guidewire_model.runtime.pipeline import GuidewirePipeline

    path = Path(path)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    if path.suffix not in CHECKPOINT_SUFFIXES:
        runtime = create_backend(backend, path, device=device)
        source = "--threshold" if threshold is not None else "the model file's metadata"
        return _Model(path, "onnx", GuidewirePipeline(runtime, threshold=threshold), source)

    from guidewire_model.training.torch_backend import TorchBackend
    from guidewire_model.training.checkpoint import config_from_checkpoint, load_checkpoint, recorded_threshold
    from guidewire_model.data.sequences import Split

    if backend not in ("auto", "torch"):
        raise ValueError(f"{path}: a training checkpoint runs on the torch backend only, not {backend!r}; "
                         "export it (guidewire-export) to use another")
    # The checkpoint is read once: its weights become the TorchBackend create_backend would build
    # (at the threshold its export ships), and its stored split and loss settings go into the report.
    payload = load_checkpoint(path)
    runtime = TorchBackend.from_payload(payload, path, device=device)
    if threshold is not None:
        source = "--threshold"
    elif recorded_threshold(payload) is not None:
        source = "the checkpoint's validation threshold"
    else:
        source = "the checkpoint's config"
    cfg = config_from_checkpoint(payload, path)
    split = (Split.from_json(json.dumps(payload["split"]), source=f"{path} (stored split)")
             if "split" in payload else None)
    return _Model(path, "checkpoint", GuidewirePipeline(runtime, threshold=threshold), source, split,
                  {"alpha": cfg.loss.alpha, "gamma": cfg.loss.gamma})


def _select_sequences(model: _Model, data_root: str | os.PathLike, split: str) -> list[Any]:
    from guidewire_model.data.sequences import DatasetError, scan_dataset

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sequences = scan_dataset(data_root)
    if split == "all":
        return sequences
    if model.split is None:
        if model.kind == "onnx":
            raise ValueError(f"{model.path}: an ONNX model carries no data split; evaluate with split 'all' "
                             f"(--split all), or evaluate its training checkpoint for the {split!r} part")
        raise CheckpointError(f"{model.path}: has no stored split; evaluate with split='all'")
    chosen = model.split.sequences(split, sequences)
    if not chosen:
        raise DatasetError(f"{model.path}: the stored split has no {split!r} sequences; choose another split or 'all'")
    return chosen


def _synthetic_sample(frame: Any) -> tuple[np.ndarray, np.ndarray, None]:
    return frame.image, frame.mask, None


def _synthetic_frames() -> list[EvalFrame]:
    """The frames of :data:`REFERENCE_SYNTHETIC`, generated in memory."""
    from guidewire_model.synthetic import SyntheticConfig, generate_sequence, sequence_seed

    spec = REFERENCE_SYNTHETIC
    cfg = SyntheticConfig.preset(spec["preset"], size=spec["size"])
    return [EvalFrame(f"synthetic_{s}", f.index, f"synthetic_{s}_{f.index:06d}", functools.partial(_synthetic_sample, f))
            for s in range(spec["sequences"])
            for f in generate_sequence(cfg, sequence_seed(spec["seed"], s), spec["frames"])]


def _reference_validation(model: _Model, data_root: str | os.PathLike | None, evaluated_folder: str | os.PathLike | None,
                          reference_val: str | os.PathLike | None,
                          prefixes: FolderPrefixes) -> tuple[list[EvalFrame], str]:
    """Validation frames for the reference's threshold, and a sentence saying what they are."""
    from guidewire_model.data.sequences import scan_dataset
    from guidewire_model.data.frame_folder import is_frame_folder

    if reference_val is not None:
        val = Path(reference_val)
        evaluated = [Path(p).resolve() for p in (evaluated_folder,) if p is not None]
        if val.resolve() in evaluated:
            raise ValueError(f"--reference-val {val} is the evaluated folder: a threshold chosen on the frames "
                             "it is scored on would flatter the reference; name other validation frames")
        if is_frame_folder(val, prefixes):
            frames = folder_frames(val, prefixes)
            return frames, f"the frames of the folder `{val}` named with --reference-val ({len(frames)} frames)"
        frames = dataset_frames(scan_dataset(val))
        return frames, f"all sequences of the data set `{val}` named with --reference-val ({len(frames)} frames)"
    if model.split is not None and model.split.val and data_root is not None:
        sequences = model.split.sequences("val", scan_dataset(data_root))
        frames = dataset_frames(sequences)
        return frames, (f"the validation part of the checkpoint's stored split ({', '.join(model.split.val)} of "
                        f"`{data_root}`, {len(frames)} frames), as training chose the model's threshold")
    spec = REFERENCE_SYNTHETIC
    frames = _synthetic_frames()
    why = ("no --reference-val was given and the model has no stored validation split"
           if model.split is None or not model.split.val else "no --reference-val was given")
    return frames, (f"synthetic frames generated for it ({spec['preset']} preset, {spec['sequences']} sequences x "
                    f"{spec['frames']} frames at {spec['size']} px, seed {spec['seed']}; {len(frames)} frames), "
                    f"because {why}")


def evaluate(
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    data: str | os.PathLike | None = None,
    split: str | None = None,
    folder: str | os.PathLike | None = None,
    prefixes: FolderPrefixes = FolderPrefixes(),
    threshold: float | None = None,
    n_overlays: int = 8,
    device: str = "cpu",
    backend: str = "auto",
    reference: str | None = "frangi",
    reference_val: str | os.PathLike | None = None,
    compare: str | os.PathLike | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """Score a model (and the Frangi reference) on a data set or a folder of frames, with a report.

    Parameters
    ----------
    model : path-like
        Training checkpoint (``.pt``) or exported ONNX file.
    out_dir : path-like
        Report folder (created).
    data : path-like, optional
        Data set folder (layout of :mod:`guidewire_model.data.layout`); exactly one of ``data`` and ``folder``.
    split : {"test", "val", "train", "all"}, optional
        With ``data``: part of the checkpoint's stored split, or every sequence; default ``"test"``.
        Not allowed with ``folder``.
    folder : path-like, optional
        Plain folder of frames and masks (:mod:`guidewire_model.data.frame_folder`).
    prefixes : FolderPrefixes
        File-name prefixes of a folder (and of a ``reference_val`` folder).
    threshold : float, optional
        Probability threshold of the model's mask; default the model's own.
    n_overlays : int
        Number of worst frames (lowest strict F1) written as overlays.
    device : {"cpu", "cuda"}
        Inference device.
    backend : {"auto", "onnxruntime", "torch", "tensorrt"}
        See :func:`guidewire_model.runtime.backends.create_backend`; a checkpoint always runs on torch.
    reference : {"frangi", None}
        Score the Frangi reference row (costs a filter pass over validation and evaluated frames).
    reference_val : path-like, optional
        Validation frames for the reference's threshold: a frame folder or a data set root.
    compare : path-like, optional
        A second model (checkpoint or ONNX file, at its own threshold) scored on the same frames, and
        the difference of the two (this model minus it) with a paired bootstrap interval
        (:func:`~guidewire_model.metrics.paired.compare_frames`: pixel F1 and F1@2; where the frames
        have centrelines, wire coverage and the published centrelines) over the sequences, or over
        the frames where there are fewer than :data:`MIN_SEQUENCE_UNITS` sequences.
    resamples : int
        Bootstrap resamples of the comparison.

    Returns
    -------
    dict
        The content of ``metrics.json``: ``model``, ``source``, ``threshold``, ``overall``
        (tp/fp/fn/tn/precision/recall/f1 and ``tolerance``), ``per_sequence``, ``best_threshold``,
        ``exclude`` (with an exclude annotation), ``wire_coverage`` (where the frames have
        centrelines: :meth:`~guidewire_model.metrics.wires.CoverageScores.summary`; and ``lines``, the
        published centrelines' :meth:`~guidewire_model.metrics.wires.CentrelineScores.summary`),
        ``reference`` (with ``reference``),
        ``comparison`` (with ``compare``: the second model's scores and ``difference``), ``worst_frames``,
        file names.

    Raises
    ------
    CheckpointError, model_info.ModelFileError, backends.BackendError
        If the model cannot be read or run.
    dataset.DatasetError, frame_folder.FolderError
        If the frames are invalid (the message names the file), or a stored split lacks the part.
    ValueError
        On a bad combination of arguments or a threshold outside [0, 1].
    """
    from guidewire_model.runtime.overlay import error_overlay, write_png
    from guidewire_model.runtime.preprocess import binarize
    from guidewire_model.evaluation.ridge_filter import FRANGI_SIGMAS, frangi_maps

    if (data is None) == (folder is None):
        raise ValueError("evaluate either a data set (data) or a folder of frames (folder), exactly one")
    if folder is not None and split is not None:
        raise ValueError("a folder has no split; --split applies to --data only")
    if reference not in ("frangi", None):
        raise ValueError(f"reference must be 'frangi' or None, got {reference!r}")
    if compare is not None and resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    split = "test" if data is not None and split is None else split
    loaded = _load_model(model, threshold, device, backend)
    pipeline = loaded.pipeline
    against = _load_model(compare, None, device, backend) if compare is not None else None
    if data is not None:
        frames = dataset_frames(_select_sequences(loaded, data, split))
        source = {"kind": "dataset", "path": str(data), "split": split}
    else:
        frames = folder_frames(folder, prefixes)
        source = {"kind": "folder", "path": str(folder), "frame_prefix": prefixes.frame,
                  "mask_prefix": prefixes.mask, "exclude_prefix": prefixes.exclude}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # A motion-input model sees each frame beside the frame MOTION_LAG before it in its sequence, as
    # the node does; a folder's frames, which need not be a run, each alone.
    motion = any(m is not None and m.pipeline.backend.info.motion_input for m in (loaded, against))
    earlier = _earlier_frames(frames) if motion and data is not None else None

    scores = _MethodScores(functools.partial(_published, pipeline), pipeline.threshold, _PublishedLines(pipeline))
    methods = [scores]
    if against is not None:
        second = _MethodScores(functools.partial(_published, against.pipeline), against.pipeline.threshold,
                               _PublishedLines(against.pipeline))
        methods.append(second)
    ref_info: dict[str, Any] = {}
    if reference == "frangi":
        val_frames, val_source = _reference_validation(loaded, data, folder, reference_val, prefixes)
        ref_t, ref_val_f1 = choose_threshold(val_frames, _frames_alone(frangi_maps))
        ref_scores = _MethodScores(_frames_alone(frangi_maps), ref_t)
        methods.append(ref_scores)
        ref_info = {"method": "frangi", "label": "Frangi vesselness", "sigmas_px": list(FRANGI_SIGMAS),
                    "black_ridges": True, "threshold_source": val_source,
                    "validation": {"frames": len(val_frames), "f1": ref_val_f1}}
    _score(frames, methods, earlier)

    # Worst frames first; predictions are recomputed for the few drawn rather than kept for all.
    worst = sorted(scores.frame_scores)[: max(n_overlays, 0)]
    overlay_files = []
    for _, _, name, position in worst:
        image, mask, exclude = frames[position].load()
        before = earlier[position] if earlier is not None else None
        pred = binarize(_published(pipeline, [image], [None if before is None else before.load()[0]])[0],
                        pipeline.threshold)
        rel = f"overlays/{name}.png"
        write_png(out / rel, error_overlay(image, pred, mask, exclude=exclude))
        overlay_files.append(rel)

    info = pipeline.backend.info
    # What the exclude annotation is called in the report: a folder's file prefix, or a data set's
    # exclude/ masks (the generator's devices: catheter and look-alikes).
    exclude_prefix = prefixes.exclude if folder is not None else f"{layout.EXCLUDE_DIR}/"
    result: dict[str, Any] = {
        "model": {"path": str(loaded.path), "kind": loaded.kind, "backend": pipeline.backend.name,
                  "architecture": info.architecture, "encoder": info.encoder, "input_size": info.input_size},
        "source": source,
        "threshold_source": loaded.threshold_source,
        "field_of_view": pipeline.settings.field_of_view,
        "n_sequences": len({f.sequence for f in frames}),
        "n_frames": len(frames),
        **scores.to_dict(exclude_prefix),
        "worst_frames": [{"sequence": frames[p].sequence, "frame": frames[p].index, "file": frames[p].file,
                          "f1": f1, "tolerance": {"f1": tf1}, "overlay": o}
                         for (f1, tf1, _, p), o in zip(worst, overlay_files)],
        "pr_curve": "pr_curve.png",
    }
    if loaded.kind == "checkpoint":
        result["checkpoint"] = str(loaded.path)
        result["loss"] = loaded.loss
    if data is not None:
        result.update({"data_root": str(data), "split": split})
    else:
        result["folder"] = str(folder)
    if against is not None:
        result["comparison"] = _comparison(against, scores, second, frames, exclude_prefix, resamples)
    if reference == "frangi":
        result["reference"] = {**ref_info, **ref_scores.to_dict(exclude_prefix)}
    curves = [("model", scores)] + ([("compared", second)] if against is not None else [])
    _plot_pr_curve(out / "pr_curve.png", curves + ([("Frangi", ref_scores)] if reference == "frangi" else []))
    (out / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "metrics.md").write_text(_markdown(result), encoding="utf-8")
    return result


def _published(pipeline: Any, images: list[np.ndarray], before: list[np.ndarray | None]) -> list[np.ndarray]:
    """What the node publishes: the network's map with the frame's invalid field (shutters, borders,
    burned-in text) set to 0, to be thresholded at the model's threshold."""
    return pipeline.segment(images, field_of_view=True, earlier=before)


def _comparison(against: _Model, first: _MethodScores, second: _MethodScores, frames: Sequence[EvalFrame],
                exclude_prefix: str | None, resamples: int) -> dict[str, Any]:
    """The ``comparison`` entry: the second model's scores and the paired difference of the two."""
    difference = compare_frames([f.sequence for f in frames], (first.per_frame, second.per_frame),
                                (first.per_frame_wires, second.per_frame_wires),
                                (first.per_frame_lines, second.per_frame_lines), resamples=resamples)
    info = against.pipeline.backend.info
    return {"model": {"path": str(against.path), "kind": against.kind, "backend": against.pipeline.backend.name,
                      "architecture": info.architecture, "encoder": info.encoder, "input_size": info.input_size},
            "threshold_source": against.threshold_source, **second.to_dict(exclude_prefix), "difference": difference}


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    split: str = "test",
    out_dir: str | os.PathLike = "eval",
    threshold: float | None = None,
    n_overlays: int = 8,
    device: str = "cpu",
    reference: str | None = "frangi",
    reference_val: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` of a model on one part of a data set (the training workflow's call).

    Parameters
    ----------
    checkpoint : path-like
        ``best.pt`` / ``last.pt`` written by training (or an ONNX file, with ``split="all"``).
    data_root, split, out_dir, threshold, n_overlays, device, reference, reference_val
        As :func:`evaluate` (``data_root`` is its ``data``).

    Returns
    -------
    dict
        See :func:`evaluate`.
    """
    return evaluate(checkpoint, out_dir, data=data_root, split=split, threshold=threshold, n_overlays=n_overlays,
                    device=device, reference=reference, reference_val=reference_val)


def _plot_pr_curve(path: Path, methods: Sequence[tuple[str, _MethodScores]]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on training servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        for (label, m), style in zip(methods, ("-", "--")):
            curve = m.sweep.curve()
            at = m.total.pixel  # the counts of the masks themselves: exact at any threshold, 1.0 included
            best_t, best_f1 = m.sweep.best()
            line, = ax.plot(curve["recall"], curve["precision"], style, lw=1.5, label=f"{label}: threshold sweep")
            ax.plot([at.recall], [at.precision], "o", color=line.get_color(),
                    label=f"{label} at {m.threshold:g}: F1 {at.f1:.3f}")
            k = int(round(best_t * len(curve["thresholds"])))
            ax.plot([curve["recall"][k]], [curve["precision"][k]], "s", color=line.get_color(),
                    label=f"{label} best {best_t:g}: F1 {best_f1:.3f}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left", fontsize=7)
        ax.set_title("Pixel precision-recall (strict)")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _scores_cells(c: dict[str, Any]) -> str:
    t = c["tolerance"]
    return (f"{c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | "
            f"{t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f}")


def _share(exclude: dict[str, Any] | None) -> str:
    if not exclude:
        return "-"
    return "n/a" if exclude["share"] is None else f"{100 * exclude['share']:.1f} %"


def _markdown(r: dict[str, Any]) -> str:
    src = r["source"]
    where = (f"Split **{src['split']}** of `{src['path']}`" if src["kind"] == "dataset"
             else f"Folder `{src['path']}` (frames `{src['frame_prefix']}*`, masks `{src['mask_prefix']}*`)")
    tol = r["overall"]["tolerance"]["tolerance_px"]
    lines = [
        f"# Evaluation of `{r['model']['path']}`",
        "",
        f"{where}: {r['n_sequences']} sequence(s), {r['n_frames']} frames, threshold {r['threshold']:g} "
        f"({r['threshold_source']}); pixel scores over all frames at full resolution"
        + (", of the mask the node publishes (probability outside the frame's valid field of view set to 0)."
           if r.get("field_of_view") else "."),
        f"P/R/F1 are strict (pixel by pixel); P@{tol:g}, R@{tol:g}, F1@{tol:g} allow {tol:g} px: precision = share "
        f"of predicted pixels within {tol:g} px of the annotated wire, recall = share of the annotation's "
        f"skeleton within {tol:g} px of a predicted pixel.",
        "",
        f"| | Precision | Recall | F1-Score | P@{tol:g} | R@{tol:g} | F1@{tol:g} |",
        "|---|---|---|---|---|---|---|",
        f"| **all** | {_scores_cells(r['overall'])} |",
    ]
    lines += [f"| {name} | {_scores_cells(c)} |" for name, c in r["per_sequence"].items()]
    b = r["best_threshold"]
    lines += ["", f"Best threshold of the sweep: {b['threshold']:g} (F1 {b['f1']:.3f}). "
              f"Precision-recall curve: `{r['pr_curve']}`.", ""]
    ref = r.get("reference")
    has_exclude = "exclude" in r
    if ref:
        model = r["model"]
        rows = [(f"this model ({model['architecture']}/{model['encoder']}, {model['kind']})", r),
                (f"{ref['label']} (σ {', '.join(f'{s:g}' for s in ref['sigmas_px'])} px)", ref)]
        lines += ["## Beside a classical method", ""] + _scores_table("Method", rows, tol, has_exclude)
        lines += ["", f"The Frangi threshold is the F1-best of a sweep over {ref['threshold_source']} "
                  f"(validation F1 {ref['validation']['f1']:.3f}); it never sees the evaluated frames.", ""]
    comparison = r.get("comparison")
    if comparison:
        lines += _comparison_markdown(r, comparison, tol, has_exclude)
    if "wire_coverage" in r:
        rows = ([("this model", r)] + ([(f"`{comparison['model']['path']}`", comparison)] if comparison else [])
                + ([(ref["label"], ref)] if ref else []))
        lines += ["## Wire coverage", "",
                  f"Along each annotated centreline (1 px samples), the share within {tol:g} px of the mask, the "
                  f"same over the last {DISTAL_PX:g} px before the tip, and the gaps (uncovered runs of at least "
                  f"{GAP_PX:g} px), where the node's centreline tracer stops.", "",
                  "| Method | wires | covered | distal covered | gaps a wire | wires without a gap |",
                  "|---|---|---|---|---|---|"]
        for label, row in rows:
            c = row["wire_coverage"]
            lines.append(f"| {label} | {c['wires']} | {100 * c['covered']:.1f} % | {100 * c['distal_covered']:.1f} % | "
                         f"{c['gaps_per_wire']:.2f} | {100 * c['wires_without_gap']:.1f} % |")
        lines.append("")
    if "lines" in r:
        rows = [("this model", r)] + ([(f"`{comparison['model']['path']}`", comparison)] if comparison else [])
        lines += ["## Published centrelines", "",
                  "The model's masks through the node's post-processing and tracker, frame by frame in each "
                  "sequence's order, against the annotated centrelines: the wires told apart (every annotated wire "
                  "matched to its own published wire; in frames where the wires cross or run side by side), the "
                  f"share of annotated tips a published wire ends within {TIP_FOUND_PX:g} px of, the median tip error "
                  "and mean centreline distance of the matched wires, identity switches, and annotated wires "
                  "missed and published wires matching none.", "",
                  "| Model | frames | told apart | crossing | tips found | tip error median | distance | "
                  "switches / 100 frames | missed | extra |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {label} | {_lines_cells(row['lines'])} |" for label, row in rows]
        low, high = (f"{100 * b:g} %" for b in MISSED_COVERAGE_BOUNDS)
        lines += ["", f"Missed wires by how much of each the thresholded map covers (within {tol:g} px): under {low} "
                  f"(lost in the mask), {low} to {high}, {high} or more (lost after the mask: tracing, choice of "
                  "lines, tracking):", ""]
        lines += [f"- {label}: {m['mask_lacks']}, {m['mask_partial']}, {m['mask_holds']}"
                  for label, row in rows for m in [row["lines"]["missed_by_coverage"]]]
        lines.append("")
    if has_exclude:
        e = r["exclude"]
        lines += [f"## Predicted pixels on the `{e['annotation']}` annotation", "",
                  f"{_share(e)} of the model's predicted pixels ({e['on_exclude']} of {e['pred']}, over the "
                  f"{e['frames']} frames that have the annotation) lie within {e['tolerance_px']:g} px of it. "
                  "A guidewire model should mark the guidewire, not the look-alike.", ""]
    legend = ", the exclude annotation amber where left unmarked" if has_exclude else ""
    lines += [f"Worst frames (strict F1; TP green, FP red, FN blue{legend}):", ""]
    for w in r["worst_frames"]:
        what = w["file"] or f"{w['sequence']} frame {w['frame']}"
        lines.append(f"- {what}: F1 {w['f1']:.3f}, F1@{tol:g} {w['tolerance']['f1']:.3f} (`{w['overlay']}`)")
    return "\n".join(lines) + "\n"


def _difference_text(d: dict[str, Any]) -> str:
    return (f"{d['difference']:+.4f} ({d['low']:+.4f} … {d['high']:+.4f}; "
            f"this model ahead in {100 * d['first_ahead']:.0f} %)")


def _scores_table(first_column: str, rows: Sequence[tuple[str, dict[str, Any]]], tol: float,
                  has_exclude: bool) -> list[str]:
    """Rows of methods or models side by side: threshold, strict and tolerance scores, and the share on
    the exclude annotation where there is one."""
    head = f"| {first_column} | Threshold | Precision | Recall | F1-Score | P@{tol:g} | R@{tol:g} | F1@{tol:g} |"
    sep = "|---|---|---|---|---|---|---|---|"
    if has_exclude:
        head, sep = head + " on exclude |", sep + "---|"
    lines = [head, sep]
    for label, row in rows:
        cells = f"| {label} | {row['threshold']:.3f} | {_scores_cells(row['overall'])} |"
        lines.append(cells + (f" {_share(row.get('exclude'))} |" if has_exclude else ""))
    return lines


def _comparison_markdown(r: dict[str, Any], c: dict[str, Any], tol: float, has_exclude: bool) -> list[str]:
    rows = [(f"this model (`{r['model']['path']}`)", r), (f"`{c['model']['path']}`", c)]
    lines = [f"## Against `{c['model']['path']}`", ""] + _scores_table("Model", rows, tol, has_exclude)
    d = c["difference"]
    where = (f"the {d['units']} sequences" if d["unit"] == "sequence" else
             f"the {d['units']} frames (fewer than {MIN_SEQUENCE_UNITS} sequences: frames of one sequence are not "
             "independent, so this interval is narrower than the truth)")
    lines += ["", f"This model minus the other, on the same frames, each at its own threshold; in brackets the "
              f"{100 * d['confidence']:g} % interval of a paired bootstrap ({d['resamples']} resamples of {where}) "
              "and the share of resamples in which this model is ahead:", "",
              f"- F1: {_difference_text(d['f1'])}",
              f"- F1@{tol:g}: {_difference_text(d['tolerance_f1'])}"]
    if "wire_coverage" in d:
        w = d["wire_coverage"]
        lines += [f"- wires covered: {_points_text(w['covered'])}",
                  f"- last {DISTAL_PX:g} px covered: {_points_text(w['distal_covered'])}",
                  f"- gaps a wire (fewer is better): {_signed_text(w['gaps_per_wire'])}"]
    if "lines" in d:
        n = d["lines"]
        lines += [f"- wires told apart: {_points_text(n['assignment_accuracy'])}",
                  f"- tips found: {_points_text(n['tips_found'])}",
                  "- identity switches per 100 frames (fewer is better): "
                  f"{_signed_text(n['id_switches_per_100_frames'])}"]
        if "tip_error_median_px" in n:
            lines += [f"- over the {n['paired_wires']} annotated wires both models matched: median tip error "
                      f"{_signed_text(n['tip_error_median_px'])} px, mean centreline distance "
                      f"{_signed_text(n['mean_centreline_distance_px'])} px (smaller is better)"]
    return lines + [""]


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.1f} %"


def _px(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f} px"


def _lines_cells(n: dict[str, Any]) -> str:
    """One row of the published-centrelines table."""
    return (f"{n['frames']} | {_percent(n['assignment_accuracy'])} | "
            f"{_percent(n['crossing_assignment_accuracy'])} | {_percent(n['tips_found'])} | "
            f"{_px(n['tip_error_median_px'])} | {_px(n['mean_centreline_distance_px'])} | "
            f"{n['id_switches_per_100_frames']:.2f} | {n['missed_wires']} | {n['extra_wires']}")


def _points_text(d: dict[str, Any]) -> str:
    """A difference of two shares in percentage points, with its interval."""
    return f"{100 * d['difference']:+.1f} points ({100 * d['low']:+.1f} … {100 * d['high']:+.1f})"


def _signed_text(d: dict[str, Any]) -> str:
    """A difference in its figure's own units (gaps a wire, switches, pixels), with its interval."""
    return f"{d['difference']:+.2f} ({d['low']:+.2f} … {d['high']:+.2f})"


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``guidewire-eval``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="guidewire-eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", "--checkpoint", dest="model", required=True,
                        help="training checkpoint (.pt) or exported ONNX model (.onnx)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="data set folder (one folder per sequence)")
    source.add_argument("--folder", help="plain folder of frames and masks, any size (see --frame-prefix)")
    parser.add_argument("--split", default=None, choices=SPLITS,
                        help="with --data: part of the checkpoint's stored split (default test; 'all' for an ONNX model)")
    parser.add_argument("--frame-prefix", default="frame_", help="with --folder: frame files' prefix (default frame_)")
    parser.add_argument("--mask-prefix", default="guidewire_", help="guidewire masks' prefix (default guidewire_)")
    parser.add_argument("--exclude-prefix", default="catheter_",
                        help="prefix of an annotation that is NOT guidewire, e.g. the catheter (default catheter_; "
                             "'' for none)")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the model's)")
    parser.add_argument("--overlays", type=int, default=8, help="number of worst-frame overlays (default 8)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="inference device (default cpu)")
    parser.add_argument("--backend", default="auto", choices=("auto", "onnxruntime", "torch", "tensorrt"),
                        help="runtime of an ONNX model (default auto; a checkpoint always runs on torch)")
    parser.add_argument("--reference", default="frangi", choices=("frangi", "none"),
                        help="classical reference row (default frangi)")
    parser.add_argument("--no-reference", dest="reference", action="store_const", const="none",
                        help="skip the reference row (it costs a filter pass over the frames)")
    parser.add_argument("--reference-val", metavar="DIR_OR_DATASET",
                        help="frames to choose the reference's threshold on (default: the checkpoint's validation "
                             "split, else generated synthetic frames; never the evaluated frames)")
    parser.add_argument("--compare", metavar="MODEL",
                        help="a second model (checkpoint or ONNX, at its own threshold) scored on the same frames; "
                             "the report gives the difference with a paired bootstrap interval")
    parser.add_argument("--resamples", type=int, default=BOOTSTRAP_RESAMPLES,
                        help="bootstrap resamples of --compare (default %(default)s)")
    args = parser.parse_args(argv)

    from guidewire_model.runtime.backends import BackendError
    from guidewire_model.data.sequences import DatasetError

    try:
        prefixes = FolderPrefixes(args.frame_prefix, args.mask_prefix, args.exclude_prefix or None)
        r = evaluate(args.model, args.out, data=args.data, split=args.split, folder=args.folder, prefixes=prefixes,
                     threshold=args.threshold, n_overlays=args.overlays, device=args.device, backend=args.backend,
                     reference=None if args.reference == "none" else args.reference, reference_val=args.reference_val,
                     compare=args.compare, resamples=args.resamples)
    except (CheckpointError, DatasetError, BackendError, ValueError) as exc:
        print(f"guidewire-eval: error: {exc}", file=sys.stderr)
        return 2
    what = r.get("split") or "folder"
    print(f"{what}: {r['n_frames']} frames  {_summary_line(r)}  -> {Path(args.out) / 'metrics.md'}")
    if "reference" in r:
        ref = r["reference"]
        print(f"reference {ref['label']} (threshold {ref['threshold']:.3f}): {_summary_line(ref)}")
    if "comparison" in r:
        c = r["comparison"]
        d = c["difference"]
        print(f"compared {c['model']['path']} (threshold {c['threshold']:.3f}): {_summary_line(c)}")
        print(f"this model minus it, {100 * d['confidence']:g} % paired bootstrap over {d['units']} {d['unit']}s: "
              f"F1 {_difference_text(d['f1'])}  F1@{c['overall']['tolerance']['tolerance_px']:g} "
              f"{_difference_text(d['tolerance_f1'])}")
        if "wire_coverage" in d:
            w = d["wire_coverage"]
            print(f"  wires covered {_points_text(w['covered'])}, last {DISTAL_PX:g} px "
                  f"{_points_text(w['distal_covered'])}, gaps a wire {_signed_text(w['gaps_per_wire'])}")
        if "lines" in d:
            n = d["lines"]
            print(f"  published centrelines: wires told apart {_points_text(n['assignment_accuracy'])}, tips found "
                  f"{_points_text(n['tips_found'])}, switches per 100 frames "
                  f"{_signed_text(n['id_switches_per_100_frames'])}")
    return 0


def _summary_line(row: dict[str, Any]) -> str:
    o, t = row["overall"], row["overall"]["tolerance"]
    text = (f"precision {o['precision']:.4f}  recall {o['recall']:.4f}  F1 {o['f1']:.4f}  |  "
            f"F1@{t['tolerance_px']:g} {t['f1']:.4f} (P {t['precision']:.4f}, R {t['recall']:.4f})")
    if "exclude" in row:
        text += f"  |  on {row['exclude']['annotation']}: {_share(row['exclude'])} of predicted pixels"
    if "wire_coverage" in row:
        c = row["wire_coverage"]
        text += (f"  |  wires covered {100 * c['covered']:.1f} % ({100 * c['distal_covered']:.1f} % of the distal "
                 f"{DISTAL_PX:g} px), {c['gaps_per_wire']:.2f} gaps a wire")
    if "lines" in row:
        n = row["lines"]
        text += (f"  |  published centrelines: told apart {_percent(n['assignment_accuracy'])}, tips found "
                 f"{_percent(n['tips_found'])}, tip error median {_px(n['tip_error_median_px'])}")
    return text


if __name__ == "__main__":
    sys.exit(main())
