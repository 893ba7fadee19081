"""The variations that make synthetic frames look like more than one system: which are on for a
sequence, and how a frame passes through them.

Every variation is decided once per sequence and draws from its *own* random stream,
``np.random.default_rng([seed, STREAM, <variation id>])``, never from the base generator's
streams ``[seed, 0]`` (scene) and ``[seed, 1, i]`` (noise of frame i). Hence

* with every variation off (the ``easy``, ``medium``, ``hard`` presets) frames are bit-identical
  to the generator before the variations existed;
* switching one variation on or off does not change what the others draw, so the effect of each
  can be tested (and ablated) alone.

Ground truth under the variations: the mask holds visible guidewire pixels only. Opaque shutters,
letterbox bars and the region outside a non-square window hide what is behind them (pixels
leave the mask, centrelines are clipped to their longest visible run, proximal -> distal); a
microcatheter hides the wire inside it; burned-in text, look-alike devices, balloon markers,
display curves, compression and resampling never change the mask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from guidewire_model.synthetic.collimation import Collimation, sample_collimation
from guidewire_model.synthetic.config import SyntheticConfig
from guidewire_model.synthetic.console import Console, sample_console
from guidewire_model.synthetic.detector import sample_gain
from guidewire_model.synthetic.devices import Catheter, Guidewire, transform_wire
from guidewire_model.synthetic.lookalikes import build_lookalikes
from guidewire_model.synthetic.magnification import Magnification, sample_magnification
from guidewire_model.synthetic.orientation import Turn
from guidewire_model.synthetic.overlays import Overlay, draw_overlay, sample_overlay
from guidewire_model.synthetic.overwire import OverWire, sample_overwire
from guidewire_model.synthetic.phantom import build_phantom, still

__all__ = ["STREAM", "Extras", "finish_display", "finish_frame", "stream", "vary_scene"]

#: Second entry of every variation's seed sequence (the base generator uses 0 and 1).
STREAM = 0x7A41
_IDS = {"orientation": 0, "phantom": 1, "overwire": 2, "lookalikes": 3, "gain": 4, "collimation": 5,
        "overlay": 6, "console": 7, "framing": 8, "device_contrast": 9,
        "magnification": 10, "contrast": 11}


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of variation ``name`` for sequence ``seed``."""
    return np.random.default_rng([int(seed), STREAM, _IDS[name]])


@dataclass(frozen=True)
class Extras:
    """Per-sequence state the variations need while frames are rendered.

    Attributes
    ----------
    phantom : bool
        The scene is a phantom: no contrast agent.
    no_contrast : bool
        No contrast agent in this sequence's vessels (a phantom has none either way).
    riders : tuple of OverWire
        Microcatheters and balloon catheters on the wires.
    collimation, overlay, console : optional
        Shutters, burned-in items, console processing (None = off).
    crop : (top, left, height, width) or None
        Window of the square render that becomes the output frame.
    headroom : float
        The display window reaches this share of its width above the brightest anatomy, so the
        background is not always white (phantom runs are shown mid-grey).
    dose_scale : float
        Factor on the configured dose (bench phantom runs use more dose than patient runs).
    visible : ndarray (size, size) bool or None
        Where the square render shows the scene (open shutters and inside ``crop``); None = all.
    magnification : Magnification or None
        The window of the scene the detector sees enlarged (None = the whole scene at 1x).
    """

    phantom: bool
    riders: tuple[OverWire, ...]
    collimation: Collimation | None
    overlay: Overlay | None
    console: Console | None
    crop: tuple[int, int, int, int] | None
    visible: np.ndarray | None
    headroom: float = 0.0
    dose_scale: float = 1.0
    magnification: Magnification | None = None
    no_contrast: bool = False

    def rider(self, wire_id: int) -> OverWire | None:
        return next((r for r in self.riders if r.wire_id == wire_id), None)

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """``crop`` as inclusive pixel bounds (x0, y0, x1, y1) for centreline clipping."""
        if self.crop is None:
            return None
        top, left, h, w = self.crop
        return left, top, left + w - 1, top + h - 1


def _crop_window(rng: np.random.Generator, size: int, ratio: tuple[float, float]) -> tuple[int, int, int, int] | None:
    if ratio == (1.0, 1.0):
        return None
    r = float(np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]))))
    h, w = (size, max(int(round(size * r)), 8)) if r < 1 else (max(int(round(size / r)), 8), size)
    if (h, w) == (size, size):
        return None
    return int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1)), h, w


def _device_contrast(
    rng: np.random.Generator, wires: tuple[Guidewire, ...], catheter: Catheter, probability: float
) -> tuple[tuple[Guidewire, ...], Catheter]:
    """Faint wires and a darker catheter with ``probability`` (else both unchanged)."""
    if rng.random() >= probability:
        return wires, catheter
    faint = rng.uniform(0.2, 0.6)
    wires = tuple(replace(w, body_mu=w.body_mu * faint, tip_mu=w.tip_mu * faint) for w in wires)
    return wires, replace(catheter, wall_mu=catheter.wall_mu * rng.uniform(1.2, 2.5))


def vary_scene(scene: Any, cfg: SyntheticConfig, seed: int) -> Any:
    """The generator's scene with this sequence's variations applied (``scene`` if all are off).

    ``scene`` is the generator's private scene record; only fields it shares with the base
    generator are replaced, and ``extras`` is set.
    """
    if not cfg.variations_enabled:
        return scene
    size = cfg.size
    changes: dict[str, Any] = {}
    tree, catheter, wires = scene.tree, scene.catheter, scene.wires
    distractors, motion, background = scene.distractors, scene.motion, scene.background

    phantom_rng = stream(seed, "phantom")
    phantom = bool(phantom_rng.random() < cfg.phantom_probability)
    rot_rng = stream(seed, "orientation")
    if rot_rng.random() < cfg.rotation_probability:
        turn = Turn(rot_rng.uniform(0.0, 2 * np.pi), size)
        tree = tree.transformed(turn.points)
        catheter = replace(catheter, points=turn.points(catheter.points))
        wires = tuple(transform_wire(w, turn.points) for w in wires)
        distractors = tuple(replace(d, points=turn.points(d.points)) for d in distractors)
        motion = turn.motion(motion)
        if not phantom:
            background = replace(background, static=turn.image(background.static), ribs=turn.image(background.ribs),
                                 thorax=turn.image(background.thorax))
    headroom, dose_scale = 0.0, 1.0
    if phantom:
        headroom, dose_scale = float(phantom_rng.uniform(0.1, 0.8)), float(phantom_rng.uniform(1.0, 5.0))
        background = build_phantom(phantom_rng, size, tree)
        motion = still(motion)
        # Patient-borne distractors (ECG leads, sternal wires) are mostly absent on a bench.
        keep = phantom_rng.random(len(distractors)) < 0.3
        distractors = tuple(d for d, kept in zip(distractors, keep) if kept)

    catheter, riders = sample_overwire(stream(seed, "overwire"), catheter, wires, size, cfg.thin_catheter_probability,
                                       cfg.microcatheter_probability, cfg.balloon_probability)
    wires, catheter = _device_contrast(stream(seed, "device_contrast"), wires, catheter, cfg.faint_wire_probability)
    distractors = tuple(distractors) + tuple(
        build_lookalikes(stream(seed, "lookalikes"), cfg.n_lookalikes, size, tree, motion.heart_centre))
    gain = sample_gain(stream(seed, "gain"), size, cfg.vignetting_probability)
    if gain is not None:
        changes["gain_field"] = scene.gain_field * gain
    collimation = sample_collimation(stream(seed, "collimation"), size, cfg.collimator_probability,
                                     cfg.iris_probability, cfg.letterbox_probability)
    overlay = sample_overlay(stream(seed, "overlay"), size, cfg.overlay_probability)
    console = sample_console(stream(seed, "console"), size, cfg.display_curve_probability, cfg.enhancement_probability,
                             cfg.low_resolution_probability, cfg.jpeg_probability, cfg.jpeg_quality)
    crop = _crop_window(stream(seed, "framing"), size, cfg.aspect_ratio)

    visible = None if collimation is None else collimation.visible
    if crop is not None:
        top, left, h, w = crop
        window = np.zeros((size, size), bool)
        window[top: top + h, left: left + w] = True
        visible = window if visible is None else visible & window
    # Centred on the wires as they are when the run starts (after every change to the scene above).
    anchors = ([w.centreline(motion, scene.t_start, scene.t_start, size) for w in wires]
               if cfg.magnification_probability > 0 else [])
    magnification = sample_magnification(stream(seed, "magnification"), size, cfg.magnification_probability,
                                         cfg.magnification, anchors)
    if catheter is not scene.catheter:
        changes["exclusion"] = 2.0 * catheter.outer_radius + 16.0 * cfg.scale
    no_contrast = bool(stream(seed, "contrast").random() < cfg.no_contrast_probability)
    extras = Extras(phantom=phantom, riders=riders, collimation=collimation, overlay=overlay, console=console,
                    crop=crop, visible=visible, headroom=headroom, dose_scale=dose_scale,
                    magnification=magnification, no_contrast=no_contrast)
    return replace(scene, tree=tree, catheter=catheter, wires=tuple(wires), distractors=tuple(distractors),
                   motion=motion, background=background, extras=extras, **changes)


def finish_display(display: np.ndarray, extras: Extras, frame_index: int, fps: float) -> np.ndarray:
    """Console processing, shutters, burned-in items and resolution loss on a display image in [0, 1]."""
    out = display
    if extras.console is not None:
        out = extras.console.process(out)
    if extras.collimation is not None:
        out = extras.collimation.apply(out)
    if extras.overlay is not None:
        out = draw_overlay(out, extras.overlay, frame_index, fps)
    if extras.console is not None:
        out = extras.console.rescale(out)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def finish_frame(image: np.ndarray, extras: Extras) -> np.ndarray:
    """Compression of the quantised frame (cropping is done by the caller on all arrays alike)."""
    if extras.console is not None:
        return extras.console.compress(image)
    return image
