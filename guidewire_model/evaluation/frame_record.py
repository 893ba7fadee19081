"""One evaluated frame and how bad it looks: the types the bag evaluation and its report share.

:class:`FrameRecord` is what :class:`guidewire_model.evaluation.bag_evaluation.Evaluation` accumulates and what
:mod:`guidewire_model.evaluation.bag_report` draws; :func:`frame_badness` ranks records for the report's
overlays. Kept apart from both so that imports go one way: ``bag_eval`` -> ``bag_report`` ->
``frame_record``. No ROS types, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from guidewire_model.metrics.wires import match_wires
from guidewire_model.metrics.pixels import AccuracyCounts, accuracy_counts

__all__ = ["FrameRecord", "frame_accuracy", "frame_badness", "headline_latency_key"]


@dataclass
class FrameRecord:
    """Everything known about one frame, for the metrics and the report. No ROS types.

    Attributes
    ----------
    stamp_ns : int
        ``header.stamp`` of the input image [ns since the epoch]. Orders the frames in plots.
    image : ndarray (H, W) or None
        The input frame (uint8, uint16 or float32), as decoded; needed only to draw overlays.
    probability : ndarray (H, W) float32 in [0, 1], or None
        The probability map at the input's size. Only offline runs have it (the node does not
        publish it); without it there is no precision-recall curve, everything else works.
    mask : ndarray (H, W) uint8 {0, 1} (or bool), or None
        The predicted mask at the input's size. None = no result for this frame (dropped).
    wires : list or None
        Predicted wires: items with ``wire_id`` and ``points`` ((N, 2) x/y px, proximal -> distal),
        pipeline results or wires read back from a message (:class:`~guidewire_model.core.wire.Wire`).
    gt_mask : ndarray (H, W) {0, 1} or None
        Ground-truth mask; None when this frame has none (no pixel metrics for it).
    gt_wires : list of Wire or None
        Ground-truth centrelines; None when this frame has none (no centreline metrics for it).
    latency_ms : dict of str to float
        Milliseconds per stage for this frame. Offline: ``preprocess``, ``inference``,
        ``postprocess``, ``total`` (the pipeline's :class:`~guidewire_model.runtime.pipeline.StageTimings`).
        Live: at least ``end_to_end`` (input stamp -> result received); stages where known. Every
        key present is summarised; ``end_to_end`` (else ``total``) is the headline latency.
    sequence : str
        Name of the sequence (bag) the frame belongs to; a change of name starts a new sequence
        (wire identities restart).
    frame_id : str
        ``header.frame_id`` of the input, copied to the results bag.
    log_time_ns : int or None
        Bag log time of the input (results are logged at the same time); None = the stamp.
    """

    stamp_ns: int
    image: np.ndarray | None = None
    probability: np.ndarray | None = None
    mask: np.ndarray | None = None
    wires: list | None = None
    gt_mask: np.ndarray | None = None
    gt_wires: list | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    sequence: str = ""
    frame_id: str = ""
    log_time_ns: int | None = None


def headline_latency_key(keys: Iterable[str]) -> str | None:
    """The latency stage a summary leads with: ``end_to_end`` (live) if present, else ``total``."""
    keys = set(keys)
    return "end_to_end" if "end_to_end" in keys else "total" if "total" in keys else None


def frame_accuracy(record: FrameRecord) -> AccuracyCounts:
    """Strict and tolerant pixel counts of a record with ``mask`` and ``gt_mask``."""
    return accuracy_counts(np.asarray(record.mask).astype(bool), np.asarray(record.gt_mask).astype(bool))


def frame_badness(record: FrameRecord, gate_px: float = 10.0,
                  counts: AccuracyCounts | None = None) -> tuple[int, float, str]:
    """How bad a frame looks, for choosing the report's overlays: larger is worse.

    Returns ``(level, value, caption)``: level 2 ranks by 1 - strict pixel F1 (frames with a mask
    and ground-truth mask; the caption adds F1@2), level 1 by the centreline error (mean matched
    distance plus ``gate_px`` per missed or extra wire; frames with ground-truth centrelines), level
    0 by latency (no ground truth: the slowest frames). Frames of a higher level always rank above
    lower ones. ``counts``: the frame's accuracy counts where the caller has them already.
    """
    if record.mask is not None and record.gt_mask is not None:
        counts = counts if counts is not None else frame_accuracy(record)
        c, t = counts.pixel, counts.tolerance
        return 2, 1.0 - c.f1, (f"F1 {c.f1:.3f} (P {c.precision:.3f}, R {c.recall:.3f}), "
                               f"F1@{counts.tolerance_px:g} {t.f1:.3f}")
    if record.wires is not None and record.gt_wires is not None:
        matches = match_wires(list(record.wires), list(record.gt_wires), gate_px)
        unmatched = len(record.gt_wires) - len(matches) + max(len(record.wires) - len(matches), 0)
        mean = float(np.mean([d for _, _, d in matches])) if matches else 0.0
        return 1, mean + gate_px * unmatched, f"centreline {mean:.2f} px, {unmatched} missed/extra wire(s)"
    key = headline_latency_key(record.latency_ms)
    value = float(record.latency_ms.get(key, 0.0)) if key else 0.0
    return 0, value, f"{key or 'latency'} {value:.1f} ms"
