"""What the console and the recording chain do to a displayed frame: display curves, edge
enhancement or blur, up-scaling from a lower resolution, JPEG compression.

These act on the display image (values in [0, 1]) or the quantised frame, after the X-ray
physics; none moves a structure, so the ground truth is untouched. Settings are fixed per
sequence (a console keeps its look for a run).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Console", "sample_console"]

_CURVES = ("gamma", "clipped", "low_contrast", "saturated", "s_curve")


@dataclass(frozen=True)
class Console:
    """One sequence's processing chain; each step is off when its parameter is None.

    Attributes
    ----------
    curve : tuple or None
        ``(name, a, b)``: ``gamma`` (a = exponent, b unused), ``clipped`` (window [a, b] of the
        display range, clipped outside), ``low_contrast`` (output range [a, b]), ``saturated``
        (gain a, offset b, the brightest pixels clip to white), ``s_curve`` (slope a around the middle b).
    enhance : tuple or None
        ``(sigma, amount)``: unsharp masking, amount > 0 sharpens (halos at edges), < 0 blurs.
    low_resolution : float or None
        The frame is shrunk by this factor (area average) and scaled back up (linear or cubic).
    cubic : bool
        Up-scaling interpolation of ``low_resolution`` (cubic overshoots a little, as many scalers).
    jpeg_quality : int or None
    """

    curve: tuple[str, float, float] | None
    enhance: tuple[float, float] | None
    low_resolution: float | None
    cubic: bool
    jpeg_quality: int | None

    def process(self, display: np.ndarray) -> np.ndarray:
        """Edge enhancement then the display curve, on a display image in [0, 1] (new array)."""
        out = display
        if self.enhance is not None:
            sigma, amount = self.enhance
            smooth = cv2.GaussianBlur(out, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
            out = np.clip(out + np.float32(amount) * (out - smooth), 0.0, 1.0)
        if self.curve is not None:
            out = _apply_curve(out, self.curve)
        return out

    def rescale(self, display: np.ndarray) -> np.ndarray:
        """Lose resolution: shrink and scale back to the same shape (last step before quantising)."""
        if self.low_resolution is None:
            return display
        h, w = display.shape
        f = self.low_resolution
        small = cv2.resize(display, (max(int(round(w * f)), 8), max(int(round(h * f)), 8)), interpolation=cv2.INTER_AREA)
        up = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC if self.cubic else cv2.INTER_LINEAR)
        return np.clip(up, 0.0, 1.0)

    def compress(self, image: np.ndarray) -> np.ndarray:
        """JPEG encode and decode a quantised frame (16-bit frames go through 8 bits, as video does)."""
        if self.jpeg_quality is None:
            return image
        wide = image.dtype == np.uint16
        eight = (image >> 8).astype(np.uint8) if wide else image
        ok, data = cv2.imencode(".jpg", eight, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
        if not ok:  # pragma: no cover - OpenCV always encodes a 2-D uint8 array
            raise RuntimeError("JPEG encoding failed")
        decoded = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
        return decoded.astype(np.uint16) * 257 if wide else decoded


def _apply_curve(v: np.ndarray, curve: tuple[str, float, float]) -> np.ndarray:
    name, a, b = curve
    if name == "gamma":
        return np.power(v, np.float32(a))
    if name == "clipped":
        return np.clip((v - np.float32(a)) * np.float32(1.0 / (b - a)), 0.0, 1.0)
    if name == "low_contrast":
        return np.float32(a) + np.float32(b - a) * v
    if name == "saturated":
        return np.clip(v * np.float32(a) + np.float32(b), 0.0, 1.0)
    if name == "s_curve":
        lo, hi = np.tanh(a * (0.0 - b)), np.tanh(a * (1.0 - b))
        out = (np.tanh(np.float32(a) * (v - np.float32(b))) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        return out.astype(np.float32)
    raise ValueError(f"unknown display curve {name!r}")


def sample_console(
    rng: np.random.Generator,
    size: int,
    curve_p: float,
    enhance_p: float,
    low_res_p: float,
    jpeg_p: float,
    jpeg_quality: tuple[float, float],
) -> Console | None:
    """Draw one sequence's console settings (None if every step is off)."""
    k = size / 512.0
    curve = enhance = low_res = quality = None
    if rng.random() < curve_p:
        name = _CURVES[int(rng.integers(len(_CURVES)))]
        if name == "gamma":
            # Either way: < 1 lifts the darks (washed-out wires), > 1 deepens them.
            curve = (name, float(np.exp(rng.uniform(-0.9, 0.9))), 0.0)
        elif name == "clipped":
            curve = (name, float(rng.uniform(0.0, 0.15)), float(rng.uniform(0.65, 0.95)))
        elif name == "low_contrast":
            lo = rng.uniform(0.1, 0.4)
            curve = (name, float(lo), float(lo + rng.uniform(0.3, 0.6)))
        elif name == "saturated":
            # Highlights clip to white; the gain is kept small enough that a dark wire on a bright
            # background stays below white (it must stay visible: it is in the mask).
            curve = (name, float(rng.uniform(1.05, 1.3)), float(rng.uniform(0.0, 0.05)))
        else:
            curve = (name, float(rng.uniform(3.0, 8.0)), float(rng.uniform(0.35, 0.65)))
    if rng.random() < enhance_p:
        if rng.random() < 0.7:
            enhance = (float(rng.uniform(1.0, 4.0) * k + 0.3), float(rng.uniform(0.4, 2.0)))
        else:
            enhance = (float(rng.uniform(0.6, 1.5) * k + 0.3), -1.0)
    if rng.random() < low_res_p:
        low_res = float(rng.uniform(0.35, 0.8))
    cubic = bool(rng.random() < 0.5)
    if rng.random() < jpeg_p:
        quality = int(round(rng.uniform(*jpeg_quality)))
    if curve is None and enhance is None and low_res is None and quality is None:
        return None
    return Console(curve=curve, enhance=enhance, low_resolution=low_res, cubic=cubic, jpeg_quality=quality)
