"""Synthetic coronary fluoroscopy sequences with dual-guidewire ground truth.

A *scene* (anatomy, vessel tree, catheter, wires, distractors, motion, display window) is drawn
once per sequence from the seed; every frame renders that scene at its own time, so all structures
move coherently and wire ids stay stable. The optional variations (phantoms, shutters, text,
console processing, look-alike devices; :mod:`.variations`) are applied on top of that scene from
their own random streams.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree
from tqdm import tqdm

from guidewire_model.data import layout
from guidewire_model.synthetic import curves
from guidewire_model.synthetic.anatomy import Background, VesselTree, build_background, build_vessel_tree, render_vessels
from guidewire_model.synthetic.collimation import clip_to_visible
from guidewire_model.synthetic.config import SyntheticConfig
from guidewire_model.synthetic.devices import (
    Catheter,
    Distractor,
    Guidewire,
    build_catheter,
    build_distractors,
    build_guidewires,
    render_catheter,
    render_distractors,
    render_wire,
    transform_wire,
)
from guidewire_model.synthetic.imaging import expose, quantize, to_display
from guidewire_model.synthetic.motion import MotionModel, sample_motion
from guidewire_model.synthetic.overwire import render_overwire
from guidewire_model.synthetic.variations import Extras, finish_display, finish_frame, vary_scene
from guidewire_model.core.wire import Wire

__all__ = ["SyntheticFrame", "generate_frame", "generate_sequence", "sequence_seed", "write_dataset"]


@dataclass(frozen=True)
class SyntheticFrame:
    """One rendered frame and its ground truth.

    Attributes
    ----------
    image : ndarray (H, W), uint8 or uint16
    mask : ndarray (H, W), uint8 in {0, 1}
        Guidewire pixels (both wires; the catheter is not part of it).
    instances : ndarray (H, W), uint8
        0 background, 1 and 2 the pixels of wire 1 and wire 2 (the wire on top wins at a crossing).
    wires : list of Wire
        Ordered centrelines (proximal -> distal, ~1 px spacing, inside the frame), ids 1 and 2.
    crossing : bool
        The wires cross or come within two widths of each other (beyond their first few pixels
        out of the catheter, where they always start together).
    index : int
        Frame index within the sequence.
    time : float
        Acquisition time in seconds.
    field_of_view : ndarray (H, W) uint8 in {0, 1}, or None
        Where the frame shows the scene: 0 behind opaque shutters and letterbox bars. None when
        the whole frame does (always without the shutter variations). Wire pixels in the 0 area
        are not in ``mask``.
    devices : ndarray (H, W) uint8 in {0, 1}, or None
        Pixels of the devices that are not guidewire: the guiding catheter, micro- and balloon
        catheters, and the look-alikes (ECG leads, sternal wires, pacing and EP catheters, stents,
        clips), drawn with the wire mask's rule; never a ``mask`` pixel. Written as the data set's
        ``exclude/`` masks, so evaluation reports the share of predicted pixels on them.
    edges : ndarray (H, W) uint8 in {0, 1}, or None
        Outlines of a phantom's channels and holes (:class:`~guidewire_model.synthetic.phantom.PhantomBackground`);
        None in thorax scenes. Neither guidewire nor device: training may weigh them as hard
        negatives. Never within 2 px of a ``mask`` pixel; not written to data sets.
    """

    image: np.ndarray
    mask: np.ndarray
    instances: np.ndarray
    wires: list[Wire]
    crossing: bool
    index: int = 0
    time: float = 0.0
    field_of_view: np.ndarray | None = None
    devices: np.ndarray | None = None
    edges: np.ndarray | None = None


@dataclass(frozen=True)
class _Scene:
    background: Background
    tree: VesselTree
    catheter: Catheter
    wires: tuple[Guidewire, ...]
    top_wire: int
    distractors: tuple[Distractor, ...]
    motion: MotionModel
    t_start: float
    bolus: tuple[float, float, float]
    gain_field: np.ndarray
    window_jitter: tuple[float, float]
    gamma: float
    exclusion: float
    #: Variations of this sequence (None: the base generator's frames, unchanged).
    extras: Extras | None = None


#: Outline pixels within 2 px of a wire pixel are not marked (:attr:`SyntheticFrame.edges`).
_NEAR_WIRE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _build_scene(cfg: SyntheticConfig, rng: np.random.Generator) -> _Scene:
    size, k = cfg.size, cfg.scale
    s = float(size)
    crossing = bool(rng.random() < cfg.crossing_probability)
    side_by_side = bool(rng.random() < cfg.side_by_side_probability)
    # Canonical layout (catheter from the top, tree towards the lower right); a random flip and
    # rotation below give every orientation a C-arm angulation could show.
    ostium = np.array([rng.uniform(0.25, 0.42), rng.uniform(0.2, 0.32)]) * s
    heading = np.radians(rng.uniform(-10, 35))
    main_length = (rng.uniform(50, 80) if side_by_side else rng.uniform(30, 60)) * k
    tree = build_vessel_tree(rng, size, ostium, heading, main_length)
    catheter = build_catheter(rng, size, ostium, heading)
    wires = build_guidewires(rng, tree, catheter, size, cfg.wire_width, crossing, side_by_side, cfg.wire_advance * k)

    flip = rng.random() < 0.5
    angle = rng.uniform(-0.35, 0.35)
    centre = np.array([s / 2 - 0.5, s / 2 - 0.5])

    def place(points: np.ndarray) -> np.ndarray:
        p = points.copy()
        if flip:
            p[:, 0] = (s - 1) - p[:, 0]
        return curves.rotate_points(p, angle, centre)

    tree = tree.transformed(place)
    catheter = Catheter(place(catheter.points), catheter.outer_radius, catheter.inner_radius, catheter.wall_mu)
    wires = [transform_wire(w, place) for w in wires]
    heart_centre = np.mean(np.vstack([v.points for v in tree.vessels]), axis=0)

    background = build_background(rng, size, heart_centre)
    distractors = build_distractors(rng, cfg.n_distractors, size)
    motion = sample_motion(rng, heart_centre, size, cfg.cardiac_amplitude * k, cfg.cardiac_rate,
                           cfg.respiratory_amplitude * k, cfg.respiratory_rate)
    t_start = rng.uniform(0.0, 20.0)
    if cfg.contrast_dynamics:
        onset = t_start + rng.uniform(-4.0, 4.0)
        bolus = (onset, rng.uniform(1.5, 4.0), rng.uniform(0.8, 2.0))
    else:
        bolus = (-np.inf, np.inf, 1.0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r2 = (np.square(xx - rng.uniform(0.4, 0.6) * s) + np.square(yy - rng.uniform(0.4, 0.6) * s)) / (0.5 * s) ** 2
    gain_field = (1.0 - rng.uniform(0.1, 0.3) * r2).clip(0.3, 1.0).astype(np.float32)
    j = cfg.intensity_jitter
    window_jitter = (1.0 + rng.uniform(-j, j), rng.uniform(-j, j))
    gamma = float(np.exp(rng.uniform(-0.4, 0.4))) if cfg.display == "gamma" else 1.0
    return _Scene(
        background=background, tree=tree, catheter=catheter, wires=tuple(wires),
        top_wire=int(rng.integers(1, 3)), distractors=tuple(distractors), motion=motion,
        t_start=t_start, bolus=bolus, gain_field=gain_field, window_jitter=window_jitter, gamma=gamma,
        exclusion=2.0 * catheter.outer_radius + 16.0 * k,
    )


def _opacity(scene: _Scene, cfg: SyntheticConfig, t: float) -> float:
    """Contrast level at time ``t``: wash-in (~0.25 s rise), plateau, exponential wash-out."""
    onset, plateau, decay = scene.bolus
    if not np.isfinite(onset):
        return cfg.contrast
    rise = 0.5 * (1.0 + np.tanh((t - onset) / 0.25))
    fall = np.exp(-max(t - onset - plateau, 0.0) / decay)
    return cfg.contrast * (0.04 + 0.96 * rise * fall)


def _crossing(wires: list[np.ndarray], widths: list[float], exclusion: float) -> bool:
    """True if the wires (beyond ``exclusion`` px from their proximal ends) come within the sum
    of their widths (~two widths) of each other; a true crossing has distance ~0."""
    parts = []
    for pts in wires:
        if len(pts) < 2:
            return False
        keep = curves.arc_length(pts) > exclusion
        if not keep.any():
            return False
        parts.append(pts[keep])
    dist, _ = cKDTree(parts[0]).query(parts[1])
    return bool(dist.min() <= widths[0] + widths[1])


def _render(scene: _Scene, cfg: SyntheticConfig, t: float):
    size, k = cfg.size, cfg.scale
    motion = scene.motion
    extras = scene.extras
    zoom = None if extras is None else extras.magnification
    # Shutters and the window of a non-square frame sit at the detector: with a magnification they
    # apply after the scene is enlarged, not to the scene.
    visible = None if extras is None or zoom is not None else extras.visible
    box = None if extras is None or zoom is not None else extras.box
    mu = scene.background.mu(motion, t)
    devices = np.zeros((size, size), np.uint8)
    # A phantom holds water, not contrast agent; a run without agent (no_contrast_probability) none either.
    opacity = 0.0 if extras is not None and (extras.phantom or extras.no_contrast) else _opacity(scene, cfg, t)
    render_vessels(mu, scene.tree, motion, t, opacity, k)
    render_catheter(mu, scene.catheter, motion, t, opacity, k, devices)
    render_distractors(mu, list(scene.distractors), motion, t, k, devices)
    filter_mu = None if extras is None or extras.collimation is None else extras.collimation.filter_mu
    if filter_mu is not None and zoom is None:
        mu += filter_mu
    instances = np.zeros((size, size), np.uint8)
    centrelines = {}
    # The wire drawn last is on top: it owns the shared pixels of a crossing.
    order = sorted(scene.wires, key=lambda w: w.wire_id == scene.top_wire)
    for wire in order:
        pts = wire.centreline(motion, t, scene.t_start, size)
        if extras is None:
            centrelines[wire.wire_id] = pts
            pix = render_wire(mu, wire, pts, k)
        else:
            rider = extras.rider(wire.wire_id)
            hidden = render_overwire(mu, rider, pts, k, devices) if rider is not None else 0
            pix = render_wire(mu, wire, pts, k, hidden_before=hidden)
            if pix is not None and visible is not None:
                seen = visible[pix]
                pix = (pix[0][seen], pix[1][seen])
            centrelines[wire.wire_id] = clip_to_visible(pts[hidden:], visible, box)
        if pix is not None:
            instances[pix] = wire.wire_id
    edges = None
    if extras is not None and extras.phantom and scene.background.edges is not None:
        edges = scene.background.edges.astype(np.uint8)
    ordered = sorted(scene.wires, key=lambda w: w.wire_id)
    widths, exclusion = [w.width for w in ordered], scene.exclusion
    shut = None if extras is None or extras.visible is None else ~extras.visible.astype(bool)
    if zoom is not None:
        mu, instances, devices = zoom.image(mu), zoom.labels(instances), zoom.labels(devices)
        edges = None if edges is None else zoom.labels(edges)
        if filter_mu is not None:
            mu += filter_mu
        frame_box = extras.box or (0, 0, size - 1, size - 1)
        centrelines = {i: clip_to_visible(zoom.points(p), extras.visible, frame_box) for i, p in centrelines.items()}
        if shut is not None:
            instances[shut] = 0
        widths, exclusion = [w * zoom.factor for w in widths], exclusion * zoom.factor
    crossing = _crossing([centrelines[w.wire_id] for w in ordered], widths, exclusion)
    # A wire hidden entirely (under a shutter, outside the window) has no centreline to report.
    wires = [Wire.from_points(centrelines[w.wire_id], wire_id=w.wire_id) for w in ordered
             if extras is None or len(centrelines[w.wire_id]) >= 2]
    devices[instances > 0] = 0  # a wire pixel is guidewire, also where it runs over a device
    if edges is not None:
        # Not next to a wire either: a wire in a narrow channel touches its outline, and a hard
        # negative beside the wire would punish the one-pixel offsets F1@2 forgives.
        edges[cv2.dilate((instances > 0).view(np.uint8), _NEAR_WIRE) > 0] = 0
    if shut is not None:
        devices[shut] = 0
        if edges is not None:
            edges[shut] = 0
    return mu, instances, devices, edges, wires, crossing


def generate_sequence(cfg: SyntheticConfig, seed: int, n_frames: int) -> list[SyntheticFrame]:
    """Render ``n_frames`` consecutive frames (at ``cfg.fps``) of one synthetic sequence.

    Parameters
    ----------
    cfg : SyntheticConfig
    seed : int
        Non-negative; the same (cfg, seed, n_frames) gives bit-identical frames.
    n_frames : int
        >= 1.

    Returns
    -------
    list of SyntheticFrame

    Raises
    ------
    ValueError
        If ``seed`` is negative or not an integer, or ``n_frames`` < 1.
    """
    _check_seed(seed)
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames must be an integer >= 1, got {n_frames!r}")
    if not isinstance(cfg, SyntheticConfig):
        raise TypeError(f"cfg must be a SyntheticConfig, got {type(cfg).__name__}")
    scene = vary_scene(_build_scene(cfg, np.random.default_rng([int(seed), 0])), cfg, int(seed))
    extras = scene.extras
    blur = cfg.blur * cfg.scale
    frames = []
    window = None
    for i in range(n_frames):
        t = scene.t_start + i / cfg.fps
        mu, instances, devices, edges, wires, crossing = _render(scene, cfg, t)
        noise_rng = np.random.default_rng([int(seed), 1, i])
        dose = cfg.dose if extras is None else cfg.dose * extras.dose_scale
        counts = expose(mu, dose, cfg.electronic_noise, blur, noise_rng, scene.gain_field)
        if window is None:
            # One window per sequence (like a console's auto-window after the first frame), so the
            # brightness of anatomy does not flicker from frame to frame.
            sample = counts[::4, ::4]
            sample = sample if cfg.display == "linear" else np.log(np.maximum(sample, 0.5))
            lo, hi = np.percentile(sample, [0.3, 99.9])
            span, shift = scene.window_jitter
            width = (hi - lo) * 1.15 / span
            mid = 0.5 * (lo + hi) - shift * (hi - lo)
            window = (float(mid - width / 2), float(mid + width / 2))
            if extras is not None and extras.headroom > 0:
                window = (window[0], window[1] + extras.headroom * (window[1] - window[0]))
        display = to_display(counts, cfg.display, window, scene.gamma)
        if extras is None:
            image = quantize(display, cfg.bit_depth)
            frames.append(SyntheticFrame(
                image=image, mask=(instances > 0).astype(np.uint8), instances=instances, wires=wires,
                crossing=crossing, index=i, time=float(t), devices=devices,
            ))
            continue
        image = finish_frame(quantize(finish_display(display, extras, i, cfg.fps), cfg.bit_depth), extras)
        frames.append(_framed(image, instances, devices, edges, wires, crossing, i, float(t), extras))
    return frames


def _framed(image: np.ndarray, instances: np.ndarray, devices: np.ndarray, edges: np.ndarray | None,
            wires: list[Wire], crossing: bool, index: int, t: float, extras: Extras) -> SyntheticFrame:
    """A frame of a varied sequence, cut to its window (centrelines moved into window coordinates)."""
    fov = None if extras.visible is None else extras.visible.astype(np.uint8)
    if extras.crop is not None:
        top, left, h, w = extras.crop
        cut = (slice(top, top + h), slice(left, left + w))
        image, instances, devices, fov = image[cut], instances[cut], devices[cut], fov[cut]
        edges = None if edges is None else edges[cut]
        wires = [Wire.from_points(w_.points - (left, top), wire_id=w_.wire_id) for w_ in wires]
        if fov.all():
            fov = None
    image, instances, devices = (np.ascontiguousarray(a) for a in (image, instances, devices))
    fov = None if fov is None else np.ascontiguousarray(fov)
    edges = None if edges is None else np.ascontiguousarray(edges)
    return SyntheticFrame(image=image, mask=(instances > 0).astype(np.uint8), instances=instances, wires=wires,
                          crossing=crossing, index=index, time=t, field_of_view=fov, devices=devices, edges=edges)


def generate_frame(cfg: SyntheticConfig, seed: int) -> SyntheticFrame:
    """One independent frame: the first frame of the sequence of ``seed`` (random cardiac phase)."""
    return generate_sequence(cfg, seed, 1)[0]


def sequence_seed(seed: int, index: int) -> int:
    """Seed of sequence ``index`` of a data set generated with ``seed`` (distinct per sequence)."""
    _check_seed(seed)
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def write_dataset(
    root: str | os.PathLike,
    n_sequences: int,
    frames_per_sequence: int,
    cfg: SyntheticConfig,
    seed: int,
    progress: bool = True,
) -> list[Path]:
    """Write ``n_sequences`` sequences in the layout of :mod:`guidewire_model.data.layout`.

    Folders are named ``P000``, ``P001``, ... (one synthetic patient each) with a ``meta.json``
    ``{"patient": "P000", "seed": <sequence seed>, "synthetic": <config>}``; frames, masks,
    instance masks and centrelines via :func:`layout.write_sample`.

    Returns
    -------
    list of Path
        The sequence folders, in order.

    Raises
    ------
    ValueError
        If a count is < 1 or ``seed`` is invalid.
    """
    if n_sequences < 1 or frames_per_sequence < 1:
        raise ValueError(
            f"n_sequences and frames_per_sequence must be >= 1, got {n_sequences} and {frames_per_sequence}"
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    bar = tqdm(total=n_sequences * frames_per_sequence, desc="synthetic frames", unit="frame", disable=not progress)
    for i in range(n_sequences):
        name = f"P{i:03d}"
        seq_dir = root / name
        seq_seed = sequence_seed(seed, i)
        frames = generate_sequence(cfg, seq_seed, frames_per_sequence)
        for frame in frames:
            layout.write_sample(seq_dir, frame.index, frame.image, frame.mask, instances=frame.instances,
                                wires=frame.wires, exclude=frame.devices)
            bar.update(1)
        meta = {"patient": name, "seed": seq_seed, "synthetic": cfg.to_dict()}
        (seq_dir / layout.META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        paths.append(seq_dir)
    bar.close()
    return paths
