"""The per-frame perception pipeline shared by the ROS node, the bag evaluator, benchmarks and tests.

image -> preprocess -> backend -> probability map -> mask -> centrelines -> tracked wire ids

No ROS types here: the node converts messages to arrays before calling :meth:`GuidewirePipeline.process`
and results back to messages after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .backends.base import Backend
from .centreline import extract_centrelines
from .preprocess import binarize, prepare_batch, restore_size
from .tracking import WireTracker

__all__ = ["FrameResult", "GuidewirePipeline", "StageTimings", "WireResult"]


@dataclass(frozen=True)
class WireResult:
    """One traced guidewire, in input-image pixel coordinates.

    Attributes
    ----------
    wire_id : int
        Tracker id (>= 1), stable while the wire stays visible.
    points : ndarray, (N, 2) float64
        Centreline (x, y), proximal -> distal, about 1 px apart.
    point_probability : ndarray, (N,) float32
        Probability map sampled at each point (nearest pixel).
    tip, tip_direction : ndarray, (2,)
        Distal tip and the unit vector pointing distally there.
    length_px, mean_probability : float
    frames_tracked : int
        Consecutive frames this id has been seen, 1 when new.
    """

    wire_id: int
    points: np.ndarray
    point_probability: np.ndarray
    tip: np.ndarray
    tip_direction: np.ndarray
    length_px: float
    mean_probability: float
    frames_tracked: int


@dataclass(frozen=True)
class StageTimings:
    """Wall time of each stage of one frame [ms]."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline computes for one frame, at the input image's size.

    Attributes
    ----------
    probability : ndarray, (H, W) float32 in [0, 1]
    mask : ndarray, (H, W) uint8 in {0, 1}
    wires : list of WireResult, ordered by id
    timings : StageTimings
    """

    probability: np.ndarray
    mask: np.ndarray
    wires: list[WireResult]
    timings: StageTimings


def _sample(prob: np.ndarray, points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0, dtype=np.float32)
    h, w = prob.shape
    cols = np.clip(np.rint(points[:, 0]).astype(np.intp), 0, w - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(np.intp), 0, h - 1)
    return prob[rows, cols].astype(np.float32)


class GuidewirePipeline:
    """Segment and trace guidewires frame by frame with one backend.

    Parameters
    ----------
    backend : Backend
        Loaded model; its ``info`` gives input size, normalisation and default threshold.
    threshold : float, optional
        Probability above which a pixel is guidewire; ``None`` = the model's own.
    max_wires : int
        Most wire instances reported per frame.
    min_wire_length_px : float
        Centrelines shorter than this (input pixels) are dropped.
    track : bool
        Keep wire ids stable across calls (a sequence); ``False`` numbers wires per frame.
    """

    def __init__(self, backend: Backend, threshold: float | None = None, max_wires: int = 2,
                 min_wire_length_px: float = 20.0, track: bool = True) -> None:
        self.backend = backend
        self.threshold = backend.info.threshold if threshold is None else float(threshold)
        self.max_wires = int(max_wires)
        self.min_wire_length_px = float(min_wire_length_px)
        self.track = track
        self._tracker = WireTracker(max_wires=self.max_wires)

    def reset(self) -> None:
        """Forget tracked wires (start of a new sequence)."""
        self._tracker = WireTracker(max_wires=self.max_wires)

    def segment(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Probability maps at each image's own size, for a batch of 2-D frames (no tracing)."""
        info = self.backend.info
        batch = prepare_batch(images, info.input_size, info.input_mean, info.input_std)
        prob = self.backend.infer(batch)
        return [restore_size(p[0], img.shape) for p, img in zip(prob, images)]

    def process(self, image: np.ndarray) -> FrameResult:
        """Run the whole pipeline on one frame.

        Parameters
        ----------
        image : ndarray, (H, W), uint8, uint16 or float32 in [0, 1]
            Grayscale fluoroscopy frame.

        Returns
        -------
        FrameResult
            At the input's size; wire coordinates in its pixels.
        """
        info = self.backend.info
        t0 = time.perf_counter()
        batch = prepare_batch([image], info.input_size, info.input_mean, info.input_std)
        t1 = time.perf_counter()
        prob_small = self.backend.infer(batch)[0, 0]
        t2 = time.perf_counter()
        prob = restore_size(prob_small, image.shape)
        mask = binarize(prob, self.threshold)
        lines = extract_centrelines(mask, prob, max_wires=self.max_wires, min_length_px=self.min_wire_length_px)
        if self.track:
            tracked = [(t.wire_id, t.centreline, t.frames_tracked) for t in self._tracker.update(lines)]
        else:
            tracked = [(i + 1, c, 1) for i, c in enumerate(lines)]
        wires = [
            WireResult(
                wire_id=wire_id,
                points=c.points,
                point_probability=_sample(prob, c.points),
                tip=c.tip,
                tip_direction=c.tip_direction,
                length_px=float(c.length_px),
                mean_probability=float(c.mean_probability),
                frames_tracked=frames,
            )
            for wire_id, c, frames in sorted(tracked, key=lambda t: t[0])
        ]
        t3 = time.perf_counter()
        timings = StageTimings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return FrameResult(probability=prob, mask=mask, wires=wires, timings=timings)
