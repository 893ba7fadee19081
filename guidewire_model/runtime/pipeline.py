"""The per-frame perception pipeline shared by the ROS node, the bag evaluator, benchmarks and tests.

image -> preprocess -> backend -> probability map -> (valid field of view) -> mask -> centrelines
      -> tracked wire ids

What a controller may trust (see docs/reliability.md): the probability is set to 0 outside the
frame's valid field of view, estimated from the image alone (:mod:`.field_of_view`: shutters,
iris, letterbox and white borders, burned-in text, margins), so neither the mask nor a centreline
uses those pixels; path stretches running along the field's edge or the image border are removed;
a path whose two ends both lie at that edge (a lead crossing the whole view) is not a guidewire,
which ends in a free tip inside the field (``require_free_tip``), and is skipped before the tracker
so it cannot take a wire's id; a published wire is at least ``min_wire_length_px`` long with a mean probability of at least
``min_mean_probability``; and with a model that marks tips (``ModelInfo.has_tips``) a traced line
ends at a tip peak beside it (:mod:`.tips`, ``tip_threshold``); when asked (``faint_tail_ratio``), a
tracked wire ends where it turns faint for good (:mod:`.faint_tail`). The settings are one validated :class:`PostprocessSettings`, swapped
whole by :meth:`GuidewirePipeline.configure` (the node's live parameter changes), so every frame
sees one consistent set.

No ROS types here: the node converts messages to arrays before calling :meth:`GuidewirePipeline.process`
and results back to messages after it.

:meth:`GuidewirePipeline.process` is :meth:`~GuidewirePipeline.infer` (preprocessing and the
network) followed by :meth:`~GuidewirePipeline.finish` (everything after the network). The two
halves can run on two threads, one frame apart, so the centrelines of one frame are traced while
the network runs on the next: the node does that. ``infer`` uses only the backend and ``finish``
only the settings and the tracker, so one thread for each needs no lock.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from guidewire_model.runtime.backends.base import Backend
from guidewire_model.core.wire import Wire
from guidewire_model.runtime.centreline import CORNER_DEG, extract_centrelines
from guidewire_model.runtime.faint_tail import cut_faint_tails
from guidewire_model.runtime.field_of_view import FieldOfView, estimate_field
from guidewire_model.runtime.motion import MotionHistory, with_motion
from guidewire_model.runtime.preprocess import binarize, prepare_batch, restore_size, to_unit_float
from guidewire_model.runtime.tips import cut_at_tips, tip_peaks
from guidewire_model.runtime.tracking import WireTracker

__all__ = ["FrameResult", "GuidewirePipeline", "Inference", "PostprocessSettings", "StageTimings"]


def _setting(default: Any, description: str, lo: float | None = None, hi: float | None = None) -> Any:
    return field(default=default, metadata={"description": description, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class PostprocessSettings:
    """What the pipeline accepts as a wire, between the probability map and the published wires.

    The single source of these defaults and ranges: the pipeline's constructor defaults to them,
    the node takes their ranges for its parameter descriptors, and a test keeps the node's
    parameters file equal to them. Field metadata: ``description``, ``lo``, ``hi``.

    Raises
    ------
    ValueError
        On construction, naming the setting and its allowed range, if a value is out of range or of
        the wrong type.
    """

    min_wire_length_px: float = _setting(
        20.0, "shorter centrelines are never published [input pixels]", 0.0, 10000.0)
    min_mean_probability: float = _setting(
        0.5, "centrelines whose mean wire probability along them is lower are never published", 0.0, 1.0)
    field_of_view: bool = _setting(
        True, "estimate the valid X-ray field from each frame (shutters, iris, borders, burned-in text) and set "
              "the probability outside it to 0 before thresholding")
    field_margin_px: float = _setting(
        6.0, "the valid field ends this far inside shutter, border-band and text edges [input pixels]", 0.0, 64.0)
    border_margin_px: float = _setting(
        3.0, "the valid field ends this far inside the image border [input pixels]", 0.0, 64.0)
    detect_burned_in_text: bool = _setting(
        True, "exclude lines of burned-in text near the image border from the valid field")
    edge_reject_px: float = _setting(
        6.0, "centreline stretches within this distance of the field's edge or the image border for "
             "edge_reject_run_px are removed (0 = off) [input pixels]", 0.0, 64.0)
    edge_reject_run_px: float = _setting(
        25.0, "length of arc along an edge from which a stretch is removed [input pixels]", 1.0, 10000.0)
    require_free_tip: bool = _setting(
        True, "publish only centrelines with a free tip: one whose two ends both lie within free_tip_margin_px "
              "of the field's edge or the image border runs across the view (an ECG lead, sternal wire, pacing "
              "lead, catheter), not a guidewire")
    free_tip_margin_px: float = _setting(
        12.0, "an end this close to the field's edge or the image border is not a free tip [input pixels]",
        0.0, 128.0)
    catheter_orientation: bool = _setting(
        False, "take as a wire's proximal end the one that continues into a catheter in the frame (darker than "
               "the background) before the field's-edge rule; off by default: on the real phantom frames the "
               "shipped model's masks include the catheter and the rule turned the main wire round in 2 of 6")
    tip_threshold: float = _setting(
        0.5, "with a model that marks wire tips: a traced line ends at a peak of the tip map at least this high "
             "beside its interior, and one beside an end makes that end the tip (1 = off; other models: no effect)",
        0.0, 1.0)
    corner_deg: float = _setting(
        CORNER_DEG, "a traced path is cut where it turns by more than this within a few pixels (a stiff wire does not "
               "fold; two wires meeting do) [degrees]", 30.0, 180.0)
    faint_tail_ratio: float = _setting(
        0.65, "a published wire ends before a distal tail (8 px up to half its length) whose contrast against its "
             "surroundings stays at most this share of the wire's just before it: a line run on past the tip onto "
             "something fainter (0 = off; wires darker than their surroundings, tip at least as dark as the body)",
        0.0, 1.0)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"{f.name} must be a bool, got {value!r}")
                object.__setattr__(self, f.name, bool(value))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ValueError(f"{f.name} must be a number, got {value!r}")
            lo, hi = f.metadata["lo"], f.metadata["hi"]
            if not (lo <= float(value) <= hi):  # also refuses NaN
                raise ValueError(f"{f.name} must be in [{lo}, {hi}], got {value!r}")
            object.__setattr__(self, f.name, float(value))

    @classmethod
    def range_of(cls, name: str) -> tuple[float | None, float | None]:
        """Allowed (lo, hi) of a setting; (None, None) for a switch."""
        f = {f.name: f for f in dataclasses.fields(cls)}[name]
        return f.metadata["lo"], f.metadata["hi"]

    @classmethod
    def description_of(cls, name: str) -> str:
        return {f.name: f for f in dataclasses.fields(cls)}[name].metadata["description"]


_DEFAULTS = PostprocessSettings()


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
        0 outside the valid field of view (when that is on).
    mask : ndarray, (H, W) uint8 in {0, 1}
    wires : list of Wire, ordered by id, each with its ``point_probability``
    timings : StageTimings
        The field-of-view estimate counts in ``postprocess_ms``.
    field : FieldOfView or None
        The frame's valid field of view; None when ``field_of_view`` is off.
    """

    probability: np.ndarray
    mask: np.ndarray
    wires: list[Wire]
    timings: StageTimings
    field: FieldOfView | None = None


@dataclass(frozen=True)
class Inference:
    """A frame between :meth:`GuidewirePipeline.infer` and :meth:`GuidewirePipeline.finish`.

    Attributes
    ----------
    image : ndarray (H, W)
        The frame as given to ``infer``.
    probability : ndarray (S, S) float32
        The network's map at its input size ``S``.
    preprocess_ms, inference_ms : float
        Wall time of the two stages.
    tip : ndarray (S, S) float32 or None
        The network's tip map, for a model that has one (``ModelInfo.has_tips``).
    """

    image: np.ndarray
    probability: np.ndarray
    preprocess_ms: float
    inference_ms: float
    tip: np.ndarray | None = None


def _sample(prob: np.ndarray, points: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return np.zeros(0, dtype=np.float32)
    h, w = prob.shape
    cols = np.clip(np.rint(points[:, 0]).astype(np.intp), 0, w - 1)
    rows = np.clip(np.rint(points[:, 1]).astype(np.intp), 0, h - 1)
    return prob[rows, cols].astype(np.float32)


def _field(image: np.ndarray, s: PostprocessSettings) -> FieldOfView:
    """The frame's valid field of view under the margins and text rule of ``s``."""
    return estimate_field(image, margin_px=s.field_margin_px, border_margin_px=s.border_margin_px,
                          detect_text=s.detect_burned_in_text)


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
        Centrelines shorter than this (input pixels) are never published.
    track : bool
        Keep wire ids stable across calls (a sequence); ``False`` numbers wires per frame.
    min_mean_probability, field_of_view, field_margin_px, border_margin_px, detect_burned_in_text, \
    edge_reject_px, edge_reject_run_px, require_free_tip, free_tip_margin_px, catheter_orientation, \
    tip_threshold, corner_deg, faint_tail_ratio
        See :class:`PostprocessSettings` (defaults and ranges there).

    Raises
    ------
    ValueError
        If a setting is out of its range (the message names it).
    """

    def __init__(self, backend: Backend, threshold: float | None = None, max_wires: int = 2,
                 min_wire_length_px: float = _DEFAULTS.min_wire_length_px, track: bool = True, *,
                 min_mean_probability: float = _DEFAULTS.min_mean_probability,
                 field_of_view: bool = _DEFAULTS.field_of_view,
                 field_margin_px: float = _DEFAULTS.field_margin_px,
                 border_margin_px: float = _DEFAULTS.border_margin_px,
                 detect_burned_in_text: bool = _DEFAULTS.detect_burned_in_text,
                 edge_reject_px: float = _DEFAULTS.edge_reject_px,
                 edge_reject_run_px: float = _DEFAULTS.edge_reject_run_px,
                 require_free_tip: bool = _DEFAULTS.require_free_tip,
                 free_tip_margin_px: float = _DEFAULTS.free_tip_margin_px,
                 catheter_orientation: bool = _DEFAULTS.catheter_orientation,
                 tip_threshold: float = _DEFAULTS.tip_threshold,
                 corner_deg: float = _DEFAULTS.corner_deg,
                 faint_tail_ratio: float = _DEFAULTS.faint_tail_ratio) -> None:
        self.backend = backend
        self.threshold = backend.info.threshold if threshold is None else float(threshold)
        self._max_wires = int(max_wires)
        if self._max_wires < 1:
            raise ValueError(f"max_wires must be >= 1, got {max_wires}")
        self.settings = PostprocessSettings(
            min_wire_length_px=min_wire_length_px, min_mean_probability=min_mean_probability,
            field_of_view=field_of_view, field_margin_px=field_margin_px, border_margin_px=border_margin_px,
            detect_burned_in_text=detect_burned_in_text, edge_reject_px=edge_reject_px,
            edge_reject_run_px=edge_reject_run_px, require_free_tip=require_free_tip,
            free_tip_margin_px=free_tip_margin_px, catheter_orientation=catheter_orientation,
            tip_threshold=tip_threshold, corner_deg=corner_deg, faint_tail_ratio=faint_tail_ratio)
        self.track = track
        self._tracker = WireTracker(max_wires=self._max_wires)
        # A motion-input model sees each frame beside an earlier one of the run (runtime.motion).
        self._motion = MotionHistory() if backend.info.motion_input else None

    def configure(self, **changes: Any) -> PostprocessSettings:
        """Change post-processing settings (live: from the next frame on); returns the new settings.

        All changes are validated together and swapped in as one object, so a frame in progress
        keeps the settings it started with and the next sees all changes at once.

        Raises
        ------
        ValueError
            On an unknown name or a value out of range; the settings are then unchanged.
        """
        self.settings = dataclasses.replace(self.settings, **changes)
        return self.settings

    @property
    def max_wires(self) -> int:
        return self._max_wires

    @max_wires.setter
    def max_wires(self, value: int) -> None:
        value = int(value)
        if value < 1:
            raise ValueError(f"max_wires must be >= 1, got {value}")
        self._max_wires = value
        self._tracker.max_wires = value  # the tracker reports no more wires than are traced

    @property
    def min_wire_length_px(self) -> float:
        return self.settings.min_wire_length_px

    @min_wire_length_px.setter
    def min_wire_length_px(self, value: float) -> None:
        self.configure(min_wire_length_px=value)

    def reset(self) -> None:
        """Forget tracked wires and, for a motion-input model, the run's frames (start of a new sequence)."""
        self._tracker = WireTracker(max_wires=self.max_wires)
        if self._motion is not None:
            self._motion.reset()

    def segment(self, images: list[np.ndarray], field_of_view: bool = False,
                earlier: list[np.ndarray | None] | None = None) -> list[np.ndarray]:
        """Probability maps at each image's own size, for a batch of 2-D frames (no tracing).

        Parameters
        ----------
        images : list of ndarray (H, W)
            Frames as :meth:`process` takes them; sizes may differ.
        field_of_view : bool
            Also set the probability outside each frame's valid field to 0, as :meth:`process` does
            before thresholding (when the settings have ``field_of_view`` on): the maps whose
            threshold is the published mask. False gives the network's own maps.
        earlier : list of (ndarray or None), optional
            For a motion-input model, each frame's frame ``motion.MOTION_LAG`` earlier in its run
            (None: none, as at a run's start); None for all: frames without a run. One-frame
            models ignore it.
        """
        info = self.backend.info
        s = self.settings
        batch = prepare_batch(images, info.input_size, info.input_mean, info.input_std)
        if info.motion_input:
            batch = with_motion(batch, None if earlier is None else [
                None if frame is None else prepare_batch([frame], info.input_size, info.input_mean, info.input_std)[0, 0]
                for frame in earlier])
        prob = self.backend.infer(batch)
        maps = [restore_size(p[0], img.shape) for p, img in zip(prob, images)]
        if field_of_view and s.field_of_view:
            for img, p in zip(images, maps):
                _field(img, s).apply(p)
        return maps

    def process(self, image: np.ndarray) -> FrameResult:
        """Run the whole pipeline on one frame: :meth:`finish` of :meth:`infer`.

        Parameters
        ----------
        image : ndarray, (H, W), uint8, uint16 or float32 in [0, 1]
            Grayscale fluoroscopy frame.

        Returns
        -------
        FrameResult
            At the input's size; wire coordinates in its pixels.
        """
        return self.finish(self.infer(image))

    def infer(self, image: np.ndarray, in_run: bool = True) -> Inference:
        """Preprocess one frame and run the network on it (the backend is all it uses).

        Parameters
        ----------
        image : ndarray, (H, W), uint8, uint16 or float32 in [0, 1]
        in_run : bool
            The frame is the run's next one: a motion-input model sees it against the frame
            ``motion.MOTION_LAG`` before it since :meth:`reset`. False: a measurement outside the
            run (a blank frame while a sequence runs) gets a zero motion channel and leaves the
            run's frames as they were.
        """
        info = self.backend.info
        t0 = time.perf_counter()
        batch = prepare_batch([image], info.input_size, info.input_mean, info.input_std)
        if self._motion is not None:
            batch = self._motion.stack(batch) if in_run else with_motion(batch)
        t1 = time.perf_counter()
        # Backends return arrays of their own (TensorRT copies out of its host buffer), so these maps
        # stay valid while the next frame runs on another thread.
        out = self.backend.infer(batch)[0]
        t2 = time.perf_counter()
        return Inference(image, out[0], (t1 - t0) * 1e3, (t2 - t1) * 1e3, out[1] if info.has_tips else None)

    def finish(self, inference: Inference, track: bool | None = None) -> FrameResult:
        """Field of view, mask, centrelines and wire ids of an inferred frame (the backend is not used).

        Parameters
        ----------
        inference : Inference
            From :meth:`infer`; frames of a sequence must be finished in their order.
        track : bool, optional
            Override :attr:`track` for this frame; ``False`` leaves the tracker untouched (a
            measurement on a blank frame while a sequence runs).

        Returns
        -------
        FrameResult
            At the input's size; wire coordinates in its pixels.
        """
        s = self.settings  # one consistent set for this frame, whatever configure() does meanwhile
        max_wires = self.max_wires
        image = inference.image
        t2 = time.perf_counter()
        prob = restore_size(inference.probability, image.shape)
        fov = None
        if s.field_of_view:
            fov = _field(image, s)
            fov.apply(prob)
        mask = binarize(prob, self.threshold)
        unit = to_unit_float(image) if s.catheter_orientation or s.faint_tail_ratio > 0 else None
        lines = extract_centrelines(mask, prob, max_wires=max_wires, min_length_px=s.min_wire_length_px,
                                    min_mean_probability=s.min_mean_probability, field=fov,
                                    edge_distance_px=s.edge_reject_px, edge_run_px=s.edge_reject_run_px,
                                    free_tip_margin_px=s.free_tip_margin_px if s.require_free_tip else None,
                                    corner_deg=s.corner_deg,
                                    image=unit if s.catheter_orientation else None)
        if inference.tip is not None and s.tip_threshold < 1.0:
            tip = restore_size(inference.tip, image.shape)
            # The proximal piece of a cut line (cut_at_tips' default) is the one published.
            lines = cut_at_tips(lines, tip_peaks(tip, s.tip_threshold, None if fov is None else fov.valid))
            lines = [line for line in lines if line.length_px >= s.min_wire_length_px]
        if self.track if track is None else track:
            tracked = self._tracker.update(lines)
        else:
            tracked = [line.tracked(i + 1, 1) for i, line in enumerate(lines)]
        if s.faint_tail_ratio > 0:
            # After tracking: the tracker's vote orients a wire more reliably than one frame does, and
            # the tracker keeps matching the whole traced line, as it did before the setting existed.
            tracked = cut_faint_tails(tracked, unit, s.faint_tail_ratio, s.min_wire_length_px)
        wires = [w.with_probability(_sample(prob, w.points)) for w in sorted(tracked, key=lambda w: w.wire_id)]
        t3 = time.perf_counter()
        timings = StageTimings(inference.preprocess_ms, inference.inference_ms, (t3 - t2) * 1e3)
        return FrameResult(probability=prob, mask=mask, wires=wires, timings=timings, field=fov)
