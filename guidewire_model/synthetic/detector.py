"""Vignetting and non-uniform detector gain, as a relative-exposure map multiplied into I0.

Image intensifiers darken towards the rim (vignetting); the anode heel effect makes one side of
the field brighter than the other; uneven scintillator and flat-field residue leave soft blotches.
Applied before noise, so dim regions are also noisier, as on a real detector.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["sample_gain"]


def sample_gain(rng: np.random.Generator, size: int, probability: float) -> np.ndarray | None:
    """One sequence's relative exposure (H, W) float32 around 1, or None with ``1 - probability``."""
    if not rng.random() < probability:
        return None
    s = float(size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cx, cy = (rng.uniform(0.35, 0.65, 2) * s).astype(np.float32)
    rho = np.hypot(xx - cx, yy - cy) / np.float32(0.71 * s)
    strength, power = rng.uniform(0.25, 0.7), rng.uniform(1.5, 4.0)
    gain = 1.0 - np.float32(strength) * np.power(np.minimum(rho, 1.6), np.float32(power))
    angle = rng.uniform(0, 2 * np.pi)
    heel = rng.uniform(-0.3, 0.3)
    along = (xx - s / 2) * np.float32(np.cos(angle)) + (yy - s / 2) * np.float32(np.sin(angle))
    gain *= 1.0 + np.float32(heel / s) * along
    coarse = rng.normal(0.0, rng.uniform(0.02, 0.08), (4, 4)).astype(np.float32)
    gain *= np.exp(cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC))
    return np.clip(gain, 0.1, 1.6).astype(np.float32)
