"""Devices that look like guidewires but are not: pacing leads, EP catheters with electrode rings,
stents, surgical clips, diagnostic catheters (and more ECG leads and sternal wires).

Each is a set of :class:`~guidewire_model.synthetic.devices.Distractor` tubes, rendered like
the base generator's distractors and never part of the guidewire mask. Stents are placed in the
vessel tree, often on a wire's own vessel, so the wire runs through them: the wire pixels stay
guidewire, the struts around them do not.
"""

from __future__ import annotations

import numpy as np

from guidewire_model.synthetic import curves
from guidewire_model.synthetic.anatomy import VesselTree
from guidewire_model.synthetic.devices import Distractor, _border_point, build_distractors

__all__ = ["KINDS", "build_lookalikes"]

#: Kinds of look-alike and their relative frequency.
KINDS = {"pacing": 0.2, "ep": 0.15, "stent": 0.2, "clips": 0.15, "diagnostic": 0.15, "ecg_sternal": 0.15}


def _segment(points: np.ndarray, start: float, length: float) -> np.ndarray:
    """Points of ``points`` (1 px spacing) from arc length ``start`` over ``length`` px."""
    i0 = int(np.clip(start, 0, len(points) - 2))
    i1 = int(np.clip(start + length, i0 + 2, len(points)))
    return points[i0:i1]


def _bands(
    path: np.ndarray, positions: list[float], length: float, radius: float, mu: float, layer: str
) -> list[Distractor]:
    """Short dense bands (electrodes, markers) centred at arc lengths ``positions`` along ``path``."""
    out = []
    for p in positions:
        seg = _segment(path, p - length / 2, length)
        if len(seg) >= 2:
            out.append(Distractor(seg, radius, mu, layer=layer))
    return out


def _lead_path(rng: np.random.Generator, s: float, end: np.ndarray, hook: float) -> np.ndarray:
    """A smooth cable from outside the frame to ``end``; ``hook`` bends its last part (px)."""
    start = _border_point(rng, s)
    mids = [start + (end - start) * f + rng.normal(0, 0.1 * s, 2) for f in (0.35, 0.7)]
    direction = (end - mids[-1]) / max(np.hypot(*(end - mids[-1])), 1e-6)
    normal = np.array([-direction[1], direction[0]])
    tail = end + direction * hook * 0.6 + normal * hook * rng.choice([-1.0, 1.0])
    return curves.catmull_rom(np.array([start, *mids, end, tail]), 1.0)


def _pacing(rng: np.random.Generator, s: float, k: float, heart: np.ndarray) -> list[Distractor]:
    end = heart + rng.normal(0, 0.18 * s, 2)
    path = _lead_path(rng, s, end, rng.uniform(0, 25) * k)
    r = rng.uniform(1.0, 1.8) * k
    out = [Distractor(path, r, rng.uniform(0.02, 0.04), core_radius=max(0.6 * r, 0.5), core_mu=rng.uniform(0.2, 0.35),
                      layer="heart")]
    n = len(path)
    # Tip electrode and a ring electrode 10-25 px behind it.
    out += _bands(path, [n - 4.0 * k], rng.uniform(5, 8) * k, 1.5 * r, rng.uniform(0.45, 0.7), "heart")
    out += _bands(path, [n - rng.uniform(10, 25) * k], rng.uniform(3, 5) * k, 1.4 * r, rng.uniform(0.4, 0.6), "heart")
    return out


def _ep(rng: np.random.Generator, s: float, k: float, heart: np.ndarray) -> list[Distractor]:
    end = heart + rng.normal(0, 0.2 * s, 2)
    path = _lead_path(rng, s, end, rng.uniform(10, 40) * k)
    r = rng.uniform(2.5, 3.5) * k
    out = [Distractor(path, r, rng.uniform(0.08, 0.14), layer="heart")]
    n = len(path)
    spacing = rng.uniform(4, 10) * k
    rings = [n - 5.0 * k - j * spacing for j in range(1, int(rng.integers(4, 11)))]
    out += _bands(path, rings, rng.uniform(2, 3) * k, r + 0.5 * k, rng.uniform(0.4, 0.6), "heart")
    out += _bands(path, [n - 4.0 * k], rng.uniform(6, 9) * k, r + 0.3 * k, rng.uniform(0.5, 0.7), "heart")
    return out


def _stent(rng: np.random.Generator, k: float, tree: VesselTree) -> list[Distractor]:
    # Most stents sit on the vessels the wires run in (the lesion being treated).
    vessels = [tree.main, tree.branch_a, tree.branch_b] if rng.random() < 0.7 else list(tree.vessels)
    vessel = vessels[int(rng.integers(len(vessels)))]
    length = rng.uniform(25, 70) * k
    if len(vessel.points) < length + 4:
        return []
    start = rng.uniform(0, len(vessel.points) - length - 2)
    axis = curves.smooth(_segment(vessel.points, start, length), 2.0)
    radius = float(np.mean(vessel.radius[int(start): int(start + length)])) * rng.uniform(0.9, 1.15)
    nrm = curves.normals(axis)
    u = np.arange(len(axis), dtype=np.float64)
    pitch = rng.uniform(2.5, 5.0) * radius
    strands = int(rng.integers(3, 6))
    # Struts are thinner than a pixel: each is faint, the mesh shows where they overlap.
    strut_r, strut_mu = max(rng.uniform(0.35, 0.6) * k, 0.35), rng.uniform(0.08, 0.2)
    out = []
    # A mesh tube seen from the side: helices winding both ways project to a diamond lattice.
    for sign in (-1.0, 1.0):
        for j in range(strands):
            phase = 2 * np.pi * j / strands
            offset = radius * np.cos(phase + sign * 2 * np.pi * u / pitch)
            out.append(Distractor(axis + offset[:, None] * nrm, strut_r, strut_mu, layer="heart"))
    return out


def _clips(rng: np.random.Generator, s: float, k: float, heart: np.ndarray) -> list[Distractor]:
    out = []
    centre = heart + rng.normal(0, 0.2 * s, 2)
    for _ in range(int(rng.integers(1, 5))):
        leg = rng.uniform(4, 9) * k
        opening = np.radians(rng.uniform(8, 40))
        angle = rng.uniform(0, 2 * np.pi)
        tip = centre + rng.normal(0, 0.06 * s, 2)
        legs = [tip + leg * np.array([np.cos(a), np.sin(a)]) for a in (angle - opening / 2, angle + opening / 2)]
        shape = curves.resample(np.array([legs[0], tip, legs[1]]), 1.0)
        out.append(Distractor(shape, rng.uniform(0.8, 1.4) * k, rng.uniform(0.4, 0.8), layer="heart"))
    return out


def _diagnostic(rng: np.random.Generator, s: float, k: float, heart: np.ndarray) -> list[Distractor]:
    end = heart + rng.normal(0, 0.25 * s, 2)
    path = _lead_path(rng, s, end, rng.uniform(0, 20) * k)
    outer = rng.uniform(2.0, 4.0) * k
    out = [Distractor(path, outer, rng.uniform(0.08, 0.14), inner_radius=0.65 * outer, layer="heart")]
    if rng.random() < 0.5:
        # Pigtail: the tip curls into a loop.
        r = rng.uniform(6, 11) * k
        phi = np.linspace(0, 2 * np.pi * 0.85, max(int(2 * np.pi * r), 12))
        d = (path[-1] - path[-6]) / max(np.hypot(*(path[-1] - path[-6])), 1e-6)
        nrm = np.array([-d[1], d[0]])
        loop = path[-1] + r * (np.sin(phi)[:, None] * d + (1 - np.cos(phi))[:, None] * nrm)
        out.append(Distractor(loop, outer, out[0].mu, inner_radius=0.65 * outer, layer="heart"))
    return out


def build_lookalikes(
    rng: np.random.Generator, n_max: int, size: int, tree: VesselTree, heart_centre: np.ndarray
) -> list[Distractor]:
    """Between 0 and ``n_max`` look-alike devices (kinds drawn from :data:`KINDS`).

    Parameters
    ----------
    rng : numpy.random.Generator
        This variation's own stream.
    tree : VesselTree
        The placed vessel tree (stents go into it).
    heart_centre : ndarray (2,)
        Leads, EP catheters and clips end near the heart.
    """
    if n_max <= 0:
        return []
    s, k = float(size), size / 512.0
    names = list(KINDS)
    p = np.array([KINDS[n] for n in names])
    out: list[Distractor] = []
    for _ in range(int(rng.integers(0, n_max + 1))):
        kind = names[int(rng.choice(len(names), p=p / p.sum()))]
        if kind == "pacing":
            out += _pacing(rng, s, k, heart_centre)
        elif kind == "ep":
            out += _ep(rng, s, k, heart_centre)
        elif kind == "stent":
            out += _stent(rng, k, tree)
        elif kind == "clips":
            out += _clips(rng, s, k, heart_centre)
        elif kind == "diagnostic":
            out += _diagnostic(rng, s, k, heart_centre)
        else:
            out += build_distractors(rng, 1, size)
    return out
