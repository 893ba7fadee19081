"""The torch side of a data set: one augment, crop and normalise path, and the ``Dataset`` training uses.

Reading, checking and splitting the data set is :mod:`guidewire_model.data.sequences` (no PyTorch);
:class:`SegmentationDataset` serves ``(image, mask)`` tensors of its frames for training and
validation, through :func:`training_sample`.
"""

from __future__ import annotations

import bisect
import copy
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from guidewire_model.data.sequences import DatasetError, SequenceInfo, load_exclude, load_frame, resize_mask
from guidewire_model.runtime.motion import MOTION_LAG, motion_channel
from guidewire_model.runtime.preprocess import normalize, resize_to_square, to_unit_float
from guidewire_model.training.augment import augment_pair
from guidewire_model.training.config import AugmentConfig
from guidewire_model.training.losses import DEVICE_LABEL, TIP_ZONE_LABEL

__all__ = ["SegmentationDataset", "near_pixels", "tip_heatmap", "training_sample"]

#: Label of a tip's pixel while the mask goes through augmentation and cropping: a label map is
#: resampled with nearest neighbour, so the tip moves with its wire. A wire pixel again afterwards.
_TIP_MARK = 3


def tip_heatmap(shape: tuple[int, int], pixels: np.ndarray, sigma_px: float) -> np.ndarray:
    """The tip channel's target: the maximum over tips of a Gaussian of ``sigma_px`` around each.

    Parameters
    ----------
    shape : (H, W)
    pixels : ndarray, shape (K, 2), int
        ``(row, column)`` of each tip's pixel; the heatmap is exactly 1 there (the positives of
        the keypoint focal loss).
    sigma_px : float
        Standard deviation of each Gaussian [pixels].

    Returns
    -------
    ndarray (H, W) float32 in [0, 1]; all 0 without tips.
    """
    heat = np.zeros(shape, np.float32)
    reach = int(np.ceil(3 * sigma_px))
    for r, c in np.asarray(pixels, dtype=np.int64).reshape(-1, 2):
        r0, r1 = max(r - reach, 0), min(r + reach + 1, shape[0])
        c0, c1 = max(c - reach, 0), min(c + reach + 1, shape[1])
        rr, cc = np.mgrid[r0:r1, c0:c1]
        blob = np.exp(-((rr - r) ** 2 + (cc - c) ** 2) / (2.0 * sigma_px**2)).astype(np.float32)
        np.maximum(heat[r0:r1, c0:c1], blob, out=heat[r0:r1, c0:c1])
    return heat


def near_pixels(shape: tuple[int, int], pixels: np.ndarray, radius_px: float) -> np.ndarray:
    """Boolean (H, W) map of the pixels within ``radius_px`` of any of ``pixels`` (``(K, 2)``
    ``(row, column)``); all False without any."""
    near = np.zeros(shape, bool)
    reach = int(np.floor(radius_px))
    for r, c in np.asarray(pixels, dtype=np.int64).reshape(-1, 2):
        r0, r1 = max(r - reach, 0), min(r + reach + 1, shape[0])
        c0, c1 = max(c - reach, 0), min(c + reach + 1, shape[1])
        rr, cc = np.mgrid[r0:r1, c0:c1]
        near[r0:r1, c0:c1] |= (rr - r) ** 2 + (cc - c) ** 2 <= radius_px**2
    return near


#: Frames between a training frame and the one its motion channel subtracts (``model.motion_input``),
#: drawn per sample: runs come at 7.5-30 fps and a saturated node skips frames.
MOTION_LAGS = (1, 2, 3)
#: Share of training samples whose motion channel is zero, as at a run's first frames and on a
#: folder of single frames: the model must find wires without it too.
MOTION_DROP = 0.2


def motion_draw(seed: int, epoch: int, index: int) -> tuple[int, bool]:
    """``(lag, dropped)`` of training sample ``index``: a pure function of its arguments, on a stream
    of its own (the sample's augmentation stream stays as without motion input)."""
    draw = np.random.default_rng([int(seed), int(epoch), int(index), 0x40])
    return MOTION_LAGS[int(draw.integers(len(MOTION_LAGS)))], bool(draw.random() < MOTION_DROP)


def training_sample(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator | None,
                    augment: AugmentConfig | None, crop_size: int | None, mean: float,
                    std: float, devices: np.ndarray | None = None, tips: np.ndarray | None = None,
                    tip_sigma_px: float | None = 2.0, tip_zone_px: float = 0.0,
                    motion: bool = False, previous: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One network-ready pair from a [0, 1] frame and its 0/1 mask at the network's input side.

    Augments (``augment_pair``, when ``augment`` is given), takes a random ``crop_size`` square
    (when smaller than the frame), normalises, and returns float32 tensors of shape (1, C, C). Every
    random number comes from ``rng`` (unused, and may be None, with neither augmentation nor crop).
    With ``devices`` (a 0/1 mask of non-guidewire devices, same shape), the target holds
    :data:`~guidewire_model.training.losses.DEVICE_LABEL` on device pixels that are not guidewire;
    the image, crop and random stream are the same as without it.

    With ``tips`` (``(K, 2)`` ``(x, y)`` pixel positions of the visible distal tips, possibly
    ``K = 0``), the target is ``(2, C, C)``: the labels, then :func:`tip_heatmap` of the tips as
    augmentation and cropping moved them (a tip cropped away has none); with ``tip_sigma_px``
    None it stays ``(1, C, C)``. With ``tip_zone_px`` > 0 (which needs ``tips``) the background
    labels within that distance of a tip become
    :data:`~guidewire_model.training.losses.TIP_ZONE_LABEL` (devices keep theirs). The image, the
    wire labels and the random stream are the same either way.

    With ``motion`` the image is ``(2, C, C)``: the frame, then its motion channel
    (:func:`guidewire_model.runtime.motion.motion_channel`) against ``previous``, an earlier [0, 1]
    frame of its run at the same size that goes through the same augmentation and crop, or zeros
    when ``previous`` is None. The frame's channel and the random stream are as without it.
    """
    if tip_zone_px > 0 and tips is None:
        raise ValueError("tip_zone_px needs the tips")
    if devices is not None:
        if devices.shape != mask.shape:
            raise ValueError(f"devices {devices.shape} and mask {mask.shape} must have the same shape")
        mask = np.where((devices > 0) & (mask == 0), DEVICE_LABEL, mask).astype(np.uint8)
    if tips is not None:
        mask = mask.astype(np.uint8, copy=True)
        cols, rows = np.round(np.asarray(tips, dtype=np.float64).reshape(-1, 2)).astype(np.int64).T
        inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
        mask[rows[inside], cols[inside]] = _TIP_MARK
    if augment is not None:
        if previous is not None:
            previous, _ = augment_pair(previous, mask, copy.deepcopy(rng), augment)
        image, mask = augment_pair(image, mask, rng, augment)
    side = image.shape[0]
    if crop_size is not None and crop_size < side:
        top, left = rng.integers(0, side - crop_size + 1, size=2)
        window = (slice(top, top + crop_size), slice(left, left + crop_size))
        image, mask = image[window], mask[window]
        if previous is not None:
            previous = previous[window]
    if motion:
        moved = np.zeros(image.shape, np.float32) if previous is None else motion_channel(image, previous, std)
        image = np.stack([normalize(image, mean, std), moved])
    else:
        image = normalize(image, mean, std)[None]
    if tips is None:
        return torch.from_numpy(image), torch.from_numpy(mask[None].astype(np.float32))
    marked = mask == _TIP_MARK
    labels = np.where(marked, 1, mask).astype(np.float32)
    if tip_zone_px > 0:
        zone = near_pixels(labels.shape, np.argwhere(marked), tip_zone_px) & (labels == 0)
        labels[zone] = TIP_ZONE_LABEL
    if tip_sigma_px is None:
        return torch.from_numpy(image), torch.from_numpy(labels[None])
    heat = tip_heatmap(labels.shape, np.argwhere(marked), tip_sigma_px)
    return torch.from_numpy(image), torch.from_numpy(np.stack([labels, heat]))


class SegmentationDataset(Dataset):
    """Frames and masks of some sequences as network-ready tensors.

    Sample ``i`` is loaded (:func:`load_frame`), resized to the network input
    (:func:`guidewire_model.runtime.preprocess.resize_to_square` for the image, :func:`resize_mask` for
    the mask), augmented with :func:`guidewire_model.training.augment.augment_pair` when ``augment`` is
    given, and normalised with :func:`guidewire_model.runtime.preprocess.normalize`: the same steps as
    :func:`guidewire_model.runtime.preprocess.prepare_input` at inference, with augmentation in between.

    Augmentation uses ``np.random.default_rng([seed, epoch, i])``, so a sample is a pure function of
    (seed, epoch, index) and does not depend on DataLoader workers, ranks or sampling order; call
    :meth:`set_epoch` at the start of every epoch.

    Parameters
    ----------
    sequences : list of SequenceInfo
        From :func:`scan_dataset` (usually one part of a :class:`Split`).
    input_size : int
        Side ``S`` of the square network input.
    mean, std : float
        Normalisation of the [0, 1] image.
    augment : AugmentConfig or None
        ``None`` for validation / evaluation.
    seed : int
        Non-negative augmentation seed.
    with_devices : bool
        Mark the pixels of each frame's ``exclude/`` mask (devices that are not guidewires), where
        it has one, with :data:`~guidewire_model.training.losses.DEVICE_LABEL` in the target, for
        ``loss.device_weight``.
    crop_size : int, optional
        Train on a random ``crop_size`` square of the (resized, augmented) frame instead of the
        whole of it. The network is fully convolutional, so a model trained on crops at native
        resolution runs on whole frames unchanged, at a fraction of the training cost per sample;
        downscaling the frames instead would thin the 1.5-4 px wires below what the model can see.

    motion : bool
        Give the image a second channel, the motion channel against an earlier frame of the same
        sequence (``model.motion_input``): with ``augment`` (training) a lag drawn from
        :data:`MOTION_LAGS` and zero for :data:`MOTION_DROP` of the samples, else
        ``motion.MOTION_LAG``; zero where the sequence has no such frame.

    Items are ``(image, mask)``: torch float32 tensors of shape (1, C, C) with C = ``crop_size``
    or ``S`` (the image (2, C, C) with ``motion``); the image normalised, the mask in {0, 1} (and
    ``DEVICE_LABEL`` with ``with_devices``).
    """

    def __init__(
        self,
        sequences: Sequence[SequenceInfo],
        input_size: int,
        mean: float,
        std: float,
        augment: AugmentConfig | None,
        seed: int,
        crop_size: int | None = None,
        with_devices: bool = False,
        motion: bool = False,
    ) -> None:
        if crop_size is not None and not 0 < int(crop_size) <= int(input_size):
            raise ValueError(f"crop_size must be in (0, input_size={input_size}], got {crop_size}")
        if len(sequences) == 0:
            raise DatasetError("SegmentationDataset got no sequences; check the split (an empty part?)")
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}")
        self.sequences = list(sequences)
        self.input_size = int(input_size)
        self.mean = float(mean)
        self.std = float(std)
        self.augment = augment
        self.seed = int(seed)
        self.crop_size = None if crop_size is None else int(crop_size)
        self.with_devices = bool(with_devices)
        self.motion = bool(motion)
        self.epoch = 0
        self._starts = np.cumsum([0] + [len(s) for s in self.sequences]).tolist()

    def __len__(self) -> int:
        return self._starts[-1]

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (>= 0)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        seq = bisect.bisect_right(self._starts, index) - 1
        return seq, index - self._starts[seq]

    def sample_id(self, index: int) -> tuple[str, int]:
        """``(sequence_name, frame_index)`` of sample ``index``."""
        seq, frame = self._locate(index)
        return self.sequences[seq].name, frame

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        seq, frame = self._locate(int(index))
        image, mask = load_frame(self.sequences[seq], frame)
        image = resize_to_square(to_unit_float(image), self.input_size)
        mask = resize_mask(mask, self.input_size)
        devices = load_exclude(self.sequences[seq], frame) if self.with_devices else None
        if devices is not None:
            devices = resize_mask(devices, self.input_size)
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        previous = None
        if self.motion:
            lag, dropped = motion_draw(self.seed, self.epoch, index) if self.augment is not None else (MOTION_LAG, False)
            if frame >= lag and not dropped:
                earlier, _ = load_frame(self.sequences[seq], frame - lag)
                previous = resize_to_square(to_unit_float(earlier), self.input_size)
        return training_sample(image, mask, rng, self.augment, self.crop_size, self.mean, self.std, devices,
                               motion=self.motion, previous=previous)


