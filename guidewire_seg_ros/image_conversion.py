"""sensor_msgs/Image <-> numpy, without cv_bridge.

A ROS 2 cv_bridge is not always installable (and the PyPI one is ROS 1's), so the node's tested path is
this module. It honours ``step`` row padding and ``is_bigendian``, and it validates every field before
it touches the pixel data, so a malformed frame raises :class:`ImageFormatError` instead of crashing or
allocating memory in proportion to a bogus size.

The functions read the message's fields by name only (duck typing), so they take any object with
``height, width, encoding, is_bigendian, step, data``. The pixel rules themselves live in
:mod:`guidewire_model.runtime.image_decoding` (no ROS import), shared with the bag reader and writer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from guidewire_model.runtime.image_decoding import (
    ENCODINGS,
    ImageFormatError,
    bgr_image_fields,
    decode_gray,
    gray_image_fields,
)

__all__ = [
    "ENCODINGS",
    "ImageFormatError",
    "image_to_gray",
    "gray_to_image_fields",
    "bgr_to_image_fields",
]


def image_to_gray(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Decode a sensor_msgs/Image (or any object with its fields) into a 2-D grayscale array.

    The contract (dtypes, byte order, padding, refusals as :class:`ImageFormatError` with a ``kind``)
    is :func:`guidewire_model.runtime.image_decoding.decode_gray`'s; ``max_pixels`` refuses large frames from
    their header alone.
    """
    return decode_gray(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, max_pixels)


def gray_to_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image holding ``image`` (2-D uint8 -> mono8, uint16 -> mono16).

    Returns a dict with ``height, width, encoding, is_bigendian, step, data`` (header left to the
    caller, who copies the source image's header).
    """
    return gray_image_fields(image)


def bgr_to_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a bgr8 sensor_msgs/Image holding ``image`` (H, W, 3) uint8."""
    return bgr_image_fields(image)
