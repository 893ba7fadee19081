"""Training augmentation of one (image, mask) pair, paper section II-A.

Geometric (image and mask together, the same transform for both):

* rotation by a uniform angle in [0, 360) degrees about the image centre;
* flip along x (mirror left-right) and along y (mirror up-down), each with p = 0.5, independently.

Intensity (image only, when ``AugmentConfig.intensity``; not in the paper): gamma, contrast and
brightness jitter and Gaussian noise, see the ``INTENSITY_*`` constants.

Every random number comes from the ``rng`` passed in, and the same number of numbers is drawn
whatever the config switches off, so one generator state always gives the same flips whether or
not rotation is on; the data set seeds ``rng`` from (seed, epoch, index).
"""

from __future__ import annotations

import cv2
import numpy as np

from guidewire_model.training.config import AugmentConfig

__all__ = [
    "INTENSITY_BRIGHTNESS",
    "INTENSITY_CONTRAST",
    "INTENSITY_GAMMA",
    "INTENSITY_NOISE_STD",
    "augment_pair",
    "rotate_pair",
]

#: Gamma drawn log-uniformly from this range (applied to the [0, 1] image).
INTENSITY_GAMMA = (0.7, 1.4)
#: Contrast factor about mid-grey 0.5, uniform.
INTENSITY_CONTRAST = (0.8, 1.2)
#: Brightness offset in [0, 1] units, uniform.
INTENSITY_BRIGHTNESS = (-0.08, 0.08)
#: Standard deviation of additive Gaussian noise, uniform in this range, in [0, 1] units.
INTENSITY_NOISE_STD = (0.0, 0.03)


def rotate_pair(image: np.ndarray, mask: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate image and mask by ``angle_deg`` (counter-clockwise as displayed) about the centre.

    The centre is ``((W - 1) / 2, (H - 1) / 2)`` in the layout's pixel coordinates (origin at the
    centre of the top-left pixel), so a 90 degree turn of a square image is an exact pixel
    permutation. The image is resampled bilinearly; the mask with nearest neighbour, so it stays
    exactly binary and a one-pixel wire stays one pixel wide (bilinear + threshold would break a
    thin diagonal wire into dashes). Both use the same matrix and a mirrored border
    (``BORDER_REFLECT_101``), so a wire reflected into a corner of the image is reflected in the
    mask too, and no black wedges appear that a network could learn to rely on.
    """
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle_deg), 1.0)
    border = cv2.BORDER_REFLECT_101
    image_out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=border)
    mask_u8 = mask.view(np.uint8) if mask.dtype == bool else mask
    mask_out = cv2.warpAffine(mask_u8, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=border)
    if mask.dtype == bool:
        mask_out = mask_out.astype(bool)
    return image_out, mask_out


def _jitter_intensity(image: np.ndarray, draws: np.ndarray, noise: np.ndarray) -> np.ndarray:
    u_gamma, u_contrast, u_bright, u_noise = draws
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    else:
        scale = 1.0
    x = image.astype(np.float32) / np.float32(scale)
    np.clip(x, 0.0, 1.0, out=x)
    log_lo, log_hi = np.log(INTENSITY_GAMMA[0]), np.log(INTENSITY_GAMMA[1])
    gamma = float(np.exp(log_lo + u_gamma * (log_hi - log_lo)))
    contrast = INTENSITY_CONTRAST[0] + u_contrast * (INTENSITY_CONTRAST[1] - INTENSITY_CONTRAST[0])
    bright = INTENSITY_BRIGHTNESS[0] + u_bright * (INTENSITY_BRIGHTNESS[1] - INTENSITY_BRIGHTNESS[0])
    sigma = INTENSITY_NOISE_STD[0] + u_noise * (INTENSITY_NOISE_STD[1] - INTENSITY_NOISE_STD[0])
    np.power(x, np.float32(gamma), out=x)
    x = (x - np.float32(0.5)) * np.float32(contrast) + np.float32(0.5 + bright)
    x += noise * np.float32(sigma)
    np.clip(x, 0.0, 1.0, out=x)
    if scale == 1.0:
        return x.astype(image.dtype, copy=False)
    return np.rint(x * np.float32(scale)).astype(image.dtype)


def augment_pair(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly rotate, flip and (optionally) intensity-jitter one training pair.

    Parameters
    ----------
    image : ndarray, shape (H, W), float32 in [0, 1] (also uint8, uint16)
        The frame, usually already resized to the network input.
    mask : ndarray, shape (H, W), uint8 labels (also bool)
        Guidewire mask in {0, 1}, or a label map (0 / 1 / ``DEVICE_LABEL``): resampled with
        nearest neighbour, so it keeps exactly its label values.
    rng : numpy.random.Generator
        Source of every random number (see the module docstring).
    cfg : AugmentConfig
        Which augmentations are on.

    Returns
    -------
    image, mask : ndarray
        New C-contiguous arrays with the input shapes and dtypes; the mask holds the same values
        as the input mask (it stays binary); the inputs are not modified.

    Raises
    ------
    ValueError
        If the arrays are not 2-D or their shapes differ.
    """
    image = np.asarray(image)
    mask = np.asarray(mask)
    if image.ndim != 2 or image.shape != mask.shape:
        raise ValueError(f"image and mask must be 2-D of one shape, got {image.shape} and {mask.shape}")
    # Draw everything up front, in a fixed order and amount (see module docstring).
    angle = rng.uniform(0.0, 360.0)
    flip_x, flip_y = rng.random(2) < 0.5
    intensity_draws = rng.random(4)
    noise_seed = int(rng.integers(0, 2**63 - 1))

    if cfg.rotate:
        image, mask = rotate_pair(image, mask, angle)
    if cfg.flip_x and flip_x:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if cfg.flip_y and flip_y:
        image, mask = image[::-1], mask[::-1]
    if cfg.intensity:
        # The noise comes from its own generator so its size does not shift the main stream.
        noise = np.random.default_rng(noise_seed).standard_normal(image.shape, dtype=np.float32)
        image = _jitter_intensity(image, intensity_draws, noise)
    # Copies: flips are views and callers (torch.from_numpy) need owned, contiguous memory.
    return np.array(image, order="C", copy=True), np.array(mask, order="C", copy=True)
