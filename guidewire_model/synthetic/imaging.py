"""X-ray image formation: attenuation of tubes, Beer-Lambert exposure, noise, blur, display, quantisation.

Every structure adds its line integral of attenuation to one map ``mu`` (dimensionless, natural
log units); the detector sees ``I = I0 * exp(-mu)``. Dense structures therefore come out dark, as in
clinical fluoroscopy displays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "TubeSamples",
    "chord",
    "expose",
    "mark_devices",
    "quantize",
    "to_display",
    "tube_profile",
    "tube_samples",
]


@dataclass(frozen=True)
class TubeSamples:
    """Pixels near a polyline with their exact distance to it.

    Attributes
    ----------
    ys, xs : ndarray of int
        Pixel rows and columns, each pixel once.
    dist : ndarray of float32
        Euclidean distance of the pixel centre to the polyline.
    u : ndarray of float64
        Position of the nearest polyline point as a fractional point index (0 = first point).
    """

    ys: np.ndarray
    xs: np.ndarray
    dist: np.ndarray
    u: np.ndarray


def mark_devices(devices: np.ndarray | None, samples: TubeSamples | None, radius: float) -> None:
    """Set ``devices`` to 1 at the pixels of ``samples`` whose centre lies within ``radius`` of the
    polyline (the device's ground truth, drawn with the same rule as the wire mask); nothing when
    either is None."""
    if devices is None or samples is None:
        return
    inside = samples.dist <= radius
    devices[samples.ys[inside], samples.xs[inside]] = 1


def tube_samples(points: np.ndarray, reach: float, shape: tuple[int, int], closed: bool = False) -> TubeSamples | None:
    """All pixels within ``reach`` of the polyline ``points`` (N, 2) and their distances.

    A coarse band is rasterised with OpenCV, then each band pixel gets its exact distance to the
    two polyline segments around its nearest vertex: subpixel-accurate, so thin wires antialias.
    Returns None when the curve misses the frame.
    """
    if closed:
        points = np.vstack([points, points[:1]])
    h, w = shape
    x0 = max(int(np.floor(points[:, 0].min() - reach - 1)), 0)
    y0 = max(int(np.floor(points[:, 1].min() - reach - 1)), 0)
    x1 = min(int(np.ceil(points[:, 0].max() + reach + 1)), w - 1)
    y1 = min(int(np.ceil(points[:, 1].max() + reach + 1)), h - 1)
    if x0 > x1 or y0 > y1 or len(points) < 2:
        return None
    # Clamp far-away coordinates so OpenCV's fixed-point drawing cannot overflow.
    local = np.clip(points - (x0, y0), -4 * max(h, w), 4 * max(h, w))
    band = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.polylines(band, [np.round(local * 16).astype(np.int32)], False, 1,
                  thickness=int(2 * np.ceil(reach) + 3), lineType=cv2.LINE_8, shift=4)
    ys, xs = np.nonzero(band)
    if len(ys) == 0:
        return None
    q = np.stack([xs, ys], axis=1).astype(np.float64) + (x0, y0)
    _, j = cKDTree(points).query(q)
    n = len(points)
    best_d = np.full(len(q), np.inf)
    best_u = np.zeros(len(q))
    for a in (np.clip(j - 1, 0, n - 2), np.clip(j, 0, n - 2)):
        p0 = points[a]
        v = points[a + 1] - p0
        vv = np.maximum((v * v).sum(1), 1e-12)
        t = np.clip(((q - p0) * v).sum(1) / vv, 0.0, 1.0)
        d = np.hypot(*(q - p0 - t[:, None] * v).T)
        better = d < best_d
        best_d = np.where(better, d, best_d)
        best_u = np.where(better, a + t, best_u)
    keep = best_d <= reach
    return TubeSamples(ys[keep] + y0, xs[keep] + x0, best_d[keep].astype(np.float32), best_u[keep])


def chord(d: np.ndarray, r: np.ndarray | float) -> np.ndarray:
    """Length of the chord through a cylinder of radius ``r`` at distance ``d`` from its axis."""
    return 2.0 * np.sqrt(np.maximum(np.square(r) - np.square(d), 0.0))


def tube_profile(d: np.ndarray, r: np.ndarray | float, inner: np.ndarray | float = 0.0) -> np.ndarray:
    """Pixel-averaged chord length through a (hollow, if ``inner`` > 0) cylinder.

    Averaging the chord over +-0.35 px across the axis approximates the pixel's area integral, so a
    1.5 px wire is drawn with soft, antialiased edges instead of a one-pixel staircase.
    """
    a = 0.35
    lo, hi = np.abs(d - a), d + a
    out = 0.5 * (chord(lo, r) + chord(hi, r))
    if np.any(np.asarray(inner) > 0):
        out -= 0.5 * (chord(lo, inner) + chord(hi, inner))
    return out


def expose(
    mu: np.ndarray,
    dose: float,
    electronic_noise: float,
    blur_sigma: float,
    rng: np.random.Generator,
    gain: np.ndarray | None = None,
) -> np.ndarray:
    """Detected counts of one frame: Beer-Lambert, detector blur, Poisson and electronic noise.

    Parameters
    ----------
    mu : ndarray (H, W) float32
        Line integrals of attenuation.
    dose : float
        Expected photons per pixel without attenuation (I0).
    gain : ndarray (H, W), optional
        Relative I0 over the field (heel effect, vignetting).

    Returns
    -------
    ndarray (H, W) float32
        Counts; may be slightly negative where electronic noise dominates.
    """
    expected = np.exp(-mu, dtype=np.float32) * np.float32(dose)
    if gain is not None:
        expected *= gain
    if blur_sigma > 0:
        # The scintillator spreads light before the quanta are counted, so blur precedes noise.
        expected = cv2.GaussianBlur(expected, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT)
    # Poisson quantum noise: exact where few photons arrive, its normal limit (variance = mean)
    # elsewhere, which is indistinguishable there and several times faster.
    counts = expected + np.sqrt(expected) * rng.standard_normal(expected.shape, dtype=np.float32)
    low = expected < 20.0
    if low.any():
        counts[low] = rng.poisson(expected[low])
    if electronic_noise > 0:
        counts += rng.standard_normal(counts.shape, dtype=np.float32) * np.float32(electronic_noise)
    # Pixel crosstalk and the console's spatial noise filter correlate neighbouring pixels, which
    # turns white noise into the grainy mottle of clinical fluoroscopy.
    return cv2.GaussianBlur(counts, (0, 0), 0.5, borderType=cv2.BORDER_REFLECT)


def to_display(counts: np.ndarray, mode: str, window: tuple[float, float], gamma: float = 1.0) -> np.ndarray:
    """Map counts to display values in [0, 1] (bright = many photons, so dense objects are dark).

    ``log`` windows ``log(counts)`` (what angiography consoles show), ``linear`` windows counts,
    ``gamma`` windows ``log(counts)`` and applies ``gamma``. ``window`` = (low, high) in the
    mapped domain, fixed per sequence so brightness does not flicker between frames.
    """
    if mode == "linear":
        v = counts
    else:
        v = np.log(np.maximum(counts, 0.5))
    lo, hi = window
    out = (v - np.float32(lo)) * np.float32(1.0 / max(hi - lo, 1e-6))
    np.clip(out, 0.0, 1.0, out=out)
    if mode == "gamma" and gamma != 1.0:
        out **= np.float32(gamma)
    return out


def quantize(values: np.ndarray, bit_depth: int) -> np.ndarray:
    """[0, 1] floats to uint8 (bit_depth 8) or full-range uint16 (bit_depth 16)."""
    if bit_depth == 8:
        return (values * 255.0 + 0.5).astype(np.uint8)
    if bit_depth == 16:
        return (values * 65535.0 + 0.5).astype(np.uint16)
    raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
