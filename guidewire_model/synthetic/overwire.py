"""Catheters around the guidewires: a thin guiding catheter, microcatheters and balloon catheters.

Ground-truth decisions (the annotation convention of public data sets such as CathAction):

* a wire inside a catheter is *catheter*, not guidewire: where a microcatheter covers a wire's
  proximal part, the wire's mask and centreline start at the microcatheter tip (the wire is
  still drawn inside it, as the denser core of the catheter);
* a balloon catheter's two marker bands and faint shaft sit *around* the wire, which is seen
  through them: the wire keeps its mask and an unbroken centreline there, and the band pixels
  beyond the wire's own width are not guidewire.

Positions along a wire are arc lengths from its proximal end (the guiding catheter's tip), i.e.
indices of its 1 px-spaced centreline, fixed per sequence: the wire advances distally, so a
device keeps its place on the wire while the tip moves on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from guidewire_model.synthetic.devices import Catheter, Guidewire
from guidewire_model.synthetic.imaging import mark_devices, tube_profile, tube_samples

__all__ = ["Balloon", "Microcatheter", "OverWire", "render_overwire", "sample_overwire"]


@dataclass(frozen=True)
class Microcatheter:
    """Covers the first ``length`` px of a wire; a radiopaque marker band at its tip."""

    length: float
    outer_radius: float
    wall_mu: float
    marker_mu: float


@dataclass(frozen=True)
class Balloon:
    """Markers at ``start`` and ``start + length`` px along the wire, shaft back to the catheter."""

    start: float
    length: float
    marker_length: float
    marker_radius: float
    marker_mu: float
    shaft_radius: float
    shaft_mu: float
    #: Radius of the inflated balloon (diluted contrast) between the markers; 0 = deflated.
    inflated_radius: float
    inflated_mu: float


@dataclass(frozen=True)
class OverWire:
    """What rides on wire ``wire_id`` (at most one of the two)."""

    wire_id: int
    microcatheter: Microcatheter | None
    balloon: Balloon | None


def sample_overwire(
    rng: np.random.Generator,
    catheter: Catheter,
    wires: tuple[Guidewire, ...],
    size: int,
    thin_p: float,
    micro_p: float,
    balloon_p: float,
) -> tuple[Catheter, tuple[OverWire, ...]]:
    """Draw a (possibly thin) guiding catheter and the devices on each wire.

    Returns
    -------
    (Catheter, tuple of OverWire)
        The catheter (``catheter`` itself unless made thin) and one entry per wire that carries
        something.
    """
    k = size / 512.0
    if rng.random() < thin_p:
        # Outer diameter 1.5-2.5 wire widths: hard to tell from a wire except by its width.
        width = float(np.mean([w.width for w in wires]))
        outer = max(rng.uniform(0.75, 1.25) * width, 0.5 * width + 0.5)
        catheter = replace(catheter, outer_radius=outer, inner_radius=0.5 * outer, wall_mu=rng.uniform(0.12, 0.22))
    riders = []
    for wire in wires:
        micro = balloon = None
        if rng.random() < micro_p:
            outer = max(rng.uniform(0.75, 1.25) * wire.width, 0.5 * wire.width + 0.5)
            micro = Microcatheter(rng.uniform(0.25, 0.7) * wire.start_length, outer, rng.uniform(0.1, 0.2),
                                  rng.uniform(0.4, 0.7))
        elif rng.random() < balloon_p:
            length = rng.uniform(12, 30) * k
            start = rng.uniform(0.3, 0.75) * wire.start_length
            if start + length < wire.start_length - 8 * k:
                inflated = rng.random() < 0.35
                balloon = Balloon(
                    start=start, length=length, marker_length=rng.uniform(2.5, 4.5) * k,
                    marker_radius=max(rng.uniform(0.8, 1.2) * wire.width, 0.5 * wire.width + 0.7),
                    marker_mu=rng.uniform(0.45, 0.8),
                    shaft_radius=max(1.3 * wire.width, 0.5 * wire.width + 0.6), shaft_mu=rng.uniform(0.01, 0.03),
                    inflated_radius=rng.uniform(3.0, 6.0) * k if inflated else 0.0,
                    inflated_mu=rng.uniform(0.02, 0.05),
                )
        if micro is not None or balloon is not None:
            riders.append(OverWire(wire.wire_id, micro, balloon))
    return catheter, tuple(riders)


def _tube(mu: np.ndarray, pts: np.ndarray, radius: float, value: float, inner: float = 0.0,
          devices: np.ndarray | None = None) -> None:
    if len(pts) < 2:
        return
    samples = tube_samples(pts, radius + 1.0, mu.shape)
    if samples is not None:
        mu[samples.ys, samples.xs] += (value * tube_profile(samples.dist, radius, inner)).astype(np.float32)
        mark_devices(devices, samples, radius)


def render_overwire(mu: np.ndarray, rider: OverWire, points: np.ndarray, scale: float,
                    devices: np.ndarray | None = None) -> int:
    """Add the devices on one wire (centreline ``points`` of this frame) to ``mu`` in place, and
    mark their pixels in ``devices`` when given.

    Returns
    -------
    int
        Number of proximal centreline points hidden inside a microcatheter (0 if none); the
        wire's mask and centreline start there.
    """
    n = len(points)
    if n < 4:
        return 0
    micro, balloon = rider.microcatheter, rider.balloon
    if micro is not None:
        m = int(min(round(micro.length), n - 3))
        if m < 2:
            return 0
        _tube(mu, points[: m + 1], micro.outer_radius, micro.wall_mu / scale, 0.55 * micro.outer_radius, devices=devices)
        band = max(int(round(2.5 * scale)), 2)
        _tube(mu, points[max(m - band, 0): m + 1], micro.outer_radius, micro.marker_mu / scale, 0.55 * micro.outer_radius, devices=devices)
        return m
    if balloon is not None:
        b0, b1 = int(round(balloon.start)), int(round(balloon.start + balloon.length))
        if b1 >= n - 2:
            # The wire's visible part does not reach past the balloon (clipped by the frame).
            return 0
        tip = min(b1 + int(round(4 * scale)) + 2, n)
        _tube(mu, points[:tip], balloon.shaft_radius, balloon.shaft_mu / scale, 0.6 * balloon.shaft_radius, devices=devices)
        if balloon.inflated_radius > 0:
            _tube(mu, points[b0: b1 + 1], balloon.inflated_radius, balloon.inflated_mu / scale, devices=devices)
        half = max(balloon.marker_length / 2, 1.0)
        for c in (b0, b1):
            lo, hi = int(max(c - half, 0)), int(min(c + half + 1, n))
            # A marker is a ring around the shaft's lumen (the wire passes through it).
            _tube(mu, points[lo:hi], balloon.marker_radius, balloon.marker_mu / scale, 0.3 * balloon.marker_radius, devices=devices)
    return 0
