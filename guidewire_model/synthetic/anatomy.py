"""Anatomy of a coronary fluoroscopy frame: thorax background and the contrast-filled coronary tree.

Background structures are attenuation maps (float32, natural-log units) built once per sequence;
breathing moves them per frame by translation. Vessels are centreline curves with a radius per
point, rendered per frame after the motion model has deformed them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from guidewire_model.synthetic import curves
from guidewire_model.synthetic.imaging import tube_profile, tube_samples
from guidewire_model.synthetic.motion import MotionModel

__all__ = ["Background", "Vessel", "VesselTree", "build_background", "build_vessel_tree", "render_vessels"]

#: Attenuation per pixel of chord through fully opacified blood (contrast = 1) at 512^2.
IODINE_MU = 0.1


@dataclass(frozen=True)
class Background:
    """Attenuation layers that move differently: static (spine, soft tissue), ribs, thorax."""

    static: np.ndarray
    ribs: np.ndarray
    thorax: np.ndarray

    def mu(self, motion: MotionModel, t: float) -> np.ndarray:
        """Background attenuation (H, W) float32 at time ``t``."""
        out = self.static.copy()
        out += _shift(self.ribs, motion.image_shift(t, 0.6))
        out += _shift(self.thorax, motion.image_shift(t, 1.0))
        return out


def _shift(layer: np.ndarray, d: np.ndarray) -> np.ndarray:
    m = np.array([[1.0, 0.0, d[0]], [0.0, 1.0, d[1]]], dtype=np.float64)
    return cv2.warpAffine(layer, m, layer.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _low_frequency(rng: np.random.Generator, size: int, grid: int, amplitude: float) -> np.ndarray:
    coarse = rng.normal(0.0, amplitude, (grid, grid)).astype(np.float32)
    return cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)


def _texture(rng: np.random.Generator, size: int, sigma: float, amplitude: float) -> np.ndarray:
    noise = rng.standard_normal((size, size), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), max(sigma, 0.3))
    return noise * np.float32(amplitude / max(float(noise.std()), 1e-6))


def _spine(rng: np.random.Generator, size: int, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A vertical band of vertebral bodies with disc spaces, end plates and pedicle rings."""
    s = float(size)
    centre = rng.uniform(0.42, 0.8) * s if rng.random() < 0.8 else rng.uniform(0.2, 0.42) * s
    half = rng.uniform(0.075, 0.1) * s
    tilt = rng.uniform(-0.08, 0.08)
    period = rng.uniform(0.12, 0.15) * s
    x_rel = xx - (centre + tilt * (yy - s / 2))
    inside = _sigmoid((half - np.abs(x_rel)) / (0.01 * s))
    yv = np.mod(yy - rng.uniform(0, period), period) / period
    edge = np.minimum(yv, 1.0 - yv)
    disc = np.exp(-np.square(edge / 0.07))
    endplate = np.exp(-np.square((edge - 0.1) / 0.03))
    mu = inside * (0.18 - 0.1 * disc + 0.05 * endplate)
    dy = (yv - 0.35) * period
    for side in (-1.0, 1.0):
        rho = np.sqrt(np.square((x_rel - side * 0.62 * half) / (0.2 * half)) + np.square(dy / (0.17 * period)))
        mu += inside * (0.09 * np.exp(-np.square((rho - 1.0) / 0.3)) + 0.03 * (rho < 1.0))
    mu += 0.05 * np.exp(-np.square(x_rel / (0.12 * half)) - np.square((yv - 0.7) * period / (0.2 * period)))
    return mu.astype(np.float32)


def _rib_layer(rng: np.random.Generator, size: int, spine_x: float) -> np.ndarray:
    """Curved bone bands with dense cortical edges (posterior ribs) and faint anterior ribs."""
    s = float(size)
    layer = np.zeros((size, size), np.float32)
    for anterior in (False, True):
        canvas = np.zeros((size, size), np.uint8)
        spacing = rng.uniform(0.13, 0.17) * s
        for y0 in np.arange(-0.4 * s + rng.uniform(0, spacing), 1.0 * s, spacing):
            for side in (-1.0, 1.0):
                u = np.linspace(0.0, 0.85 * s, 60)
                if anterior:
                    x = spine_x + side * (0.75 * s - u)
                    y = y0 + 0.1 * s + 0.5 * u - 0.25 * u * u / s
                else:
                    x = spine_x + side * (0.05 * s + u)
                    y = y0 - 0.3 * u + rng.uniform(1.0, 1.5) * u * u / s
                pts = np.stack([x, y], axis=1)
                cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 255, 1, cv2.LINE_8, shift=4)
        dist = cv2.distanceTransform(255 - canvas, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        radius = rng.uniform(0.017, 0.024) * s
        full = tube_profile(dist, radius) / (2 * radius)
        cortex = tube_profile(dist, radius, 0.8 * radius) / (1.2 * radius)
        weight = 0.35 if anterior else 1.0
        layer += (weight * (0.05 * full + 0.06 * cortex)).astype(np.float32)
    return layer


def build_background(rng: np.random.Generator, size: int, heart_centre: np.ndarray) -> Background:
    """Thorax attenuation layers for one sequence.

    Parameters
    ----------
    heart_centre : ndarray (2,)
        Where the coronary tree lies; the cardiac shadow is drawn around it.
    """
    s = float(size)
    k = size / 512.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    static = np.full((size, size), 1.45, np.float32) + _low_frequency(rng, size, 5, 0.1)
    for lung_x in (rng.uniform(0.1, 0.3), rng.uniform(0.7, 0.9)):
        cx, cy = lung_x * s, rng.uniform(0.2, 0.45) * s
        static -= 0.3 * np.exp(-np.square((xx - cx) / (0.2 * s)) - np.square((yy - cy) / (0.35 * s)))
    spine = _spine(rng, size, xx, yy)
    static += spine
    spine_x = float(xx[0][np.argmax(spine.mean(axis=0))])
    static += spine * _texture(rng, size, 1.5 * k, 0.12)
    static += _texture(rng, size, 1.5 * k, 0.012) + _texture(rng, size, 8 * k, 0.03)
    ribs = _rib_layer(rng, size, spine_x)

    thorax = np.zeros((size, size), np.float32)
    # Cardiac silhouette: denser than lung, soft-edged ellipse around the coronary tree.
    cx, cy = heart_centre + rng.normal(0, 0.04 * s, 2) + (0.0, 0.08 * s)
    a, b = rng.uniform(0.3, 0.4) * s, rng.uniform(0.25, 0.32) * s
    rho = np.sqrt(np.square((xx - cx) / a) + np.square((yy - cy) / b))
    thorax += 0.3 * _sigmoid((1.0 - rho) / 0.08)
    # Diaphragm: a smooth dome, abdomen below is much denser than lung above.
    if rng.random() < 0.8:
        apex_x, apex_y = rng.uniform(0.2, 0.8) * s, rng.uniform(0.62, 1.0) * s
        dome = apex_y + rng.uniform(0.5, 1.2) * np.square(xx - apex_x) / s
        thorax += 0.55 * _sigmoid((yy - dome) / (0.012 * s))
    return Background(static=static, ribs=ribs, thorax=thorax)


@dataclass(frozen=True)
class Vessel:
    """A vessel centreline (N, 2), 1 px spacing, and its lumen radius per point (N,) in px."""

    points: np.ndarray
    radius: np.ndarray


@dataclass(frozen=True)
class VesselTree:
    """The coronary tree; ``main`` ends at the bifurcation into ``branch_a`` and ``branch_b``."""

    main: Vessel
    branch_a: Vessel
    branch_b: Vessel
    side_branches: tuple[Vessel, ...]

    @property
    def vessels(self) -> tuple[Vessel, ...]:
        return (self.main, self.branch_a, self.branch_b) + self.side_branches

    def transformed(self, fn) -> "VesselTree":
        """The tree with every centreline mapped by ``fn`` ((N, 2) -> (N, 2))."""
        def t(v: Vessel) -> Vessel:
            return Vessel(fn(v.points), v.radius)
        return VesselTree(t(self.main), t(self.branch_a), t(self.branch_b), tuple(t(v) for v in self.side_branches))


def _taper(n: int, r0: float, r1: float) -> np.ndarray:
    return np.linspace(r0, r1, n)


def build_vessel_tree(
    rng: np.random.Generator, size: int, ostium: np.ndarray, heading: float, main_length: float
) -> VesselTree:
    """A left-main-like trunk from ``ostium`` that bifurcates into two long branches with side branches."""
    k = size / 512.0
    main_pts = curves.resample(curves.random_walk(rng, ostium, heading, main_length, size, turn_std=0.01), 1.0)
    r_main = rng.uniform(5.5, 7.0) * k
    main = Vessel(main_pts, _taper(len(main_pts), r_main, 0.9 * r_main))
    end_heading = np.arctan2(*(main_pts[-1] - main_pts[-4])[::-1])
    spread = np.radians(rng.uniform(55, 95))
    frac = rng.uniform(0.35, 0.65)
    side = 1.0 if rng.random() < 0.5 else -1.0
    h_a = end_heading + side * frac * spread
    h_b = end_heading - side * (1 - frac) * spread
    branches = []
    for h, length, r0 in ((h_a, rng.uniform(300, 420), 0.8), (h_b, rng.uniform(220, 320), 0.7)):
        pts = curves.random_walk(rng, main_pts[-1], h, length * k, size, turn_std=0.018,
                                 target_heading=h, pull=0.004 / max(k, 0.25))
        pts = curves.resample(pts, 1.0)
        branches.append(Vessel(pts, _taper(len(pts), r0 * r_main * 0.9, rng.uniform(1.2, 1.8) * k)))
    side_branches = []
    for parent in branches:
        for _ in range(rng.integers(3, 6)):
            i = int(rng.uniform(0.12, 0.8) * len(parent.points))
            d = parent.points[min(i + 3, len(parent.points) - 1)] - parent.points[max(i - 3, 0)]
            h = np.arctan2(d[1], d[0]) + rng.choice([-1.0, 1.0]) * np.radians(rng.uniform(30, 70))
            pts = curves.random_walk(rng, parent.points[i], h, rng.uniform(50, 180) * k, size, turn_std=0.025)
            pts = curves.resample(pts, 1.0)
            r0 = 0.6 * parent.radius[i]
            side_branches.append(Vessel(pts, _taper(len(pts), r0, max(0.35 * r0, 0.6 * k))))
    return VesselTree(main, branches[0], branches[1], tuple(side_branches))


def render_vessels(mu: np.ndarray, tree: VesselTree, motion: MotionModel, t: float, opacity: float, scale: float) -> None:
    """Add the opacified lumen of every vessel at time ``t`` to ``mu`` in place.

    ``opacity`` is the contrast level (0 = unopacified); ``scale`` = size / 512 keeps the
    attenuation of a vessel of given physical size independent of the frame size.
    """
    if opacity <= 0:
        return
    per_px = IODINE_MU * opacity / scale
    for vessel in tree.vessels:
        pts = motion.warp(vessel.points, t, "heart")
        samples = tube_samples(pts, float(vessel.radius.max()) + 1.0, mu.shape)
        if samples is None:
            continue
        idx = np.arange(len(pts))
        r = np.interp(samples.u, idx, vessel.radius)
        # Contrast thins out distally as it mixes with unopacified blood.
        fade = 1.0 - 0.35 * samples.u / max(len(pts) - 1, 1)
        mu[samples.ys, samples.xs] += (per_px * fade * tube_profile(samples.dist, r)).astype(np.float32)
