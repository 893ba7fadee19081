"""The motion input (``model.motion_input``): the frame minus the run's previous frame as a second
channel, built alike in training samples and validation, and a one-frame network grown into a
two-channel one that computes exactly what it did."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tiny_run import TINY_SYNTHETIC_RUN
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.runtime.preprocess import to_unit_float
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_model.training.config import AugmentConfig, ConfigError, SyntheticDataConfig, load_train_config
from guidewire_model.runtime.motion import MOTION_GAIN, MOTION_LAG, motion_channel
from guidewire_model.training.dataset import MOTION_DROP, MOTION_LAGS, motion_draw, training_sample
from guidewire_model.training.network import build_model
from guidewire_model.training.synthetic_dataset import SyntheticTrainSet, SyntheticValidationSet
from guidewire_model.training.train import _with_input_channels

SMALL = SyntheticDataConfig(presets=("easy",), weights=(1.0,), samples_per_epoch=6, frames_per_scene=3,
                            crops_per_frame=1, scenes_in_flight=1, val_frames=4, val_frames_per_scene=2, val_seed=7)
MEAN, STD = 0.5, 0.25


def _set(**kw) -> SyntheticTrainSet:
    args = dict(cfg=SMALL, input_size=64, mean=MEAN, std=STD, augment=None, seed=3, crop_size=None, motion=True)
    args.update(kw)
    return SyntheticTrainSet(**args)


def test_a_motion_sample_holds_the_frame_and_its_difference_from_an_earlier_one(monkeypatch):
    monkeypatch.setattr("guidewire_model.training.dataset.MOTION_DROP", 0.0)
    s = _set()
    lead = max(MOTION_LAGS)
    lags = set()
    for i in range(len(s)):
        gen_seed, preset, t = s.scene_of(i)
        run = generate_sequence(SyntheticConfig.preset(preset, size=64), gen_seed, SMALL.frames_per_scene + lead)
        x, y = s[i]
        assert x.shape == (2, 64, 64) and y.shape == (1, 64, 64)
        now = to_unit_float(run[t + lead].image)
        np.testing.assert_allclose(x[0].numpy(), (now - MEAN) / STD, atol=1e-5)
        assert np.array_equal(y[0].numpy(), run[t + lead].mask.astype(np.float32))
        # The earlier frame is one of the lags back, and the scene moves between them.
        found = [lag for lag in MOTION_LAGS if np.allclose(
            x[1].numpy(), (now - to_unit_float(run[t + lead - lag].image)) * MOTION_GAIN / STD, atol=1e-4)]
        assert len(found) == 1 and np.abs(x[1].numpy()).max() > 0.1
        lags |= set(found)
    assert len(lags) > 1  # drawn per sample


def test_about_the_set_share_of_samples_has_a_zero_motion_channel():
    cfg = dataclasses.replace(SMALL, samples_per_epoch=400, frames_per_scene=4)
    s = _set(cfg=cfg)
    dropped = [motion_draw(3, 0, i)[1] for i in range(len(s))]
    assert abs(np.mean(dropped) - MOTION_DROP) < 0.06
    for i in (dropped.index(True), dropped.index(False)):
        x = s[i][0]
        assert x.shape == (2, 64, 64) and bool(x[1].any()) != dropped[i]


def test_flips_and_crops_move_the_frame_and_its_previous_frame_alike():
    # The previous frame as half the frame: whatever geometry the sample draws, channel 1 must
    # then be half of the (un-normalised) channel 0 over std, pixel for pixel.
    rng = np.random.default_rng(5)
    image = rng.random((64, 64)).astype(np.float32)
    mask = (rng.random((64, 64)) > 0.9).astype(np.uint8)
    aug = AugmentConfig(rotate=True, flip_x=True, flip_y=True, intensity=False)
    for seed in range(4):
        x, _ = training_sample(image, mask, np.random.default_rng(seed), aug, 40, MEAN, STD,
                               motion=True, previous=image * 0.5)
        shown = x[0].numpy() * STD + MEAN
        np.testing.assert_allclose(x[1].numpy(), 0.5 * shown * MOTION_GAIN / STD, atol=1e-4)
    # Without motion the sample is the one-channel sample it always was.
    x1, _ = training_sample(image, mask, np.random.default_rng(0), aug, 40, MEAN, STD)
    x2, _ = training_sample(image, mask, np.random.default_rng(0), aug, 40, MEAN, STD, motion=True,
                            previous=image * 0.5)
    assert x1.shape == (1, 40, 40) and torch.equal(x1[0], x2[0])


def test_validation_frames_have_the_frame_two_before_them_subtracted():
    v = SyntheticValidationSet(SMALL, 64, MEAN, STD, motion=True)
    assert len(v) == SMALL.val_frames
    for i in range(len(v)):
        scene, k = divmod(i, SMALL.val_frames_per_scene)
        run = generate_sequence(SyntheticConfig.preset("easy", size=64), SMALL.val_seed + scene,
                                SMALL.val_frames_per_scene + MOTION_LAG)
        x, y = v[i]
        now, before = to_unit_float(run[k + MOTION_LAG].image), to_unit_float(run[k].image)
        np.testing.assert_allclose(x[0].numpy(), (now - MEAN) / STD, atol=1e-5)
        np.testing.assert_allclose(x[1].numpy(), (now - before) * MOTION_GAIN / STD, atol=1e-4)
        assert np.array_equal(y[0].numpy() == 1, run[k + MOTION_LAG].mask > 0)


def test_a_one_frame_network_grown_to_motion_input_computes_what_it_did():
    torch.manual_seed(0)
    one = load_train_config(config_dir() / "train_default_model.yaml").model
    single = build_model(one).eval()
    motion = build_model(dataclasses.replace(one, motion_input=True)).eval()
    grown = _with_input_channels(single.state_dict(), motion.state_dict())
    changed = sorted(k for k in grown if grown[k].shape != single.state_dict()[k].shape)
    assert changed == ["encoder.conv1.weight", "head.frame.0.weight"]
    motion.load_state_dict(grown)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        # Whatever the motion channel holds, the grown network starts as the one-frame network.
        np.testing.assert_allclose(motion(torch.cat([x, torch.randn_like(x)], 1)).numpy(), single(x).numpy(),
                                   atol=1e-5)


def test_a_data_sets_sequences_give_each_frame_the_one_a_lag_before_it(tmp_path):
    from guidewire_model.data.sequences import scan_dataset
    from guidewire_model.synthetic import sequence_seed, write_dataset
    from guidewire_model.training.dataset import SegmentationDataset

    cfg = SyntheticConfig.preset("easy", size=64)
    write_dataset(tmp_path, 1, 4, cfg, seed=5, progress=False)
    run = generate_sequence(cfg, sequence_seed(5, 0), 4)
    val = SegmentationDataset(scan_dataset(tmp_path), 64, MEAN, STD, None, 0, motion=True)
    for k in range(4):
        x, _ = val[k]
        now = to_unit_float(run[k].image)
        np.testing.assert_allclose(x[0].numpy(), (now - MEAN) / STD, atol=1e-5)
        if k < MOTION_LAG:
            assert not x[1].any()  # the sequence has no frame that far back
        else:
            np.testing.assert_allclose(x[1].numpy(), motion_channel(now, to_unit_float(run[k - MOTION_LAG].image), STD),
                                       atol=1e-4)
    # Training draws its lags, and drops the channel on some samples, as on synthetic scenes.
    train = SegmentationDataset(scan_dataset(tmp_path), 64, MEAN, STD, AugmentConfig(rotate=False, flip_x=False,
                                flip_y=False, intensity=False), 0, motion=True)
    compared = 0
    for k in range(4):
        lag, dropped = motion_draw(0, 0, k)
        x, _ = train[k]
        if dropped or k < lag:
            assert not x[1].any()
        else:
            np.testing.assert_allclose(x[1].numpy(), motion_channel(to_unit_float(run[k].image),
                                                                    to_unit_float(run[k - lag].image), STD), atol=1e-4)
            compared += 1
    assert compared


# --------------------------------------------------------------------------- motion_only


def test_the_weights_that_read_the_motion_channel_are_the_grown_ones():
    from guidewire_model.training.motion_only import motion_reading_weights

    cfg = dataclasses.replace(load_train_config(config_dir() / "train_default_model.yaml").model, motion_input=True)
    assert motion_reading_weights(build_model(cfg), cfg) == {"encoder.conv1.weight": 1, "head.frame.0.weight": 1}
    with pytest.raises(ConfigError, match="set model.motion_input: true"):
        motion_reading_weights(build_model(dataclasses.replace(cfg, motion_input=False)),
                               dataclasses.replace(cfg, motion_input=False))


def test_the_regular_unet_reads_the_motion_channel_too():
    # It was built for one channel whatever the config said, and failed at its first batch.
    cfg = dataclasses.replace(load_train_config(config_dir() / "train_paper.yaml").model, architecture="unet",
                              pretrained=False, pretrained_weights=None, unet_base_channels=4, motion_input=True)
    net = build_model(cfg).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 2, 64, 64)).shape == (1, 1, 64, 64)
    from guidewire_model.training.motion_only import motion_reading_weights

    assert motion_reading_weights(net, cfg) == {"inc.0.weight": 1}


def test_motion_only_needs_a_motion_network_a_parent_and_nothing_else_frozen(tmp_path):
    demo = config_dir() / "train_demo.yaml"
    parent = str(tmp_path / "parent.pt")
    for settings in ({"motion_only": True, "init_from": parent},
                     {"motion_only": True, "model.motion_input": True},
                     {"motion_only": True, "model.motion_input": True, "init_from": parent, "frozen": ["encoder"]}):
        with pytest.raises(ConfigError, match="motion_only trains the motion channel's weights"):
            load_train_config(demo, settings)


def test_motion_only_training_changes_nothing_but_the_motion_channels_weights(tmp_path):
    from guidewire_model.training.checkpoint import load_checkpoint
    from guidewire_model.training.train import train

    torch.set_num_threads(1)
    base = {**TINY_SYNTHETIC_RUN, "optim.optimizer": "adamw", "optim.weight_decay": 0.01, "optim.lr": 0.003}
    demo = config_dir() / "train_demo.yaml"
    train(load_train_config(demo, {**base, "output_dir": str(tmp_path / "one")}))
    source = load_checkpoint(tmp_path / "one" / "last.pt")["model"]
    # Weight decay and a weight average would both move a frozen slice by a little: neither may.
    cfg = load_train_config(demo, {**base, "output_dir": str(tmp_path / "motion"), "model.motion_input": True,
                                   "motion_only": True, "optim.ema_decay": 0.9, "optim.epochs": 2,
                                   "init_from": str(tmp_path / "one" / "last.pt")})
    train(cfg)
    payload = load_checkpoint(tmp_path / "motion" / "last.pt")
    for weights in (payload["model"], payload["train_model"]):
        for key, value in weights.items():
            if key in ("encoder.conv1.weight", "head.frame.0.weight"):
                assert torch.equal(value[:, :1], source[key]), key
                assert value[:, 1:].abs().sum() > 0, key  # the motion channel's weights learnt
            else:
                assert torch.equal(value, source[key]), key
    single = build_model(load_train_config(demo, base).model).eval()
    single.load_state_dict(source)
    motion = build_model(cfg.model).eval()
    motion.load_state_dict(payload["model"])
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        # A frame without motion gets the parent's answer, to the bit; a moving one another.
        assert torch.equal(motion(torch.cat([x, torch.zeros_like(x)], 1)), single(x))
        assert not torch.equal(motion(torch.cat([x, torch.randn_like(x)], 1)), single(x))
