"""Turning a whole scene about the frame centre: any C-arm orientation, 0-360 degrees.

The base generator lays a scene out in one canonical orientation (catheter from the top) and only
flips and tilts it a little. Real runs (and phantoms on a bench) show the catheter entering from
any side, so the variation turns every part of the scene rigidly: centrelines, background layers,
and the motion model's heart centre and displacement directions.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from guidewire_model.synthetic import curves
from guidewire_model.synthetic.motion import MotionModel

__all__ = ["Turn"]


class Turn:
    """A rotation by ``angle`` radians about the centre of a ``size`` x ``size`` frame.

    Uses the convention of :func:`curves.rotate_points` (x right, y down), for points, images and
    direction vectors alike.
    """

    def __init__(self, angle: float, size: int) -> None:
        self.angle = float(angle)
        self.size = int(size)
        self.centre = np.array([size / 2 - 0.5, size / 2 - 0.5])

    def points(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) points turned about the frame centre."""
        return curves.rotate_points(pts, self.angle, self.centre)

    def vector(self, v: np.ndarray) -> np.ndarray:
        """A direction or displacement (2,) turned (no translation)."""
        return curves.rotate_points(np.asarray(v, np.float64)[None], self.angle, np.zeros(2))[0]

    def image(self, layer: np.ndarray) -> np.ndarray:
        """A (size, size) map turned with the scene; corners are filled by reflection."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        rot = np.array([[c, -s], [s, c]])
        m = np.hstack([rot, (self.centre - rot @ self.centre)[:, None]])
        return cv2.warpAffine(layer, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)

    def motion(self, motion: MotionModel) -> MotionModel:
        """The motion model of the turned scene (heart centre, bulk shift, breathing direction)."""
        return replace(
            motion,
            heart_centre=self.points(motion.heart_centre[None])[0],
            shift=self.vector(motion.shift),
            wobble_k=self.vector(motion.wobble_k),
            resp_amplitude=self.vector(motion.resp_amplitude),
        )
