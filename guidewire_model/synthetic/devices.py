"""Interventional devices and look-alikes as centreline curves: guiding catheter, two guidewires,
and distractors (ECG leads with electrodes, sternal wire loops).

Geometry is built once per sequence; :meth:`Guidewire.centreline` gives a wire's visible
centreline at a time after motion, and the ``render_*`` functions add attenuation to a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from guidewire_model.synthetic import curves
from guidewire_model.synthetic.anatomy import IODINE_MU, VesselTree
from guidewire_model.synthetic.imaging import mark_devices, tube_profile, tube_samples
from guidewire_model.synthetic.motion import MotionModel

__all__ = [
    "Catheter",
    "Distractor",
    "Guidewire",
    "build_catheter",
    "build_distractors",
    "build_guidewires",
    "render_catheter",
    "render_distractors",
    "render_wire",
]

#: Smallest rendered wire width (px): below one pixel the 0/1 mask of "distance <= half width"
#: breaks into dots, so small frames draw wires at least one pixel wide.
MIN_WIRE_WIDTH = 1.0


@dataclass(frozen=True)
class Catheter:
    """Guiding catheter: a hollow radiopaque tube from the image border to the ostium."""

    points: np.ndarray
    outer_radius: float
    inner_radius: float
    wall_mu: float


def build_catheter(rng: np.random.Generator, size: int, ostium: np.ndarray, heading: float) -> Catheter:
    """Catheter descending from above the frame, bending (J-shape) into ``ostium`` along ``heading``."""
    s, k = float(size), size / 512.0
    direction = np.array([np.cos(heading), np.sin(heading)])
    xa = ostium[0] - rng.uniform(0.08, 0.2) * s
    low = ostium - direction * rng.uniform(0.06, 0.1) * s + (0.0, rng.uniform(0.03, 0.08) * s)
    control = np.array([
        [xa + rng.uniform(-0.05, 0.05) * s, -0.6 * s],
        [xa, -0.05 * s],
        [xa + rng.uniform(-0.02, 0.03) * s, 0.55 * low[1]],
        low,
        ostium - 0.02 * s * direction,
        ostium,
    ])
    outer = rng.uniform(3.0, 5.0) * k
    return Catheter(curves.catmull_rom(control, 1.0), outer, 0.68 * outer, rng.uniform(0.09, 0.13))


@dataclass(frozen=True)
class Guidewire:
    """One guidewire: a reference path from the catheter tip to its deepest reach.

    The visible part grows over time as the robot advances the wire, then bends at the shaped tip.
    """

    wire_id: int
    path: np.ndarray
    width: float
    start_length: float
    advance: float
    tip_length: float
    tip_bend: float
    body_mu: float
    tip_mu: float

    def centreline(self, motion: MotionModel, t: float, t_start: float, size: int) -> np.ndarray:
        """Visible centreline (N, 2) at time ``t``, 1 px spacing, proximal -> distal, inside the frame."""
        s = curves.arc_length(self.path)
        length = min(self.start_length + self.advance * max(t - t_start, 0.0), s[-1])
        n = int(np.searchsorted(s, length))
        pts = self.path[: max(n, 2)]
        pts = _bend_tip(pts, self.tip_bend, self.tip_length * 0.5)
        pts = motion.warp(pts, t, "heart")
        pts = curves.clip_to_image(pts, size)
        return curves.resample(pts, 1.0) if len(pts) >= 2 else pts


def _bend_tip(points: np.ndarray, angle: float, length: float) -> np.ndarray:
    """Curve the last ``length`` px progressively by ``angle`` (the shaped tip of a guidewire)."""
    n = len(points)
    m = int(min(length, n - 2))
    if m < 3 or angle == 0:
        return points
    head = points[: n - m]
    steps = np.diff(points[n - m - 1:], axis=0)
    turn = angle * np.square(np.arange(1, m + 1) / m)
    c, sn = np.cos(turn), np.sin(turn)
    rotated = np.stack([c * steps[:, 0] - sn * steps[:, 1], sn * steps[:, 0] + c * steps[:, 1]], axis=1)
    return np.vstack([head, head[-1] + np.cumsum(rotated, axis=0)])


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def build_guidewires(
    rng: np.random.Generator,
    tree: VesselTree,
    catheter: Catheter,
    size: int,
    width_range: tuple[float, float],
    crossing: bool,
    side_by_side: bool,
    advance: float,
) -> list[Guidewire]:
    """Two wires from the catheter tip through the main vessel into the two bifurcation branches.

    Parameters
    ----------
    width_range : (float, float)
        Wire widths in px at 512^2; scaled to ``size``.
    crossing : bool
        Each wire enters the main vessel on the side of the *other* wire's branch, so the two
        cross near the carina.
    side_by_side : bool
        Wires run through the main vessel with a centreline gap of 1.1-1.7 widths (else they
        keep at least 3.4 widths apart there).
    advance : float
        Wire advancement speed (px/s of this frame size).
    """
    k = size / 512.0
    widths = [max(rng.uniform(*width_range) * k, MIN_WIRE_WIDTH) for _ in range(2)]
    main = tree.main.points
    main_normal = curves.normals(curves.smooth(main, 3.0))[-1]
    a_dir = tree.branch_a.points[min(15, len(tree.branch_a.points) - 1)] - main[-1]
    side_a = 1.0 if a_dir @ main_normal >= 0 else -1.0
    mean_w = 0.5 * sum(widths)
    if side_by_side:
        gap = rng.uniform(1.1, 1.7) * mean_w
    else:
        gap = max(1.0 * tree.main.radius[-1], 3.4 * max(widths))
    wires = []
    for wire_id, branch, sign in ((1, tree.branch_a, side_a), (2, tree.branch_b, -side_a)):
        if crossing:
            sign = -sign
        depth = 0.92 * len(branch.points)
        centre = np.vstack([main, branch.points[1: int(depth)]])
        s = curves.arc_length(centre)
        s_bif = s[len(main) - 1]
        nrm = curves.normals(curves.smooth(centre, 4.0 * max(k, 0.25)))
        ramp = 12.0 * k
        exit_offset = sign * min(0.45 * catheter.inner_radius, gap / 2)
        offset = exit_offset + (sign * gap / 2 - exit_offset) * _smoothstep(s / ramp)
        # Past the carina, once the branches have separated, each wire leaves its side of the
        # shared trunk for the centre region of its branch.
        transition = max(8.0 * k, 1.5 * tree.main.radius[-1])
        branch_r = np.interp(s - s_bif, np.arange(len(branch.points)), branch.radius)
        wander = branch_r * (rng.uniform(-0.3, 0.3) + 0.2 * np.sin(s / (rng.uniform(25, 60) * k) + rng.uniform(0, 6.3)))
        blend = _smoothstep((s - s_bif) / (2.5 * transition))
        offset = (1 - blend) * offset + blend * wander
        path = centre + offset[:, None] * nrm
        path = curves.resample(curves.smooth(path, 2.0 * max(k, 0.5)), 1.0)
        total = curves.arc_length(path)[-1]
        body_mu = rng.uniform(0.1, 0.14)
        wires.append(Guidewire(
            wire_id=wire_id,
            path=path,
            width=widths[wire_id - 1],
            start_length=min(s_bif + rng.uniform(0.45, 0.75) * (total - s_bif), total),
            advance=advance * rng.uniform(0.5, 1.5),
            tip_length=rng.uniform(20, 40) * k,
            tip_bend=rng.uniform(-0.9, 0.9),
            body_mu=body_mu,
            tip_mu=body_mu * rng.uniform(2.5, 3.5),
        ))
    return wires


def transform_wire(wire: Guidewire, fn) -> Guidewire:
    """The wire with its path mapped by ``fn`` ((N, 2) -> (N, 2))."""
    return replace(wire, path=fn(wire.path))


@dataclass(frozen=True)
class Distractor:
    """A wire-like structure that is not a guidewire; ``core_radius``/``core_mu`` add a dense core.

    ``inner_radius`` > 0 makes it a hollow tube (a catheter); ``layer`` is the motion layer it
    moves with (``skin``: ECG leads, sternal wires; ``heart``: leads and stents in the heart).
    """

    points: np.ndarray
    radius: float
    mu: float
    closed: bool = False
    core_radius: float = 0.0
    core_mu: float = 0.0
    inner_radius: float = 0.0
    layer: str = "skin"


def _border_point(rng: np.random.Generator, s: float) -> np.ndarray:
    side = rng.integers(4)
    u = rng.uniform(0.05, 0.95) * s
    return np.array([[u, -0.1 * s], [u, 1.1 * s], [-0.1 * s, u], [1.1 * s, u]][side])


def build_distractors(rng: np.random.Generator, n: int, size: int) -> list[Distractor]:
    """``n`` distractors: ECG leads (long smooth cables with a thin dense core, often ending in an
    electrode ring), sternal wires (dense twisted loops stacked along the sternum)."""
    s, k = float(size), size / 512.0
    out: list[Distractor] = []
    sternum_x = rng.uniform(0.3, 0.7) * s
    sternum_y = rng.uniform(0.1, 0.4) * s
    for _ in range(n):
        kind = rng.choice(["ecg", "sternal", "ecg_electrode"], p=[0.4, 0.35, 0.25])
        if kind == "sternal":
            a, b = rng.uniform(7, 16) * k, rng.uniform(2, 4) * k
            phi = np.linspace(0, 2 * np.pi, max(int(2 * np.pi * a), 12), endpoint=False)
            loop = np.stack([a * np.cos(phi), b * np.sin(phi) * np.cos(0.5 * phi)], axis=1)
            twist = np.stack([np.linspace(a, a + rng.uniform(6, 12) * k, 8), np.linspace(0, rng.uniform(-3, 3) * k, 8)], axis=1)
            centre = np.array([sternum_x + rng.normal(0, 6 * k), sternum_y])
            sternum_y += rng.uniform(35, 60) * k
            angle = rng.uniform(-0.4, 0.4)
            out.append(Distractor(curves.rotate_points(loop, angle, np.zeros(2)) + centre,
                                  rng.uniform(1.2, 2.0) * k, rng.uniform(0.35, 0.55), closed=True))
            out.append(Distractor(curves.rotate_points(twist, angle, np.zeros(2)) + centre,
                                  rng.uniform(1.5, 2.2) * k, rng.uniform(0.35, 0.55)))
            continue
        start = _border_point(rng, s)
        if kind == "ecg_electrode":
            end = rng.uniform(0.1, 0.9, 2) * s
        else:
            end = _border_point(rng, s)
        mids = [start + (end - start) * f + rng.normal(0, 0.12 * s, 2) for f in (0.33, 0.66)]
        cable = curves.catmull_rom(np.array([start, *mids, end]), 1.0)
        out.append(Distractor(cable, rng.uniform(1.2, 2.0) * k, rng.uniform(0.02, 0.04),
                              core_radius=max(rng.uniform(0.5, 0.9) * k, 0.5), core_mu=rng.uniform(0.12, 0.25)))
        if kind == "ecg_electrode":
            r = rng.uniform(6, 10) * k
            phi = np.linspace(0, 2 * np.pi, max(int(2 * np.pi * r), 12), endpoint=False)
            ring = np.stack([np.cos(phi), np.sin(phi)], axis=1) * r + end
            out.append(Distractor(ring, max(0.9 * k, 0.5), 0.25, closed=True))
            out.append(Distractor(np.array([end, end + 0.5]), rng.uniform(2, 3) * k, 0.35))
    return out


def render_catheter(mu: np.ndarray, catheter: Catheter, motion: MotionModel, t: float, opacity: float, scale: float,
                    devices: np.ndarray | None = None) -> None:
    """Add the catheter wall (and contrast in its lumen during injection) to ``mu`` in place, and
    mark its pixels in ``devices`` when given."""
    pts = motion.warp(catheter.points, t, "heart")
    samples = tube_samples(pts, catheter.outer_radius + 1.0, mu.shape)
    if samples is None:
        return
    wall = catheter.wall_mu / scale * tube_profile(samples.dist, catheter.outer_radius, catheter.inner_radius)
    lumen = IODINE_MU * opacity / scale * tube_profile(samples.dist, catheter.inner_radius)
    mu[samples.ys, samples.xs] += (wall + lumen).astype(np.float32)
    mark_devices(devices, samples, catheter.outer_radius)


def render_distractors(mu: np.ndarray, distractors: list[Distractor], motion: MotionModel, t: float, scale: float,
                       devices: np.ndarray | None = None) -> None:
    """Add every distractor (moving with its motion layer) to ``mu`` in place, and mark their pixels
    in ``devices`` when given."""
    for item in distractors:
        pts = motion.warp(item.points, t, item.layer)
        samples = tube_samples(pts, item.radius + 1.0, mu.shape, closed=item.closed)
        if samples is None:
            continue
        val = item.mu / scale * tube_profile(samples.dist, item.radius, item.inner_radius)
        if item.core_radius > 0:
            val += item.core_mu / scale * tube_profile(samples.dist, item.core_radius)
        mu[samples.ys, samples.xs] += val.astype(np.float32)
        mark_devices(devices, samples, item.radius)


def render_wire(
    mu: np.ndarray, wire: Guidewire, points: np.ndarray, scale: float, hidden_before: int = 0
) -> tuple[np.ndarray, np.ndarray] | None:
    """Add one wire along ``points`` to ``mu`` in place and return its mask pixels (ys, xs).

    The mask holds pixels whose centre is within half the wire width of the centreline; the
    distal ``tip_length`` px are denser (the radiopaque coil). With ``hidden_before`` = m > 0 the
    first m points run inside a catheter: they attenuate but are not guidewire, so pixels whose
    nearest centreline point comes before point m are left out of the mask.
    """
    if len(points) < 2:
        return None
    r = wire.width / 2
    samples = tube_samples(points, r + 1.0, mu.shape)
    if samples is None:
        return None
    from_tip = (len(points) - 1) - samples.u  # 1 px spacing: index difference = arc length
    tip = _smoothstep((wire.tip_length - from_tip) / 3.0 + 0.5)
    per_px = (wire.body_mu + (wire.tip_mu - wire.body_mu) * tip) / scale
    mu[samples.ys, samples.xs] += (per_px * tube_profile(samples.dist, r)).astype(np.float32)
    inside = samples.dist <= r
    if hidden_before > 0:
        inside &= samples.u >= hidden_before
    return samples.ys[inside], samples.xs[inside]
