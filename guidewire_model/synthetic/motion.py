"""Cardiac and respiratory motion: smooth displacement fields as functions of time.

Three layers move differently, as in a clinical run: the heart (coronaries, wires, catheter tip)
contracts, twists and shifts with each beat and rides on breathing; the skin (ECG leads, sternal
wires) follows breathing only, weakly; the spine does not move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MotionModel", "sample_motion"]


@dataclass(frozen=True)
class MotionModel:
    """Displacement of points over time (seconds), in pixels of the frame."""

    heart_centre: np.ndarray
    heart_radius: float
    cardiac_hz: float
    cardiac_phase: float
    #: Fractional contraction towards the heart centre at peak systole.
    contraction: float
    #: Twist at peak systole (radians).
    twist: float
    #: Bulk shift at peak systole (px).
    shift: np.ndarray
    #: Non-rigid wobble: amplitude (px), wave vector (rad/px) and phase.
    wobble: float
    wobble_k: np.ndarray
    wobble_phase: float
    resp_amplitude: np.ndarray
    resp_hz: float
    resp_phase: float

    def cardiac_wave(self, t: float) -> float:
        """Contraction state in [0, 1]: fast systole (35 % of the cycle), slower diastole."""
        x = (self.cardiac_hz * t + self.cardiac_phase) % 1.0
        if x < 0.35:
            return 0.5 * (1.0 - np.cos(np.pi * x / 0.35))
        return 0.5 * (1.0 + np.cos(np.pi * (x - 0.35) / 0.65))

    def respiration(self, t: float) -> np.ndarray:
        """Respiratory shift (dx, dy) in px."""
        return self.resp_amplitude * np.sin(2 * np.pi * (self.resp_hz * t + self.resp_phase))

    def warp(self, points: np.ndarray, t: float, layer: str = "heart") -> np.ndarray:
        """Displace (N, 2) points to time ``t``.

        Parameters
        ----------
        layer : {"heart", "skin", "static"}
        """
        if layer == "static" or len(points) == 0:
            return points
        resp = self.respiration(t)
        if layer == "skin":
            return points + 0.35 * resp
        if layer != "heart":
            raise ValueError(f"layer must be 'heart', 'skin' or 'static', got {layer!r}")
        w = self.cardiac_wave(t)
        rel = points - self.heart_centre
        # Heart motion fades with distance from the heart, so the proximal catheter in the
        # aorta moves less than the coronaries.
        g = np.exp(-(rel * rel).sum(1) / (2 * self.heart_radius**2))[:, None]
        perp = np.stack([-rel[:, 1], rel[:, 0]], axis=1)
        phase = points @ self.wobble_k + self.wobble_phase
        wob = self.wobble * np.stack([np.sin(phase), np.cos(1.3 * phase)], axis=1)
        cardiac = w * (-self.contraction * rel + self.twist * perp + self.shift + wob)
        return points + resp * (0.55 + 0.45 * g) + cardiac * g

    def image_shift(self, t: float, factor: float) -> np.ndarray:
        """Translation of a background layer that follows breathing with ``factor``."""
        return factor * self.respiration(t)


def sample_motion(
    rng: np.random.Generator,
    heart_centre: np.ndarray,
    size: int,
    cardiac_amplitude: float,
    cardiac_rate: tuple[float, float],
    respiratory_amplitude: float,
    respiratory_rate: float,
) -> MotionModel:
    """Draw one sequence's motion; amplitudes are in px of the frame (already scaled)."""
    radius = 0.32 * size
    # Choose contraction so the radial displacement at one heart radius is about the amplitude.
    contraction = rng.uniform(0.5, 0.8) * cardiac_amplitude / radius
    twist = rng.uniform(-0.4, 0.4) * cardiac_amplitude / radius
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(0.3, 0.6) * cardiac_amplitude * np.array([np.cos(angle), np.sin(angle)])
    k_angle = rng.uniform(0, 2 * np.pi)
    wobble_k = (2 * np.pi / (rng.uniform(0.5, 1.0) * size)) * np.array([np.cos(k_angle), np.sin(k_angle)])
    resp_dir = rng.uniform(-0.35, 0.35)  # mostly cranio-caudal (vertical)
    resp = respiratory_amplitude * rng.uniform(0.7, 1.0) * np.array([np.sin(resp_dir), np.cos(resp_dir)])
    return MotionModel(
        heart_centre=np.asarray(heart_centre, dtype=np.float64),
        heart_radius=radius,
        cardiac_hz=rng.uniform(*cardiac_rate),
        cardiac_phase=rng.uniform(0, 1),
        contraction=contraction,
        twist=twist,
        shift=shift,
        wobble=0.25 * cardiac_amplitude,
        wobble_k=wobble_k,
        wobble_phase=rng.uniform(0, 2 * np.pi),
        resp_amplitude=resp,
        resp_hz=respiratory_rate * rng.uniform(0.85, 1.15),
        resp_phase=rng.uniform(0, 1),
    )
