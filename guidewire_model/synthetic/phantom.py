"""A silicone vascular phantom in water as the scene behind the devices, instead of a thorax.

Bench tests and many public guidewire videos show a phantom: a bright, nearly uniform field;
smooth tubes with sharp edges (the vessel channels, a little darker than the surroundings,
darker still where two cross); walls seen edge-on as dark bands; bright holes through a cast
body (the gap inside an aortic arch); round blobs (spheres, air bubbles, screws); straight block
edges; no ribs, spine, lungs or contrast, and no cardiac or respiratory motion. The wires keep
running along the generator's vessel tree, which becomes the phantom's channel (widened), so
they stay inside a lumen as in the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from guidewire_model.synthetic import curves
from guidewire_model.synthetic.anatomy import VesselTree
from guidewire_model.synthetic.imaging import tube_profile, tube_samples
from guidewire_model.synthetic.motion import MotionModel

__all__ = ["PhantomBackground", "build_phantom", "draw_hole", "still"]


@dataclass(frozen=True)
class PhantomBackground:
    """The phantom's attenuation map; it does not move.

    Attributes
    ----------
    static : ndarray (H, W) float32
        Attenuation.
    edges : ndarray (H, W) bool, optional
        The channels' and holes' outlines: a band just inside each one's boundary and over its
        silicone rim. Long, smooth and dark, they are what a wire detector takes for wire on real
        phantoms; training can weigh them as hard negatives (never ground truth of any kind).
    """

    static: np.ndarray
    edges: np.ndarray | None = None

    def mu(self, motion: MotionModel, t: float) -> np.ndarray:
        """Attenuation (H, W) float32 (the same at every time)."""
        return self.static.copy()


def still(motion: MotionModel) -> MotionModel:
    """``motion`` without any cardiac or respiratory displacement (a phantom on the table)."""
    from dataclasses import replace

    return replace(motion, contraction=0.0, twist=0.0, shift=np.zeros(2), wobble=0.0, resp_amplitude=np.zeros(2))


def _tube_value(
    d: np.ndarray, r: np.ndarray | float, wall: float, w_flat: float, w_cyl: float, w_wall: float
) -> np.ndarray:
    """Relative attenuation of a channel of radius ``r`` at distance ``d`` from its axis (0..~1).

    A flat part with a one-pixel antialiased edge (a channel through a silicone block: sharp
    edges, uniform inside), a cylindrical part (a round tube of water) and the silicone wall's
    rim (a hollow cylinder just outside the lumen, which draws the crisp outline).
    """
    flat = np.clip(r - d + 0.5, 0.0, 1.0)
    cyl = tube_profile(d, r) / (2.0 * np.asarray(r))
    rim = tube_profile(d, np.asarray(r) + wall, r) / (2.0 * np.sqrt(np.maximum(wall * (2 * np.asarray(r) + wall), 1e-6)))
    return w_flat * flat + w_cyl * cyl + w_wall * rim


def _outline(channel: np.ndarray, inside: float, outside: float) -> np.ndarray:
    """Pixels of a binary ``channel`` within ``inside`` px of its boundary, and outside it within ``outside``."""
    inner = cv2.distanceTransform(channel.view(np.uint8), cv2.DIST_L2, 3)
    outer = cv2.distanceTransform((~channel).view(np.uint8), cv2.DIST_L2, 3)
    return (channel & (inner <= inside)) | (~channel & (outer <= outside))


def draw_hole(mu: np.ndarray, centre: np.ndarray, r: float, squash: float, angle: float, step: float, ring: float,
              wall: float) -> np.ndarray:
    """Draw a hole through the phantom's body into the attenuation ``mu`` (in place); return its mask.

    On real cast phantoms the body's wall, seen edge-on around such a hole, is a dark band along a
    strong step: what a wire detector takes for wire.

    Parameters
    ----------
    mu : ndarray (H, W) float32
        Attenuation, changed in place.
    centre : ndarray (2,)
        Centre ``(x, y)`` in px; the hole may reach past the frame or lie outside it.
    r : float
        Long semi-axis in px.
    squash : float
        Short semi-axis over long, in (0, 1].
    angle : float
        Direction of the long axis, radians.
    step : float
        How much less the hole attenuates than its surroundings (it is bright).
    ring : float
        Peak extra attenuation of the wall band just outside the boundary.
    wall : float
        Width of that band in px (in the long axis' units), > 0.

    Returns
    -------
    ndarray (H, W) bool
        The hole's pixels (all False when it lies outside the frame; ``mu`` is then unchanged).
    """
    size_y, size_x = mu.shape
    reach = r + wall + 2.0
    x0, x1 = int(max(centre[0] - reach, 0)), int(min(centre[0] + reach + 1, size_x))
    y0, y1 = int(max(centre[1] - reach, 0)), int(min(centre[1] + reach + 1, size_y))
    hole = np.zeros(mu.shape, bool)
    if x0 >= x1 or y0 >= y1:
        return hole
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx - np.float32(centre[0]), yy - np.float32(centre[1])
    d = np.hypot(dx * np.cos(angle) + dy * np.sin(angle), (dy * np.cos(angle) - dx * np.sin(angle)) / squash)
    rim = tube_profile(d, r + wall, r) / (2.0 * np.sqrt(wall * (2 * r + wall)))
    mu[y0:y1, x0:x1] += (ring * rim - step * np.clip(r - d + 0.5, 0.0, 1.0)).astype(np.float32)
    hole[y0:y1, x0:x1] = d <= r
    return hole


def build_phantom(rng: np.random.Generator, size: int, tree: VesselTree) -> PhantomBackground:
    """Draw one phantom whose channels contain ``tree`` (already placed in the frame)."""
    s, k = float(size), size / 512.0
    mu = np.full((size, size), rng.uniform(0.25, 0.6), np.float32)
    coarse = rng.normal(0.0, 0.03, (3, 3)).astype(np.float32)
    mu += cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.standard_normal((size, size), dtype=np.float32)
    mu += cv2.GaussianBlur(grain, (0, 0), 1.5 * k + 0.3) * np.float32(0.01)

    depth = rng.uniform(0.25, 0.7)
    w_flat, w_cyl = rng.dirichlet((2.0, 1.5))
    w_wall = rng.uniform(0.0, 0.6)
    # Log-uniform: thin tubing as often as before, and the thick walls of a cast anatomical model,
    # whose edge-on outline is a dark band several pixels wide once a small frame is scaled up.
    wall = float(np.exp(rng.uniform(np.log(1.0), np.log(8.0)))) * k
    # Phantom channels are wide: up to aorta-sized ones that hold the wire in a big lumen, far from
    # the channel's rim (log-uniform, so narrow channels stay as common as before).
    widen = float(np.exp(rng.uniform(np.log(1.5), np.log(10.0))))
    # The channel holding the wires is one lumen: vessels are joined by taking the maximum, so the
    # bifurcation is not darker than its branches.
    lumen = np.zeros((size, size), np.float32)
    channel = np.zeros((size, size), bool)
    vessels = [tree.main, tree.branch_a, tree.branch_b]
    vessels += [v for v in tree.side_branches if rng.random() < 0.5]
    for vessel in vessels:
        radius = np.maximum(vessel.radius * widen, 3.0 * k)
        samples = tube_samples(vessel.points, float(radius.max()) + wall + 1.0, mu.shape)
        if samples is None:
            continue
        r = np.interp(samples.u, np.arange(len(vessel.points)), radius)
        val = _tube_value(samples.dist, r, wall, w_flat, w_cyl, w_wall).astype(np.float32)
        # tube_samples lists each pixel once, so a fancy-indexed maximum is exact.
        lumen[samples.ys, samples.xs] = np.maximum(lumen[samples.ys, samples.xs], val)
        inside = samples.dist <= r
        channel[samples.ys[inside], samples.xs[inside]] = True
    mu += np.float32(depth) * lumen
    # At least a pixel each way, so the outline exists at any frame size.
    inside_px, outside_px = max(1.5 * k, 1.0), max(wall + 1.0 * k, 1.0)
    edges = _outline(channel, inside_px, outside_px)

    # Other channels of the phantom, crossing the field; where two cross they add up (darker).
    for _ in range(int(rng.integers(0, 4))):
        a, b = (rng.uniform(-0.1, 1.1, 2) * s for _ in range(2))
        mids = [a + (b - a) * f + rng.normal(0, 0.15 * s, 2) for f in (0.33, 0.66)]
        path = curves.catmull_rom(np.array([a, *mids, b]), 1.0)
        r = rng.uniform(8, 90) * k
        samples = tube_samples(path, r + wall + 1.0, mu.shape)
        if samples is not None:
            val = _tube_value(samples.dist, r, wall, w_flat, w_cyl, w_wall)
            mu[samples.ys, samples.xs] += (rng.uniform(0.2, 0.6) * val).astype(np.float32)
            other = np.zeros((size, size), bool)
            inside = samples.dist <= r
            other[samples.ys[inside], samples.xs[inside]] = True
            edges |= _outline(other, inside_px, outside_px)

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    # Straight edges of the silicone block or the water tank.
    for _ in range(int(rng.integers(0, 3))):
        angle = rng.uniform(0, 2 * np.pi)
        along = (xx - s / 2) * np.float32(np.cos(angle)) + (yy - s / 2) * np.float32(np.sin(angle))
        signed = along - np.float32(rng.uniform(0.1, 0.45) * s)
        mu += np.float32(rng.uniform(0.05, 0.2)) * np.clip(signed + 0.5, 0.0, 1.0)
    # Round blobs: dense spheres (dark) and air bubbles or holes (bright), sharp-edged.
    for bright in (False, True):
        for _ in range(int(rng.integers(0, 5))):
            c = rng.uniform(0.05, 0.95, 2) * s
            r = rng.uniform(3, 10) * k if bright else rng.uniform(4, 22) * k
            x0, x1 = int(max(c[0] - r - 2, 0)), int(min(c[0] + r + 3, size))
            y0, y1 = int(max(c[1] - r - 2, 0)), int(min(c[1] + r + 3, size))
            if x0 >= x1 or y0 >= y1:
                continue
            d = np.hypot(xx[y0:y1, x0:x1] - c[0], yy[y0:y1, x0:x1] - c[1])
            if bright:
                mu[y0:y1, x0:x1] -= np.float32(rng.uniform(0.08, 0.2)) * np.clip(r - d + 0.5, 0.0, 1.0)
            else:
                mu[y0:y1, x0:x1] += (rng.uniform(0.15, 0.5) * tube_profile(d, r) / (2 * r)).astype(np.float32)
    # Holes through the phantom's body (the gap inside an aortic arch, the space between cast
    # vessels), outlined like the channels.
    for _ in range(int(rng.integers(0, 3))):
        centre, r = rng.uniform(0.1, 0.9, 2) * s, rng.uniform(15, 70) * k
        squash, angle = rng.uniform(0.5, 1.0), rng.uniform(0.0, np.pi)
        step = rng.uniform(0.08, 0.25)
        hole = draw_hole(mu, centre, r, squash, angle, step, step * rng.uniform(0.05, 0.5), wall)
        edges |= _outline(hole, inside_px, outside_px)
    return PhantomBackground(static=np.maximum(mu, 0.0).astype(np.float32), edges=edges)
