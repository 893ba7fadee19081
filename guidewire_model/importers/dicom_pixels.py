"""Stored DICOM pixel values -> the layout's frame range (8-bit or full-range 16-bit grayscale).

The rule, the same for every frame of a series so that bright and dark mean the same throughout:

1. the stored value keeps only its ``BitsStored`` bits (shifted down when ``HighBit`` is not
   ``BitsStored - 1``); bits above them may hold overlays, not image;
2. the modality rescale ``RescaleSlope * v + RescaleIntercept`` is applied when present;
3. the whole range the stored bits can represent (``[0, 2^BitsStored - 1]``, or the signed range),
   rescaled likewise, is mapped linearly onto ``[0, 255]`` when ``BitsStored <= 8`` and onto
   ``[0, 65535]`` otherwise -- a 12-bit detector's 4095 becomes 65535, as docs/dataset-layout.md
   asks, and no frame is stretched by its own content;
4. ``MONOCHROME1`` (white = low values) is inverted, so the wire is dark as in ``MONOCHROME2``;
5. colour (RGB, or YBR which pydicom turns into RGB) becomes its luminance.

No VOI LUT or window is applied: that is a display choice of the viewing station, and the model
should learn from the values the fluoroscope delivers, as the node receives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from guidewire_model.importers.errors import InputError

__all__ = ["PixelFormat"]

_GRAY = ("MONOCHROME1", "MONOCHROME2")
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")


@dataclass(frozen=True)
class PixelFormat:
    """How one DICOM file stores its pixels, and the conversion to layout frames.

    Attributes
    ----------
    bits_stored, high_bit : int
    signed : bool
        PixelRepresentation 1.
    slope, intercept : float
        Modality rescale (1, 0 when absent).
    photometric : str
    """

    bits_stored: int
    high_bit: int
    signed: bool
    slope: float
    intercept: float
    photometric: str

    @classmethod
    def from_dataset(cls, ds: Any, path: Path) -> "PixelFormat":
        """Read and check the pixel module of ``ds`` (``path`` names the file in errors).

        Raises
        ------
        InputError
            If the pixels are not grayscale or RGB/YBR integers this rule can convert.
        """
        photometric = str(getattr(ds, "PhotometricInterpretation", "")).strip().upper()
        if photometric not in _GRAY + _COLOUR:
            raise InputError(f"{path}: photometric interpretation {photometric or '(missing)'} is not a grayscale "
                             "X-ray image (expected MONOCHROME1, MONOCHROME2 or RGB/YBR); it cannot be imported")
        if "ModalityLUTSequence" in ds:
            raise InputError(f"{path}: a Modality LUT Sequence maps its values; only RescaleSlope/Intercept is "
                             "supported. Export the run without it (or as MONOCHROME2 pixels)")
        try:
            allocated = int(ds.BitsAllocated)
            stored = int(getattr(ds, "BitsStored", allocated))
            high = int(getattr(ds, "HighBit", stored - 1))
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: missing or invalid BitsAllocated/BitsStored ({exc})") from exc
        if not (1 <= stored <= 16 and stored - 1 <= high < allocated <= 16):
            raise InputError(f"{path}: BitsAllocated {allocated}, BitsStored {stored}, HighBit {high}: "
                             "only integer pixels of up to 16 bits can be imported")
        slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
        intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
        return cls(stored, high, int(getattr(ds, "PixelRepresentation", 0)) == 1, slope, intercept, photometric)

    @property
    def out_dtype(self) -> np.dtype:
        """uint8 for up to 8 stored bits, else uint16."""
        return np.dtype(np.uint8) if self.bits_stored <= 8 else np.dtype(np.uint16)

    def _value_range(self) -> tuple[float, float]:
        lo, hi = ((-(1 << (self.bits_stored - 1)), (1 << (self.bits_stored - 1)) - 1) if self.signed
                  else (0, (1 << self.bits_stored) - 1))
        a, b = self.slope * lo + self.intercept, self.slope * hi + self.intercept
        return min(a, b), max(a, b)

    def to_layout(self, stored: np.ndarray) -> np.ndarray:
        """One decoded frame (as pydicom returns it) -> (H, W) :attr:`out_dtype` layout frame."""
        values = stored
        if values.ndim == 3:  # RGB after pydicom's YBR conversion: the X-ray is its luminance
            values = cv2.cvtColor(np.ascontiguousarray(values), cv2.COLOR_RGB2GRAY)
        values = values.astype(np.float64)
        if not self.signed:
            shift = self.high_bit + 1 - self.bits_stored
            values = np.floor(values / (1 << shift)) % (1 << self.bits_stored)
        values = values * self.slope + self.intercept
        lo, hi = self._value_range()
        top = float(np.iinfo(self.out_dtype).max)
        scaled = np.clip((values - lo) / (hi - lo), 0.0, 1.0) * top
        if self.photometric == "MONOCHROME1":
            scaled = top - scaled
        return np.rint(scaled).astype(self.out_dtype)
