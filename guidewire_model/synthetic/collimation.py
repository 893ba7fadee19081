"""Collimator blades, iris shutters and letterbox borders: where the frame shows the scene.

Real systems narrow the beam with lead blades (any angle, often in rectangular pairs) or a round
iris, and many consoles black out the shuttered area digitally; exported videos add black bars
when the detector's aspect ratio differs from the video's. Two kinds are modelled:

* *opaque* shutters act on the displayed image: the shuttered area becomes a flat near-black
  level (sharp or soft edge). Wire pixels there are hidden, so they leave the mask and the
  centreline: the rule is that a pixel is visible where the shutter passes at least half of the
  image (``transmission >= 0.5``);
* *semi-transparent* blades (wedge filters, thin blades) act on the X-rays: they add attenuation,
  so the area behind them is darker and noisier, but the wire is still seen and stays in the mask.

Maps are built once per sequence (the collimator does not move during a run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Collimation", "VISIBLE_THRESHOLD", "clip_to_visible", "sample_collimation"]

#: Display transmission from which a pixel counts as visible (the middle of a soft edge).
VISIBLE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Collimation:
    """One sequence's shutters.

    Attributes
    ----------
    transmission : ndarray (H, W) float32 or None
        Share of the displayed image that opaque blades and the iris let through (1 open, 0
        shut); None if there are none.
    level : float
        Display value (0..1) of the area they shut (0 = black; some consoles show dark grey).
    bars : ndarray (H, W) float32 or None
        Transmission of letterbox / pillarbox bars, which are always exactly black.
    filter_mu : ndarray (H, W) float32 or None
        Attenuation added by semi-transparent blades (natural-log units), None if none.
    """

    transmission: np.ndarray | None
    level: float
    bars: np.ndarray | None
    filter_mu: np.ndarray | None

    @property
    def visible(self) -> np.ndarray | None:
        """Bool (H, W): where the scene can be seen (None = everywhere)."""
        maps = [m for m in (self.transmission, self.bars) if m is not None]
        if not maps:
            return None
        total = maps[0] if len(maps) == 1 else maps[0] * maps[1]
        return total >= VISIBLE_THRESHOLD

    def apply(self, display: np.ndarray) -> np.ndarray:
        """Opaque shutters and bars on a display image in [0, 1] (returns a new array if any)."""
        out = display
        if self.transmission is not None:
            out = out * self.transmission + np.float32(self.level) * (1.0 - self.transmission)
        if self.bars is not None:
            out = out * self.bars
        return out


def _edge(signed: np.ndarray, softness: float) -> np.ndarray:
    """Transmission across an edge: 1 where ``signed`` < 0 (open side), 0 far on the other side.

    ``softness`` (px) is the width of the penumbra; a sharp edge still spans ~1 px so it is
    antialiased like a real blade edge seen by a detector.
    """
    return (0.5 * (1.0 - np.tanh(signed / (2.0 * max(softness, 0.35))))).astype(np.float32)


def sample_collimation(
    rng: np.random.Generator, size: int, blade_p: float, iris_p: float, letterbox_p: float
) -> Collimation | None:
    """Draw one sequence's shutters (None if it has none).

    Parameters
    ----------
    rng : numpy.random.Generator
        This variation's own stream.
    size : int
        Frame side in pixels.
    blade_p, iris_p, letterbox_p : float
        Probabilities of straight blades, a round iris (or round leaves at the border) and
        letterbox/pillarbox bars.
    """
    s, k = float(size), size / 512.0
    use_blades, use_iris, use_box = rng.random() < blade_p, rng.random() < iris_p, rng.random() < letterbox_p
    if not (use_blades or use_iris or use_box):
        return None
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = s / 2 - 0.5 + rng.normal(0.0, 0.04 * s, 2)
    opaque = np.ones((size, size), np.float32)
    bars = filter_mu = None
    if use_blades:
        # Blades of a rectangular collimator come in perpendicular pairs, turned as a whole.
        base = rng.uniform(0, 2 * np.pi)
        sides = rng.choice(4, size=int(rng.integers(1, 5)), replace=False)
        for side in sides:
            angle = base + side * np.pi / 2 + rng.normal(0.0, 0.03)
            normal = np.array([np.cos(angle), np.sin(angle)], np.float32)
            # Distance of the blade edge from the centre: it hides up to ~30 % of the frame.
            depth = rng.uniform(0.2, 0.48) * s
            signed = (xx - centre[0]) * normal[0] + (yy - centre[1]) * normal[1] - depth
            softness = rng.uniform(0.0, 6.0) * k if rng.random() < 0.5 else 0.0
            shut = 1.0 - _edge(signed, softness)
            if rng.random() < 0.3:
                # Semi-transparent blade: transmission 8-45 % of the X-rays.
                filter_mu = (filter_mu if filter_mu is not None else 0.0) + np.float32(rng.uniform(0.8, 2.5)) * shut
            else:
                opaque *= 1.0 - shut
    if use_iris:
        softness = rng.uniform(0.0, 5.0) * k if rng.random() < 0.5 else 0.0
        if rng.random() < 0.7:
            # Round iris: black outside a circle around the field's centre.
            radius = rng.uniform(0.42, 0.72) * s
            rho = np.hypot(xx - centre[0], yy - centre[1])
            opaque *= _edge(rho - radius, softness)
        else:
            # Round shutter leaves entering from the border: black discs centred near an edge.
            for _ in range(int(rng.integers(1, 3))):
                side = int(rng.integers(4))
                along, across = rng.uniform(0.1, 0.9) * s, rng.uniform(-0.12, 0.02) * s
                cx, cy = [(along, across), (along, s - 1 - across), (across, along), (s - 1 - across, along)][side]
                radius = rng.uniform(0.06, 0.22) * s
                opaque *= 1.0 - _edge(np.hypot(xx - cx, yy - cy) - radius, softness)
    if use_box:
        # Bars on two opposite sides (letterbox or pillarbox), sharp, exactly black.
        a, b = rng.uniform(0.03, 0.15, 2) * s
        coord = yy if rng.random() < 0.5 else xx
        # Whole pixels, as a video frame's bars: the edge falls between two pixel rows.
        a, b = int(round(a)), int(round(b))
        bars = np.ones((size, size), np.float32)
        bars[(coord < a) | (coord >= size - b)] = 0.0
    has_opaque = bool((opaque < 1.0 - 1e-6).any())
    level = 0.0 if rng.random() < 0.7 else float(rng.uniform(0.02, 0.1))
    return Collimation(
        transmission=opaque if has_opaque else None,
        level=level,
        bars=bars,
        filter_mu=None if filter_mu is None else np.asarray(filter_mu, np.float32),
    )


def clip_to_visible(
    points: np.ndarray, visible: np.ndarray | None, box: tuple[int, int, int, int] | None = None
) -> np.ndarray:
    """The longest run of consecutive centreline points on visible pixels (and inside ``box``).

    Keeps the proximal -> distal order. A wire that dips under a shutter and comes out again
    keeps its longer visible piece as its centreline; the shorter piece's pixels stay in the mask
    (they are visible wire). ``box`` = (x0, y0, x1, y1) keeps points within those pixel
    coordinates (inclusive), as :func:`curves.clip_to_image` does for the whole frame. Returns
    (0, 2) if fewer than two points are visible.
    """
    if (visible is None and box is None) or len(points) == 0:
        return points
    inside = np.ones(len(points), bool)
    if visible is not None:
        h, w = visible.shape
        ix = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
        iy = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
        inside &= visible[iy, ix]
    if box is not None:
        x0, y0, x1, y1 = box
        inside &= (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    if inside.all():
        return points
    padded = np.concatenate([[False], inside, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    if len(edges) == 0:
        return np.zeros((0, 2))
    starts, ends = edges[0::2], edges[1::2]
    best = int(np.argmax(ends - starts))
    run = points[starts[best]: ends[best]]
    return run if len(run) >= 2 else np.zeros((0, 2))
