"""sensor_msgs/Image pixel layout <-> numpy, for any code that holds the message's fields.

The one implementation of the image rules used by the ROS node (through
``guidewire_seg_ros.image_conversion``), the bag reader and the bag writer: ``step`` row padding and
``is_bigendian`` are honoured, and every field is validated before the pixel data is touched, so a
malformed frame raises :class:`ImageFormatError` instead of crashing or allocating memory in
proportion to a bogus size. Plain numpy and OpenCV; no ROS import.

:func:`decode_gray` is three steps, each public so another decoder (cv_bridge in the node) can be put
between the first and the last: :func:`check_image_fields` (the refusals, from the header and the data
length only), the pixel view of the rows, and :func:`to_gray` (the project's grey rules).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "ENCODINGS",
    "MAX_NON_FINITE_SHARE",
    "ImageFormatError",
    "ImageLayout",
    "bgr_image_fields",
    "check_image_fields",
    "decode_gray",
    "gray_image_fields",
    "to_gray",
]

#: encoding -> (channels, numpy base dtype). Aliases of OpenCV type names included.
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "mono8": (1, np.dtype(np.uint8)),
    "8UC1": (1, np.dtype(np.uint8)),
    "mono16": (1, np.dtype(np.uint16)),
    "16UC1": (1, np.dtype(np.uint16)),
    "32FC1": (1, np.dtype(np.float32)),
    "rgb8": (3, np.dtype(np.uint8)),
    "bgr8": (3, np.dtype(np.uint8)),
    "rgba8": (4, np.dtype(np.uint8)),
    "bgra8": (4, np.dtype(np.uint8)),
}

#: Float frames with a larger share of NaN or infinite pixels are refused (kind ``non_finite``): such a
#: frame is a failed acquisition or a broken processing chain, not an image of the patient. Below it,
#: the few bad pixels (a detector's dead pixels, a lost line) are replaced by the frame's median.
MAX_NON_FINITE_SHARE = 0.01

_TO_GRAY = {
    "rgb8": cv2.COLOR_RGB2GRAY,
    "bgr8": cv2.COLOR_BGR2GRAY,
    "rgba8": cv2.COLOR_RGBA2GRAY,
    "bgra8": cv2.COLOR_BGRA2GRAY,
}


class ImageFormatError(ValueError):
    """A frame that cannot be decoded. ``kind`` groups errors for rate-limited logging and counters."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ImageLayout:
    """The pixel layout of a frame whose fields passed :func:`check_image_fields`."""

    encoding: str
    height: int
    width: int
    step: int
    channels: int
    #: sample type in native byte order (the message's order is ``is_bigendian``)
    dtype: np.dtype

    @property
    def pixel_bytes(self) -> int:
        """Bytes of one pixel (all channels)."""
        return self.channels * self.dtype.itemsize

    @property
    def row_bytes(self) -> int:
        """Bytes of the pixels of one row, without the row padding (``step`` - ``row_bytes``)."""
        return self.width * self.pixel_bytes

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the decoded pixels before the grey conversion: (H, W) or (H, W, channels)."""
        return (self.height, self.width, self.channels) if self.channels > 1 else (self.height, self.width)


def check_image_fields(encoding: str, height: int, width: int, step: int, data: Any,
                       max_pixels: int | None = None) -> ImageLayout:
    """Validate the fields of a sensor_msgs/Image without touching its pixel data.

    Only ``len(data)`` (or ``data.nbytes``) is read, so a frame claiming a bogus size is refused
    before anything is allocated for it.

    Parameters
    ----------
    encoding, height, width, step, data, max_pixels
        As for :func:`decode_gray`.

    Returns
    -------
    ImageLayout
        The layout the pixel data is to be read with.

    Raises
    ------
    ImageFormatError
        With ``kind`` one of ``encoding``, ``size``, ``too_large``, ``step``, ``data_length``.
    """
    encoding = str(encoding)
    if encoding not in ENCODINGS:
        raise ImageFormatError(
            "encoding", f"unsupported encoding {encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    channels, dtype = ENCODINGS[encoding]
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageFormatError("size", f"empty image ({width}x{height})")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageFormatError(
            "too_large", f"{width}x{height} = {height * width} pixels exceeds max_input_pixels={max_pixels}"
        )
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError("step", f"step {step} < {row_bytes} bytes needed for a {width}-pixel {encoding} row")
    if step % dtype.itemsize:
        raise ImageFormatError("step", f"step {step} is not a multiple of the {dtype.itemsize}-byte sample size")
    n_bytes = len(data) if not isinstance(data, np.ndarray) else data.nbytes
    if n_bytes != step * height:
        raise ImageFormatError(
            "data_length", f"data holds {n_bytes} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    return ImageLayout(encoding, height, width, step, channels, dtype)


def to_gray(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """The project's grey rules, applied to decoded pixels of one of :data:`ENCODINGS`.

    Parameters
    ----------
    pixels : ndarray, shape (H, W) or (H, W, channels)
        The frame's samples in its encoding's channel order, either byte order (a view of the
        message's buffer is allowed: the result never shares memory with it).
    encoding : str
        One of :data:`ENCODINGS`.

    Returns
    -------
    ndarray, shape (H, W)
        As :func:`decode_gray` returns.

    Raises
    ------
    ImageFormatError
        ``non_finite`` for a float frame with more NaN/Inf pixels than :data:`MAX_NON_FINITE_SHARE`.
    """
    channels, dtype = ENCODINGS[encoding]
    if channels > 1:
        return cv2.cvtColor(np.ascontiguousarray(pixels), _TO_GRAY[encoding])
    # astype to the native dtype copies, which also detaches the array from the message buffer.
    out = pixels.astype(dtype.newbyteorder("="), copy=True)
    return _repair_non_finite(out) if out.dtype.kind == "f" else out


def decode_gray(encoding: str, height: int, width: int, step: int, is_bigendian: bool, data: Any,
                max_pixels: int | None = None) -> np.ndarray:
    """Decode the fields of a sensor_msgs/Image into a 2-D grayscale array.

    Parameters
    ----------
    encoding : str
        One of :data:`ENCODINGS`.
    height, width : int
        Image size in pixels, both > 0.
    step : int
        Bytes per row, >= ``width`` * bytes per pixel (rows may be padded).
    is_bigendian : bool
        Byte order of multi-byte samples.
    data : bytes-like or uint8 ndarray
        Exactly ``step * height`` bytes.
    max_pixels : int, optional
        Frames with more than this many pixels are refused before any pixel is read.

    Returns
    -------
    ndarray, shape (height, width)
        uint8 for 8-bit encodings (colour is converted with ITU-R BT.601 luma), uint16 for 16-bit,
        float32 for ``32FC1``: finite values as sent; NaN and +-Inf pixels, when they are at most
        :data:`MAX_NON_FINITE_SHARE` of the frame, replaced by the median of the finite ones (a
        neutral grey: zero would draw a dark, wire-like line through a lost detector row).
        Native byte order, C-contiguous, never a view of ``data``.

    Raises
    ------
    ImageFormatError
        With ``kind`` one of ``encoding``, ``size``, ``too_large``, ``step``, ``data_length``, or
        ``non_finite`` for a float frame with more NaN/Inf pixels than :data:`MAX_NON_FINITE_SHARE`
        (an all-NaN or all-Inf frame among them).
    """
    layout = check_image_fields(encoding, height, width, step, data, max_pixels)
    flat = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
    rows = flat.reshape(layout.height, layout.step)[:, :layout.row_bytes]
    order = ">" if is_bigendian else "<"
    pixels = rows.view(layout.dtype.newbyteorder(order)) if layout.dtype.itemsize > 1 else rows
    return to_gray(pixels.reshape(layout.shape), layout.encoding)


def _repair_non_finite(image: np.ndarray) -> np.ndarray:
    """Replace a few NaN/Inf pixels by the median of the rest, in place; refuse a frame with many."""
    finite = np.isfinite(image)
    if finite.all():
        return image
    bad = image.size - int(np.count_nonzero(finite))
    if bad > MAX_NON_FINITE_SHARE * image.size:
        raise ImageFormatError(
            "non_finite", f"{bad} of {image.size} pixels ({bad / image.size:.1%}) are NaN or infinite; a float "
            f"frame is served only when at most {MAX_NON_FINITE_SHARE:.0%} are (check the source's float output)")
    image[~finite] = np.median(image[finite])
    return image


def gray_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image holding ``image`` (2-D uint8 -> mono8, uint16 -> mono16).

    Returns a dict with ``height, width, encoding, is_bigendian, step, data`` (``data`` as bytes;
    the header is left to the caller, who copies the source image's header).

    Raises
    ------
    ValueError
        If ``image`` is not a 2-D uint8 or uint16 array.
    """
    if image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected a 2-D uint8 or uint16 array, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    return {
        "height": image.shape[0],
        "width": image.shape[1],
        "encoding": "mono8" if image.dtype == np.uint8 else "mono16",
        "is_bigendian": sys.byteorder == "big",
        "step": image.shape[1] * image.dtype.itemsize,
        "data": image.tobytes(),
    }


def bgr_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a bgr8 sensor_msgs/Image holding ``image`` (H, W, 3) uint8.

    Raises
    ------
    ValueError
        If ``image`` is not an (H, W, 3) uint8 array.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    image = np.ascontiguousarray(image)
    return {
        "height": image.shape[0],
        "width": image.shape[1],
        "encoding": "bgr8",
        "is_bigendian": False,
        "step": image.shape[1] * 3,
        "data": image.tobytes(),
    }
