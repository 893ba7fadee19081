"""A magnification mode: the frame shows a window of the scene, enlarged before the detector.

C-arms image the heart at several fields of view (about 15-42 cm across), and a phantom on a bench
is often filmed close up: the same wire is then 1.5-3 times wider and longer in pixels, the
vessels and the catheter with it, while the detector's noise, the shutters and the text burned in
by the console keep their own scale. The base generator renders one field of view, so a network
trained on it meets wires wider, and context larger, than any it saw (``docs/accuracy.md``).

The window is enlarged in the attenuation map, before exposure, so the noise and blur added by
:func:`guidewire_model.synthetic.imaging.expose` stay at the detector's pixel. Ground truth goes
through the same mapping: label maps by centre-aligned nearest neighbour (a wire *m* times as wide
in the image is *m* times as wide in the mask), centrelines by the exact affine map, resampled to
1 px spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from guidewire_model.synthetic import curves

__all__ = ["Magnification", "sample_magnification"]


@dataclass(frozen=True)
class Magnification:
    """The square window ``(top, left, side)`` of a ``size`` x ``size`` render, shown at full size.

    Pixel coordinates put the origin at the centre of the top-left pixel, as everywhere in the
    generator; the factor is ``size / side``.
    """

    top: int
    left: int
    side: int
    size: int

    @property
    def factor(self) -> float:
        return self.size / self.side

    def _window(self, layer: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(layer[self.top: self.top + self.side, self.left: self.left + self.side])

    def image(self, layer: np.ndarray) -> np.ndarray:
        """A (size, size) float map (attenuation) enlarged bilinearly."""
        return cv2.resize(self._window(layer), (self.size, self.size), interpolation=cv2.INTER_LINEAR)

    def labels(self, layer: np.ndarray) -> np.ndarray:
        """A (size, size) label map enlarged by centre-aligned nearest neighbour (labels stay labels)."""
        return cv2.resize(self._window(layer), (self.size, self.size), interpolation=cv2.INTER_NEAREST_EXACT)

    def points(self, pts: np.ndarray) -> np.ndarray:
        """(N, 2) x/y points of the render in output coordinates, 1 px apart (may leave the frame)."""
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        out = (pts - (self.left, self.top) + 0.5) * self.factor - 0.5
        return curves.resample(out, 1.0) if len(out) >= 2 else out


def sample_magnification(rng: np.random.Generator, size: int, probability: float,
                         factor_range: tuple[float, float], anchors: list[np.ndarray]) -> Magnification | None:
    """This sequence's magnification, or None (with ``1 - probability``, or if there is no anchor).

    The factor is drawn log-uniformly from ``factor_range``; the window is centred near a random
    point of a random anchor curve (the wires: an operator centres a magnified view on the region
    being worked in), shifted by up to a quarter of its side and kept inside the render. The same
    number of random numbers is drawn whether or not the variation is on.
    """
    on, u_factor, u_curve, u_point, shift = rng.random(), rng.random(), rng.random(), rng.random(), rng.uniform(-1, 1, 2)
    anchors = [a for a in anchors if len(a) > 0]
    if on >= probability or not anchors:
        return None
    lo, hi = np.log(factor_range[0]), np.log(factor_range[1])
    side = int(round(size / np.exp(lo + (hi - lo) * u_factor)))
    side = min(max(side, 8), size)
    if side == size:
        return None
    curve = anchors[min(int(u_curve * len(anchors)), len(anchors) - 1)]
    centre = curve[min(int(u_point * len(curve)), len(curve) - 1)] + shift * side / 4
    top = int(np.clip(round(centre[1] - side / 2), 0, size - side))
    left = int(np.clip(round(centre[0] - side / 2), 0, size - side))
    return Magnification(top, left, side, size)
