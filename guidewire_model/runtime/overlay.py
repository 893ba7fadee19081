"""Colour overlays of segmentation results on the grayscale frame.

Two views, shared by the evaluation report, TensorBoard, the ROS node and the bag report:

* :func:`error_overlay` -- prediction against ground truth: true positives green, false positives
  red, false negatives blue, true negatives the plain gray frame; optionally, an annotation of what
  is *not* guidewire (a catheter) faintly amber where nothing was predicted.
* :func:`mask_overlay` -- a prediction alone (no ground truth), e.g. live on the robot.

All outputs are RGB ``uint8`` (H, W, 3). OpenCV writes BGR: convert with ``rgb[..., ::-1]`` before
``cv2.imwrite`` (or use :func:`write_png`).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "EXCLUDE_COLOUR",
    "FN_COLOUR",
    "FP_COLOUR",
    "TP_COLOUR",
    "error_overlay",
    "gray_to_rgb",
    "mask_overlay",
    "write_png",
]

#: RGB colours of the error classes; also documented in the report legends.
TP_COLOUR = (0, 255, 0)
FP_COLOUR = (255, 0, 0)
FN_COLOUR = (0, 0, 255)
#: RGB colour of an exclude annotation (what is not guidewire) that was rightly left unmarked.
EXCLUDE_COLOUR = (255, 190, 0)


def gray_to_rgb(image: np.ndarray) -> np.ndarray:
    """Frame as displayable RGB ``uint8``.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        uint8, uint16 (full 16-bit range) or float in [0, 1] (clipped).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8

    Raises
    ------
    ValueError
        If ``image`` is not 2-D.
    """
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale frame, got shape {image.shape}")
    if image.dtype == np.uint8:
        gray = image
    elif image.dtype == np.uint16:
        gray = (image.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        gray = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"unsupported frame dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")
    return np.repeat(gray[:, :, None], 3, axis=2)


def _blend(rgb: np.ndarray, where: np.ndarray, colour: tuple[int, int, int], alpha: float) -> None:
    if not where.any():
        return
    # Blending (rather than painting) keeps the wire's own intensity visible under the colour.
    src = rgb[where].astype(np.float32)
    rgb[where] = np.round((1.0 - alpha) * src + alpha * np.asarray(colour, np.float32)).astype(np.uint8)


def _as_bool(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    if mask.shape != shape:
        raise ValueError(f"{name} has shape {mask.shape}, expected the frame's {shape}")
    return mask.astype(bool)


def error_overlay(image: np.ndarray, pred: np.ndarray, gt: np.ndarray, alpha: float = 0.7,
                  exclude: np.ndarray | None = None) -> np.ndarray:
    """Show where a prediction agrees with and differs from the ground truth.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The frame (see :func:`gray_to_rgb` for dtypes).
    pred, gt : ndarray, shape (H, W)
        Binary predicted / true guidewire masks (bool or 0/1).
    alpha : float
        Colour opacity in [0, 1].
    exclude : ndarray, shape (H, W), optional
        Binary annotation of a look-alike that is not guidewire (e.g. the catheter).

    Returns
    -------
    ndarray, shape (H, W, 3), uint8 RGB
        TP :data:`TP_COLOUR`, FP :data:`FP_COLOUR`, FN :data:`FN_COLOUR`, TN gray; unpredicted,
        non-wire ``exclude`` pixels :data:`EXCLUDE_COLOUR` at half ``alpha`` (predicted ones are FP).
    """
    rgb = gray_to_rgb(image)
    p = _as_bool(pred, image.shape, "pred")
    g = _as_bool(gt, image.shape, "gt")
    if exclude is not None:
        _blend(rgb, _as_bool(exclude, image.shape, "exclude") & ~p & ~g, EXCLUDE_COLOUR, alpha / 2)
    _blend(rgb, p & g, TP_COLOUR, alpha)
    _blend(rgb, p & ~g, FP_COLOUR, alpha)
    _blend(rgb, ~p & g, FN_COLOUR, alpha)
    return rgb


def mask_overlay(
    image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = TP_COLOUR, alpha: float = 0.6
) -> np.ndarray:
    """Tint the pixels of ``mask`` with ``colour`` on the gray frame.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        The frame.
    mask : ndarray, shape (H, W)
        Binary mask (bool or 0/1), e.g. a thresholded prediction.
    colour : (r, g, b)
        Tint colour.
    alpha : float
        Tint opacity in [0, 1].

    Returns
    -------
    ndarray, shape (H, W, 3), uint8 RGB
    """
    rgb = gray_to_rgb(image)
    _blend(rgb, _as_bool(mask, image.shape, "mask"), colour, alpha)
    return rgb


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an RGB ``uint8`` overlay as PNG (OpenCV wants BGR, hence the channel flip).

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f"{path}: could not write PNG")
    return path
