"""The one input pipeline shared by training, evaluation, export checks and every inference backend.

A frame goes through three steps, always in this order:

1. :func:`to_unit_float` - the stored dtype to float32 in [0, 1];
2. :func:`resize_to_square` - to the network's square input side ``S``;
3. :func:`normalize` - ``(x - mean) / std`` with the mean/std stored with the model.

:func:`prepare_input` / :func:`prepare_batch` run all three; training inserts augmentation between
steps 2 and 3 (see :mod:`guidewire_model.training.dataset`). The network's probability map goes back to the
frame's size with :func:`restore_size` and becomes a 0/1 mask with :func:`binarize`.

Aspect ratio: the paper's frames are square (512 x 512). A non-square frame is *stretched* to the
square input (no padding or cropping), and :func:`restore_size` stretches the output back, so every
output pixel maps onto the frame pixel it came from. Detectors with non-square panels therefore see
a wire slightly thinner along the longer side; pad frames to square upstream if that matters.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

__all__ = [
    "binarize",
    "normalize",
    "prepare_batch",
    "prepare_input",
    "resize_interpolation",
    "resize_to_square",
    "restore_size",
    "to_unit_float",
]

_SCALE = {np.dtype(np.uint8): np.float32(1.0 / 255.0), np.dtype(np.uint16): np.float32(1.0 / 65535.0)}


def to_unit_float(image: np.ndarray) -> np.ndarray:
    """Convert a frame to float32 in [0, 1].

    Parameters
    ----------
    image : ndarray, any shape, uint8, uint16, float32 or float64
        uint8 is divided by 255, uint16 by 65535 (the full range, whatever bits the detector
        really uses, so that one model fits one stored bit depth). Floats are taken as already
        in [0, 1]: values outside are clipped and NaN / +-Inf become 0.

    Returns
    -------
    ndarray, same shape, float32, values in [0, 1]
        A new array; the input is never modified.

    Raises
    ------
    TypeError
        If ``image`` is not a numpy array of one of the dtypes above (e.g. int32, bool).
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    scale = _SCALE.get(image.dtype)
    if scale is not None:
        out = image.astype(np.float32)
        out *= scale
        return out
    if image.dtype in (np.float32, np.float64):
        out = image.astype(np.float32)  # always a copy, so the in-place ops below are safe
        if not np.isfinite(out).all():
            out[~np.isfinite(out)] = 0.0
        np.clip(out, 0.0, 1.0, out=out)
        return out
    raise TypeError(
        f"image dtype {image.dtype} is not supported; pass uint8, uint16 or float32 in [0, 1] "
        "(convert other integer data to uint16 after scaling it to the full range)"
    )


def resize_interpolation(shape: Sequence[int], size: int | Sequence[int]) -> int:
    """OpenCV interpolation used to resize an image of ``shape`` to ``size``.

    ``cv2.INTER_AREA`` when no side grows (pixel averaging: no aliasing of the thin wire when
    shrinking), ``cv2.INTER_LINEAR`` when any side grows.
    """
    h, w = int(shape[0]), int(shape[1])
    if isinstance(size, (int, np.integer)):
        out_h = out_w = int(size)
    else:
        out_h, out_w = int(size[0]), int(size[1])
    return cv2.INTER_AREA if (out_h <= h and out_w <= w) else cv2.INTER_LINEAR


def resize_to_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize a 2-D image to ``size`` x ``size`` (stretching a non-square frame).

    Parameters
    ----------
    image : ndarray, shape (H, W), uint8, uint16 or float32
    size : int
        Side of the square output, >= 1.

    Returns
    -------
    ndarray, shape (size, size), same dtype
        ``image`` itself when it already has that shape, otherwise a new array. Interpolation as
        in :func:`resize_interpolation`.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or empty, or ``size`` < 1.
    """
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"image must be a non-empty 2-D (H, W) array, got shape {image.shape}")
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if image.shape == (size, size):
        return image
    return cv2.resize(image, (size, size), interpolation=resize_interpolation(image.shape, size))


def normalize(image: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Return ``(image - mean) / std`` as float32 (a new array).

    Raises
    ------
    ValueError
        If ``std`` is not positive.
    """
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    out = np.subtract(image, np.float32(mean), dtype=np.float32)
    out *= np.float32(1.0 / std)
    return out


def prepare_input(image: np.ndarray, input_size: int, mean: float, std: float) -> np.ndarray:
    """Turn one frame into the network's input.

    Parameters
    ----------
    image : ndarray, shape (H, W), uint8, uint16 or float32 in [0, 1]
        Grayscale frame (see :func:`to_unit_float` for the dtype rules).
    input_size : int
        Side ``S`` of the network's square input.
    mean, std : float
        Normalisation of the [0, 1] image (``ModelConfig.input_mean`` / ``input_std``).

    Returns
    -------
    ndarray, shape (1, S, S), float32
        C-contiguous; add a batch axis with ``[None]``.

    Raises
    ------
    TypeError
        On an unsupported dtype.
    ValueError
        If ``image`` is not 2-D or ``std`` <= 0.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be a 2-D (H, W) grayscale array, got shape {shape}")
    unit = to_unit_float(image)
    return normalize(resize_to_square(unit, input_size), mean, std)[None]


def prepare_batch(images: Sequence[np.ndarray], input_size: int, mean: float, std: float) -> np.ndarray:
    """:func:`prepare_input` for several frames (sizes and dtypes may differ).

    Returns
    -------
    ndarray, shape (N, 1, S, S), float32

    Raises
    ------
    ValueError
        If ``images`` is empty, or as :func:`prepare_input`.
    """
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one (H, W) frame")
    out = np.empty((len(images), 1, int(input_size), int(input_size)), dtype=np.float32)
    for i, image in enumerate(images):
        out[i] = prepare_input(image, input_size, mean, std)
    return out


def restore_size(prob: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resize the network's probability map back to the frame's size (bilinear).

    Parameters
    ----------
    prob : ndarray, shape (S, S), or with leading singleton axes, e.g. (1, 1, S, S)
        Probabilities (or logits) at the network's resolution.
    shape : (H, W)
        Size of the original frame; only the first two entries are used.

    Returns
    -------
    ndarray, shape (H, W), float32
        Bilinear resampling keeps probabilities inside [min(prob), max(prob)].

    Raises
    ------
    ValueError
        If ``prob`` is not 2-D after dropping leading singleton axes.
    """
    prob = np.asarray(prob)
    while prob.ndim > 2 and prob.shape[0] == 1:
        prob = prob[0]
    if prob.ndim != 2:
        raise ValueError(f"prob must be (S, S) or (1, .., S, S), got shape {np.shape(prob)}")
    h, w = int(shape[0]), int(shape[1])
    prob = prob.astype(np.float32, copy=False)
    if prob.shape == (h, w):
        return prob.copy()
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


def binarize(prob: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels with ``prob >= threshold`` become 1, the rest 0.

    The ``>=`` matches :class:`guidewire_model.metrics.pixels.ThresholdSweep`, whose threshold ``t`` counts
    a pixel as positive when its probability is at least ``t``.

    Returns
    -------
    ndarray, same shape, uint8 in {0, 1}
    """
    return (np.asarray(prob) >= threshold).view(np.uint8)
