"""sensor_msgs/Image <-> numpy: ROS 2's cv_bridge where it is importable, the project's own decoder otherwise.

Every frame is first checked by :func:`guidewire_model.runtime.image_decoding.check_image_fields`, from
its header and data length only, so a malformed frame raises :class:`ImageFormatError` (with the same
``kind`` on every install) before its pixel data is touched or memory is allocated in proportion to a
bogus size. The pixels are then read by ``CvBridge().imgmsg_to_cv2(msg, desired_encoding="passthrough")``
when ROS 2's ``cv_bridge`` is importable, else by the own decoder (``step`` row padding and
``is_bigendian`` honoured), and both results go through the same grey rules
(:func:`~guidewire_model.runtime.image_decoding.to_gray`: BT.601 luma for colour, native byte order, a
copy never sharing the message's buffer, the NaN/Inf repair of float frames). The two paths therefore
give identical arrays; test/test_image_conversion.py compares them on every encoding.

The own decoder stays in charge where cv_bridge would read a frame wrongly or cannot read it:

* rows padded by a number of bytes that is not a whole number of pixels (cv_bridge's passthrough
  computes the row length as ``step // pixel size`` and would shift every row);
* any error the bridge raises on a frame the checks accepted (a cv_bridge build that calls numpy
  API removed in numpy 2 for non-native byte order, for example), or a result of the wrong shape or
  type; the first such fallback is logged.

PyPI has no ROS 2 cv_bridge (its ``cv-bridge`` is ROS 1's), so there the own decoder is the one used.
The functions read the message's fields by name only (duck typing), so they take any object with
``height, width, encoding, is_bigendian, step, data``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from guidewire_model.runtime.image_decoding import (
    ENCODINGS,
    ImageFormatError,
    ImageLayout,
    bgr_image_fields,
    check_image_fields,
    decode_gray,
    gray_image_fields,
    to_gray,
)

try:  # present on a ROS 2 install (ros-<distro>-cv-bridge), absent from the PyPI wheels
    from cv_bridge import CvBridge as _CvBridge
except ImportError:  # pragma: no cover - depends on the install
    _CvBridge = None

__all__ = [
    "ENCODINGS",
    "ImageFormatError",
    "cv_bridge_available",
    "image_to_gray",
    "gray_to_image_fields",
    "bgr_to_image_fields",
]

_log = logging.getLogger(__name__)
_bridge: Any = None  # one CvBridge per process, made on first use
_bridge_failure_logged = False


def cv_bridge_available() -> bool:
    """Whether ROS 2's ``cv_bridge`` was importable, i.e. whether :func:`image_to_gray` uses it by default."""
    return _CvBridge is not None


def image_to_gray(msg: Any, max_pixels: int | None = None, use_cv_bridge: bool | None = None) -> np.ndarray:
    """Decode a sensor_msgs/Image (or any object with its fields) into a 2-D grayscale array.

    Parameters
    ----------
    msg : sensor_msgs.msg.Image or alike
        The frame.
    max_pixels : int, optional
        Frames with more pixels are refused from their header alone (kind ``too_large``).
    use_cv_bridge : bool, optional
        Read the pixels with cv_bridge (True) or with the own decoder (False); default: cv_bridge when
        it is importable. Validation and grey rules are the same either way.

    Returns
    -------
    ndarray, shape (height, width)
        :func:`guidewire_model.runtime.image_decoding.decode_gray`'s contract (dtypes, byte order,
        padding, never a view of ``msg.data``).

    Raises
    ------
    ImageFormatError
        With the ``kind`` of :func:`~guidewire_model.runtime.image_decoding.decode_gray`, raised before
        the pixel data is read (``non_finite`` after it).
    RuntimeError
        If ``use_cv_bridge`` is True where cv_bridge is not importable.
    """
    if use_cv_bridge is None:
        use_cv_bridge = _CvBridge is not None
    if not use_cv_bridge:
        return decode_gray(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, max_pixels)
    if _CvBridge is None:
        raise RuntimeError("cv_bridge is not importable here")
    layout = check_image_fields(msg.encoding, msg.height, msg.width, msg.step, msg.data, max_pixels)
    pixels = _bridge_pixels(msg, layout)
    if pixels is None:
        return decode_gray(msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data, max_pixels)
    return to_gray(pixels, layout.encoding)


def _bridge_pixels(msg: Any, layout: ImageLayout) -> np.ndarray | None:
    """The frame's pixels as cv_bridge reads them, or None where the own decoder must read them."""
    global _bridge, _bridge_failure_logged
    if layout.step % layout.pixel_bytes:
        return None  # cv_bridge's row length would be step // pixel size: every row shifted
    try:
        if _bridge is None:
            _bridge = _CvBridge()
        pixels = np.asarray(_bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        if pixels.shape != layout.shape or pixels.dtype.newbyteorder("=") != layout.dtype:
            raise ValueError(f"cv_bridge gave {pixels.dtype} {pixels.shape}, expected {layout.dtype} {layout.shape}")
    except Exception as exc:  # noqa: BLE001 - any bridge failure on a checked frame: the own decoder reads it
        if not _bridge_failure_logged:
            _bridge_failure_logged = True
            _log.warning("cv_bridge could not decode a %s frame (%s: %s); such frames are decoded without it",
                         layout.encoding, type(exc).__name__, exc)
        return None
    return pixels


def gray_to_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image holding ``image`` (2-D uint8 -> mono8, uint16 -> mono16).

    Returns a dict with ``height, width, encoding, is_bigendian, step, data`` (header left to the
    caller, who copies the source image's header).
    """
    return gray_image_fields(image)


def bgr_to_image_fields(image: np.ndarray) -> dict[str, Any]:
    """Fields of a bgr8 sensor_msgs/Image holding ``image`` (H, W, 3) uint8."""
    return bgr_image_fields(image)
