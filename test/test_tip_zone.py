"""The background around each distal tip as a weighted negative (``loss.tip_zone_weight``).

Targets by hand on a drawn line, through flips and crops and the synthetic training set; the loss
against eq. (1) with the weight map written out; the config refused where the data has no tips.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from drawn_lines import line_with_tip
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_model.training.config import AugmentConfig, ConfigError, LossConfig, SyntheticDataConfig, load_train_config
from guidewire_model.training.dataset import near_pixels, training_sample
from guidewire_model.training.losses import DEVICE_LABEL, TIP_ZONE_LABEL, GuidewireLoss, modified_focal_loss
from guidewire_model.training.synthetic_dataset import SyntheticTrainSet, visible_tips

SMALL = SyntheticDataConfig(presets=("easy",), weights=(1.0,), samples_per_epoch=6, frames_per_scene=2,
                            crops_per_frame=1, scenes_in_flight=1, val_frames=4, val_frames_per_scene=2, val_seed=7)


def test_near_pixels_is_a_disc_around_each_pixel_clipped_to_the_frame():
    near = near_pixels((12, 12), np.array([[5, 5], [0, 11]]), 2.0)
    assert near.dtype == bool
    rr, cc = np.mgrid[:12, :12]
    expected = ((rr - 5) ** 2 + (cc - 5) ** 2 <= 4) | ((rr - 0) ** 2 + (cc - 11) ** 2 <= 4)
    assert np.array_equal(near, expected)
    assert near.sum() == 13 + 6  # a full disc of radius 2, and the corner's quarter with its two edges
    assert not near_pixels((5, 5), np.zeros((0, 2), int), 3.0).any()


def test_the_zone_is_the_background_within_its_radius_of_the_tip_and_nothing_else_changes():
    image, mask, tips = line_with_tip(40)
    devices = np.zeros_like(mask)
    devices[12, 15:30] = 1  # a device passing beside the tip keeps its own label
    plain = training_sample(image, mask, None, None, None, 0.5, 0.25, devices=devices)
    x, y = training_sample(image, mask, None, None, None, 0.5, 0.25, devices=devices, tips=tips,
                           tip_sigma_px=None, tip_zone_px=6.0)
    assert y.shape == (1, 40, 40) and torch.equal(x, plain[0])
    labels, before = y[0].numpy(), plain[1][0].numpy()
    assert np.array_equal(labels == 1, before == 1) and np.array_equal(labels == DEVICE_LABEL, before == DEVICE_LABEL)
    rr, cc = np.mgrid[:40, :40]
    disc = (rr - 10) ** 2 + (cc - 20) ** 2 <= 36
    assert np.array_equal(labels == TIP_ZONE_LABEL, disc & (before == 0))
    # With the heatmap as well: the same labels, and the heatmap's channel after them.
    _, both = training_sample(image, mask, None, None, None, 0.5, 0.25, devices=devices, tips=tips, tip_zone_px=6.0)
    assert both.shape == (2, 40, 40) and torch.equal(both[:1], y) and both[1, 10, 20] == 1.0
    with pytest.raises(ValueError, match="needs the tips"):
        training_sample(image, mask, None, None, None, 0.5, 0.25, tip_zone_px=6.0)


def test_the_zone_moves_with_flips_and_crops():
    image, mask, tips = line_with_tip(40)
    flips = AugmentConfig(rotate=False, flip_x=True, flip_y=True, intensity=False)
    seen = 0
    for seed in range(10):
        plain = training_sample(image, mask, np.random.default_rng(seed), flips, 30, 0.5, 0.25)
        x, y = training_sample(image, mask, np.random.default_rng(seed), flips, 30, 0.5, 0.25, tips=tips,
                               tip_sigma_px=None, tip_zone_px=4.0)
        assert torch.equal(x, plain[0])
        labels = y[0].numpy()
        assert np.array_equal(labels == 1, plain[1][0].numpy() == 1)
        zone = np.argwhere(labels == TIP_ZONE_LABEL)
        if len(zone):
            seen += 1
            # A disc around one end of the wire's run (the tip, wherever the flips took it).
            wire = np.argwhere(labels == 1)
            ends = wire[[wire[:, 1].argmin(), wire[:, 1].argmax()]]
            discs = [near_pixels(labels.shape, end[None], 4.0) & (labels != 1) for end in ends]
            assert any(np.array_equal(labels == TIP_ZONE_LABEL, d) for d in discs)
    assert seen >= 5


def test_the_synthetic_training_set_marks_the_zone_only_when_asked():
    common = dict(cfg=SMALL, input_size=64, mean=0.5, std=0.25, augment=None, seed=3, crop_size=None)
    plain, zoned = SyntheticTrainSet(**common), SyntheticTrainSet(**common, tip_zone_px=5.0)
    for i in range(len(plain)):
        (x0, y0), (x1, y1) = plain[i], zoned[i]
        assert torch.equal(x0, x1) and y1.shape == (1, 64, 64)
        gen_seed, preset, t = zoned.scene_of(i)
        frame = generate_sequence(SyntheticConfig.preset(preset, size=64), gen_seed, SMALL.frames_per_scene)[t]
        rows_cols = np.round(visible_tips(frame)[:, ::-1]).astype(int)
        expected = near_pixels((64, 64), rows_cols, 5.0) & (y0[0].numpy() == 0)
        assert np.array_equal(y1[0].numpy() == TIP_ZONE_LABEL, expected)
    with pytest.raises(ValueError, match="tip_zone_px"):
        SyntheticTrainSet(**common, tip_zone_px=-1.0)


def test_the_loss_weighs_the_zone_as_background_with_its_weight():
    cfg = LossConfig(alpha=20.0, gamma=2.0, reduction="mean", device_weight=5.0, tip_zone_weight=7.0)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 1, 12, 12, generator=g)
    pick = torch.rand(2, 1, 12, 12, generator=g)
    target = torch.where(pick < 0.2, 1.0, torch.where(pick < 0.3, float(DEVICE_LABEL),
                                                      torch.where(pick < 0.5, float(TIP_ZONE_LABEL), 0.0)))
    wire = (target == 1).float()
    weight = torch.where(target == DEVICE_LABEL, 5.0, torch.where(target == TIP_ZONE_LABEL, 7.0, 1.0))
    expected = modified_focal_loss(logits, wire, 20.0, 2.0, "mean", weight)
    assert float(GuidewireLoss(cfg)(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    # Weight 1: the zone is plain background.
    plain = dataclasses.replace(cfg, tip_zone_weight=1.0, device_weight=1.0)
    assert float(GuidewireLoss(plain)(logits, target)) == pytest.approx(
        float(modified_focal_loss(logits, wire, 20.0, 2.0, "mean")), rel=1e-6)
    with pytest.raises(ValueError, match="tip_zone_weight"):
        GuidewireLoss(dataclasses.replace(cfg, tip_zone_weight=-1.0))


def test_a_tip_zone_is_refused_where_the_data_has_no_tips(tmp_path):
    from guidewire_model.training.train import _build_datasets

    cfg = load_train_config(config_dir() / "train_demo.yaml",
                            {"data.root": str(tmp_path), "output_dir": str(tmp_path / "run"),
                             "loss.tip_zone_weight": 10.0})
    with pytest.raises(ConfigError, match="loss.tip_zone_weight"):
        _build_datasets(cfg, [], [])
