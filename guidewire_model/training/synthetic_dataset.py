"""Torch data sets that draw fresh frames from the synthetic generator (``data.source: synthetic``).

A fixed folder of a few hundred synthetic frames left the last default model under-fitted *and*
limited to the scenes it held; drawing new scenes every epoch gives an unlimited, never-repeated
training stream at the cost of rendering. Rendering one scene costs about as much as three of its
frames, so each scene yields ``frames_per_scene`` consecutive frames and each frame
``crops_per_frame`` random crops; consecutive samples cycle through ``scenes_in_flight``
scenes so that a batch mixes scenes.

Determinism: sample ``i`` of epoch ``e`` is a pure function of ``(seed, e, i)`` (scene seed, preset,
frame, crop and flips), independent of DataLoader workers and of the order samples are requested
in, so a resumed run sees exactly what the uninterrupted run would have seen. Samples come in
blocks of ``scenes_in_flight x frames_per_scene x crops_per_frame`` that draw on the same scenes;
:class:`SyntheticTrainSet` keeps the current block's scenes rendered per worker, which pays off when
a sampler hands out indices in order (``shuffle=False`` is fine: every epoch is new data) to one
worker (``data.num_workers: 1``; each further worker renders the scenes again).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from guidewire_model.training.config import AugmentConfig, SyntheticDataConfig
from guidewire_model.training.dataset import MOTION_LAGS, motion_draw, training_sample
from guidewire_model.runtime.motion import MOTION_LAG
from guidewire_model.runtime.preprocess import to_unit_float
from guidewire_model.synthetic.config import SyntheticConfig
from guidewire_model.synthetic.generator import SyntheticFrame, generate_sequence

__all__ = ["SyntheticTrainSet", "SyntheticValidationSet", "scene_seed", "visible_tips"]

#: A wire whose last point lies this close to the frame's border leaves the frame there: no tip.
TIP_BORDER_MARGIN_PX = 2.0

#: Training scenes take generator seeds from 2**31 up; validation scenes and the seeds people
#: evaluate on are small integers, so the two never meet.
_TRAIN_SEED_OFFSET = 2**31


def visible_tips(frame: SyntheticFrame, margin_px: float = TIP_BORDER_MARGIN_PX) -> np.ndarray:
    """``(K, 2)`` ``(x, y)`` of the distal tips a frame shows: each wire's last centreline point,
    unless it lies within ``margin_px`` of the border (the centreline is clipped to the frame, so
    the wire runs on outside) or outside the frame's field of view (behind a shutter)."""
    h, w = frame.mask.shape
    tips = []
    for wire in frame.wires:
        x, y = np.asarray(wire.points, dtype=np.float64)[-1]
        if not (margin_px <= x <= w - 1 - margin_px and margin_px <= y <= h - 1 - margin_px):
            continue
        if frame.field_of_view is not None and not frame.field_of_view[int(round(y)), int(round(x))]:
            continue
        tips.append((x, y))
    return np.asarray(tips, dtype=np.float64).reshape(-1, 2)


def scene_seed(seed: int, epoch: int, scene: int) -> int:
    """Generator seed of training scene ``scene`` of ``epoch``: in ``[2**31, 2**32)``.

    Validation seeds (``data.synthetic.val_seed`` and up) and the seeds users evaluate on are
    small integers, so training scenes never coincide with them.
    """
    state = np.random.SeedSequence([int(seed), int(epoch), int(scene), 0x5EED]).generate_state(1)[0]
    return int(_TRAIN_SEED_OFFSET + (int(state) % _TRAIN_SEED_OFFSET))


class SyntheticTrainSet(Dataset):
    """A new epoch of synthetic training crops every :meth:`set_epoch`.

    Parameters
    ----------
    cfg : SyntheticDataConfig
        Presets and their weights, samples per epoch, frames per scene, crops per frame.
    input_size : int
        Side of the rendered square frames (the network's input side; the generator scales its
        lengths to it).
    mean, std : float
        Normalisation of the [0, 1] image.
    augment : AugmentConfig or None
        Geometric / intensity augmentation applied to each frame before cropping.
    seed : int
        Non-negative run seed.
    crop_size : int, optional
        Side of the random square crops; ``None`` = whole frames.
    with_devices : bool
        Mark the generator's non-guidewire devices (``SyntheticFrame.devices``) and a phantom's
        channel and hole outlines (``SyntheticFrame.edges``) with
        :data:`~guidewire_model.training.losses.DEVICE_LABEL` in the targets, for
        ``loss.device_weight``: both are the look-alikes a wire detector confuses with wire.
        Images and random streams are the same either way. (Validation marks devices only, so its
        device share stays the share on devices.)
    tip_sigma_px : float, optional
        Add the tip channel's target (:func:`visible_tips`, Gaussians of this width) for
        ``model.tip_head``; None: none.
    tip_zone_px : float
        Mark the background within this distance of each visible tip with
        :data:`~guidewire_model.training.losses.TIP_ZONE_LABEL`, for ``loss.tip_zone_weight``;
        0: none.
    motion : bool
        Give each image its motion channel (``model.motion_input``) against the frame a lag drawn
        from :data:`~guidewire_model.training.dataset.MOTION_LAGS` before it (the scene is rendered
        that many frames earlier), zero for
        :data:`~guidewire_model.training.dataset.MOTION_DROP` of the samples. The frames drawn
        are the run's frames from the largest lag on, so they differ from those without it.

    Items are ``(image, mask)`` float32 tensors of shape (1, C, C), like
    :class:`guidewire_model.training.dataset.SegmentationDataset`; the mask is ``(2, C, C)`` with
    ``tip_sigma_px`` (:func:`~guidewire_model.training.dataset.training_sample`), the image with
    ``motion``.
    """

    def __init__(self, cfg: SyntheticDataConfig, input_size: int, mean: float, std: float,
                 augment: AugmentConfig | None, seed: int, crop_size: int | None = None,
                 with_devices: bool = False, tip_sigma_px: float | None = None, tip_zone_px: float = 0.0,
                 motion: bool = False) -> None:
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if crop_size is not None and not 0 < int(crop_size) <= int(input_size):
            raise ValueError(f"crop_size must be in (0, input_size={input_size}], got {crop_size}")
        weights = np.asarray(cfg.weights, dtype=np.float64)
        self.cfg = cfg
        self.input_size = int(input_size)
        self.mean, self.std = float(mean), float(std)
        self.augment = augment
        self.seed = int(seed)
        self.crop_size = None if crop_size is None else int(crop_size)
        self.with_devices = bool(with_devices)
        self.tip_sigma_px = None if tip_sigma_px is None else float(tip_sigma_px)
        if not float(tip_zone_px) >= 0:
            raise ValueError(f"tip_zone_px must be >= 0, got {tip_zone_px}")
        self.tip_zone_px = float(tip_zone_px)
        self.motion = bool(motion)
        self._lead = max(MOTION_LAGS) if self.motion else 0
        self.epoch = 0
        self._cdf = np.cumsum(weights / weights.sum())
        self._generators = {name: SyntheticConfig.preset(name, **{**cfg.generator_overrides, "size": self.input_size})
                            for name in cfg.presets}
        self._cache: dict[tuple[int, int], list[SyntheticFrame]] = {}

    def __len__(self) -> int:
        return self.cfg.samples_per_epoch

    def set_epoch(self, epoch: int) -> None:
        """Select the scenes of ``epoch`` (>= 0)."""
        if int(epoch) < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def scene_of(self, index: int) -> tuple[int, str, int]:
        """``(generator seed, preset, frame index)`` behind sample ``index`` of the current epoch."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        c = self.cfg
        block, within = divmod(index, c.scenes_in_flight * c.frames_per_scene * c.crops_per_frame)
        slot, visit = within % c.scenes_in_flight, within // c.scenes_in_flight
        gen_seed = scene_seed(self.seed, self.epoch, block * c.scenes_in_flight + slot)
        pick = np.random.default_rng(gen_seed).random()
        preset = c.presets[min(int(np.searchsorted(self._cdf, pick, side="right")), len(self._cdf) - 1)]
        return gen_seed, preset, visit // c.crops_per_frame

    def _frames(self, gen_seed: int, preset: str) -> list[SyntheticFrame]:
        key = (gen_seed, self.epoch)
        if key not in self._cache:
            while len(self._cache) >= self.cfg.scenes_in_flight:
                self._cache.pop(next(iter(self._cache)))  # the oldest: its block is done
            # With motion input the run starts early enough that every sample has its lagged frame.
            self._cache[key] = generate_sequence(self._generators[preset], gen_seed,
                                                 self.cfg.frames_per_scene + self._lead)
        return self._cache[key]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen_seed, preset, t = self.scene_of(int(index))
        frames = self._frames(gen_seed, preset)
        frame = frames[t + self._lead]
        previous = None
        if self.motion:
            lag, dropped = motion_draw(self.seed, self.epoch, index)
            if not dropped:
                previous = to_unit_float(frames[t + self._lead - lag].image)
        image = to_unit_float(frame.image)
        mask = frame.mask.astype(np.uint8)
        rng = np.random.default_rng([self.seed, self.epoch, int(index), 0xC0])
        devices = None
        if self.with_devices:
            devices = frame.devices if frame.edges is None else frame.devices | frame.edges
        if self.tip_sigma_px is None and self.tip_zone_px == 0:
            return training_sample(image, mask, rng, self.augment, self.crop_size, self.mean, self.std, devices,
                                   motion=self.motion, previous=previous)
        return training_sample(image, mask, rng, self.augment, self.crop_size, self.mean, self.std, devices,
                               tips=visible_tips(frame), tip_sigma_px=self.tip_sigma_px, tip_zone_px=self.tip_zone_px,
                               motion=self.motion, previous=previous)


class SyntheticValidationSet(Dataset):
    """A fixed set of whole synthetic frames for validation, rendered once on construction.

    Scenes ``val_seed, val_seed + 1, ...`` take the presets in turn, ``val_frames_per_scene``
    frames each, until ``val_frames`` frames are made. Targets mark the generator's
    non-guidewire devices with :data:`~guidewire_model.training.losses.DEVICE_LABEL`, so validation
    can report how much of a model's prediction falls on them.

    Parameters
    ----------
    cfg : SyntheticDataConfig
    input_size : int
    mean, std : float
    motion : bool
        Give each image its motion channel against the frame ``motion.MOTION_LAG`` before it
        (each scene is rendered from that many frames earlier).
    """

    def __init__(self, cfg: SyntheticDataConfig, input_size: int, mean: float, std: float,
                 motion: bool = False) -> None:
        self.mean, self.std = float(mean), float(std)
        self.motion = bool(motion)
        self.previous: list[np.ndarray | None] = []
        self.frames: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self.names: list[str] = []
        scene = 0
        while len(self.frames) < cfg.val_frames:
            preset = cfg.presets[scene % len(cfg.presets)]
            gen = SyntheticConfig.preset(preset, size=int(input_size))
            n = min(cfg.val_frames_per_scene, cfg.val_frames - len(self.frames))
            lead = MOTION_LAG if self.motion else 0
            run = generate_sequence(gen, cfg.val_seed + scene, n + lead)
            for k, frame in enumerate(run[lead:]):
                self.frames.append((to_unit_float(frame.image), frame.mask.astype(np.uint8), frame.devices))
                self.previous.append(to_unit_float(run[k].image) if lead else None)
                self.names.append(f"{preset}_{cfg.val_seed + scene}")
            scene += 1

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask, devices = self.frames[int(index)]
        return training_sample(image, mask, None, None, None, self.mean, self.std, devices,
                               motion=self.motion, previous=self.previous[int(index)])
