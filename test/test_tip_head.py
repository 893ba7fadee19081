"""The tip channel (``model.tip_head``): its target, its loss, the network's channels, and a run.

Targets come from the generator's own centrelines; the loss is checked against hand-computed
values; the run is a real (tiny) training on fresh synthetic frames.
"""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from drawn_lines import line_with_tip
from tiny_run import TINY_SYNTHETIC_RUN
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.core.wire import Wire
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_model.training.checkpoint import load_checkpoint, model_from_payload
from guidewire_model.training.config import AugmentConfig, ConfigError, LossConfig, SyntheticDataConfig, load_train_config
from guidewire_model.training.dataset import tip_heatmap, training_sample
from guidewire_model.training.linknet import TIP_PRIOR_LOGIT
from guidewire_model.training.losses import DEVICE_LABEL, GuidewireLoss, keypoint_focal_loss
from guidewire_model.training.network import build_model
from guidewire_model.training.synthetic_dataset import SyntheticTrainSet, visible_tips

SMALL = SyntheticDataConfig(presets=("easy",), weights=(1.0,), samples_per_epoch=8, frames_per_scene=2,
                            crops_per_frame=1, scenes_in_flight=1, val_frames=4, val_frames_per_scene=2, val_seed=7)


# --------------------------------------------------------------------------- target


def test_tip_heatmap_is_one_at_each_tip_and_a_gaussian_around_it():
    heat = tip_heatmap((20, 30), np.array([[5, 6], [5, 9], [0, 29]]), sigma_px=2.0)
    assert heat.dtype == np.float32 and heat.shape == (20, 30)
    assert heat[5, 6] == 1.0 and heat[5, 9] == 1.0 and heat[0, 29] == 1.0
    # One pixel right of the first tip: exp(-1 / 8); between the two tips the nearer one wins.
    assert heat[5, 7] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert heat[5, 8] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert heat[7, 6] == pytest.approx(math.exp(-4 / 8), rel=1e-6)
    assert heat[15, 15] == 0.0  # beyond three sigmas
    assert not tip_heatmap((8, 8), np.zeros((0, 2), int), 2.0).any()


def test_a_sample_with_tips_has_their_heatmap_as_a_second_channel_and_nothing_else_changes():
    image, mask, tips = line_with_tip()
    plain = training_sample(image, mask, None, None, None, 0.5, 0.25)
    x, y = training_sample(image, mask, None, None, None, 0.5, 0.25, tips=tips, tip_sigma_px=1.5)
    assert torch.equal(x, plain[0]) and y.shape == (2, 32, 32)
    assert torch.equal(y[:1], plain[1])  # the tip's pixel is a wire pixel again
    assert tuple(np.argwhere(y[1].numpy() == 1.0)[0]) == (10, 20)


def test_the_tip_moves_with_flips_and_crops_and_the_random_stream_is_unchanged():
    image, mask, tips = line_with_tip()
    flips = AugmentConfig(rotate=False, flip_x=True, flip_y=True, intensity=False)
    for seed in range(12):
        plain = training_sample(image, mask, np.random.default_rng(seed), flips, 24, 0.5, 0.25)
        x, y = training_sample(image, mask, np.random.default_rng(seed), flips, 24, 0.5, 0.25, tips=tips)
        assert torch.equal(x, plain[0]) and torch.equal(y[:1], plain[1])
        labels, heat = y[0].numpy(), y[1].numpy()
        peaks = np.argwhere(heat == 1.0)
        wire = np.argwhere(labels == 1)
        if len(peaks):
            # The tip is the end of the wire's pixel run that lies away from its start.
            (r, c), = peaks
            assert labels[r, c] == 1
            row = wire[wire[:, 0] == r][:, 1]
            assert c in (row.min(), row.max())
        else:
            # Cropped away: the wire's run reaches the crop's edge on the tip's side.
            assert len(wire) == 0 or wire[:, 1].min() == 0 or wire[:, 1].max() == 23


def test_the_tip_target_keeps_device_labels():
    image, mask, tips = line_with_tip()
    devices = np.zeros_like(mask)
    devices[20, 5:25] = 1
    _, y = training_sample(image, mask, None, None, None, 0.5, 0.25, devices=devices, tips=tips)
    assert (y[0] == DEVICE_LABEL).sum() == 20 and y[1].max() == 1.0


def test_visible_tips_are_the_wires_last_points_inside_the_frame_and_its_field():
    frame = generate_sequence(SyntheticConfig.preset("easy", size=128), 3, 1)[0]
    tips = visible_tips(frame)
    assert len(tips) >= 1
    for tip in tips:
        assert any(np.allclose(tip, np.asarray(w.points)[-1]) for w in frame.wires)
    inside = Wire.from_points(np.array([[10.0, 10.0], [40.0, 30.0]]))
    at_border = Wire.from_points(np.array([[10.0, 10.0], [40.0, 127.0]]))
    fake = SimpleNamespace(mask=np.zeros((128, 128), np.uint8), wires=[inside, at_border], field_of_view=None)
    assert np.allclose(visible_tips(fake), [[40.0, 30.0]])
    shutter = np.ones((128, 128), np.uint8)
    shutter[:, 35:] = 0  # the first wire's tip lies behind a shutter
    assert visible_tips(SimpleNamespace(**{**vars(fake), "field_of_view": shutter})).shape == (0, 2)


def test_training_samples_carry_the_tips_only_when_asked():
    common = dict(cfg=SMALL, input_size=64, mean=0.5, std=0.25, augment=None, seed=3, crop_size=None)
    plain, tipped = SyntheticTrainSet(**common), SyntheticTrainSet(**common, tip_sigma_px=2.0)
    for i in range(len(plain)):
        (x0, y0), (x1, y1) = plain[i], tipped[i]
        assert torch.equal(x0, x1) and torch.equal(y0, y1[:1]) and y1.shape == (2, 64, 64)
        gen_seed, preset, t = tipped.scene_of(i)
        frame = generate_sequence(SyntheticConfig.preset(preset, size=64), gen_seed, SMALL.frames_per_scene)[t]
        expected = {tuple(p) for p in np.round(visible_tips(frame)[:, ::-1]).astype(int)}
        assert {tuple(p) for p in np.argwhere(y1[1].numpy() == 1.0)} == expected


# --------------------------------------------------------------------------- loss


def test_keypoint_focal_loss_by_hand():
    logits = torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]])
    heat = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    p = torch.sigmoid(logits)[0, 0]
    expected = -(
        (1 - p[0, 0]) ** 2 * math.log(p[0, 0])
        + (1 - 0.5) ** 4 * p[0, 1] ** 2 * math.log(1 - p[0, 1])
        + p[1, 0] ** 2 * math.log(1 - p[1, 0])
        + p[1, 1] ** 2 * math.log(1 - p[1, 1])
    ) / 1
    assert float(keypoint_focal_loss(logits, heat)) == pytest.approx(float(expected), rel=1e-6)
    # No keypoint in the batch: the background terms, divided by 1.
    none = torch.zeros_like(heat)
    assert float(keypoint_focal_loss(logits, none)) == pytest.approx(
        float(-(torch.sigmoid(logits) ** 2 * torch.log(1 - torch.sigmoid(logits))).sum()), rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        keypoint_focal_loss(logits, heat[..., :1])


def test_the_loss_adds_the_tip_term_to_the_guidewire_loss():
    cfg = LossConfig(alpha=20.0, gamma=2.0, reduction="mean", skeleton_recall_weight=0.3, device_weight=5.0,
                     tip_weight=0.25)
    loss = GuidewireLoss(cfg)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 16, 16, generator=g)
    labels = (torch.rand(2, 1, 16, 16, generator=g) < 0.2).float()
    labels[labels == 0] = torch.where(torch.rand(int((labels == 0).sum()), generator=g) < 0.1, float(DEVICE_LABEL), 0.0)
    heat = torch.from_numpy(np.stack([tip_heatmap((16, 16), np.array([[4, 4]]), 2.0)] * 2))[:, None]
    total = loss(logits, torch.cat([labels, heat], dim=1))
    expected = loss(logits[:, :1], labels) + 0.25 * keypoint_focal_loss(logits[:, 1:], heat)
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="tip channel"):
        loss(logits[:, :1], torch.cat([labels, heat], dim=1))
    with pytest.raises(ValueError, match="tip_weight"):
        GuidewireLoss(dataclasses.replace(cfg, tip_weight=-1.0))


# --------------------------------------------------------------------------- network


@pytest.mark.parametrize("head", ["full_resolution", "subpixel", "linknet"])
def test_the_tip_channel_comes_from_its_own_branch_and_stays_out_of_eval_outputs(head):
    shipped = load_train_config(config_dir() / "train_default_model.yaml").model
    cfg = dataclasses.replace(shipped, encoder_width=4, full_resolution_head=head == "full_resolution",
                              subpixel_head=head == "subpixel", tip_head=True, tip_channels=6)
    torch.manual_seed(0)
    model = build_model(cfg)
    x = torch.randn(1, 1, 64, 64)
    model.train()
    assert model(x).shape == (1, 2, 64, 64)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (1, 1, 64, 64)
        both = model.all_logits(x)
    assert both.shape == (1, 2, 64, 64) and torch.equal(both[:, :1], model(x))
    # The same network without the branch computes the same guidewire channel.
    plain = build_model(dataclasses.replace(cfg, tip_head=False)).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("tip.")})
    with torch.no_grad():
        assert torch.equal(plain(x), both[:, :1])
    # The tip channel starts near probability 0.01 (CenterNet's prior).
    assert torch.all(model.tip.classify[1].bias == TIP_PRIOR_LOGIT)
    with_devices = build_model(dataclasses.replace(cfg, device_head=True)).train()
    assert with_devices(x).shape == (1, 3, 64, 64)


def test_the_tip_loss_does_not_reach_the_network_that_finds_the_wires():
    shipped = load_train_config(config_dir() / "train_default_model.yaml").model
    model = build_model(dataclasses.replace(shipped, encoder_width=4, tip_head=True)).train()
    logits = model(torch.randn(2, 1, 64, 64))
    keypoint_focal_loss(logits[:, -1:], torch.zeros(2, 1, 64, 64)).backward()
    for name, p in model.named_parameters():
        if name.startswith("tip."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None or not p.grad.any(), name


def test_a_tip_head_is_refused_where_the_data_has_no_tips(tmp_path):
    from guidewire_model.training.train import _build_datasets

    cfg = load_train_config(config_dir() / "train_demo.yaml",
                            {"data.root": str(tmp_path), "output_dir": str(tmp_path / "run"), "model.tip_head": True})
    with pytest.raises(ConfigError, match="data.source: synthetic"):
        _build_datasets(cfg, [], [])
    unet = load_train_config(config_dir() / "train_demo.yaml", {"data.root": str(tmp_path), "model.architecture": "unet",
                                                                 "model.tip_head": True})
    with pytest.raises(ConfigError, match="model.tip_head is a 'linknet' option"):
        build_model(unet.model)


def test_frozen_parts_are_checked(tmp_path):
    from guidewire_model.training.train import freeze_parts, train

    demo = config_dir() / "train_demo.yaml"
    synthetic = {"data.source": "synthetic", "model.input_size": 64, "model.encoder_width": 4,
                 "data.synthetic.samples_per_epoch": 4, "data.synthetic.val_frames": 2, "data.num_workers": 0,
                 "output_dir": str(tmp_path / "run")}
    with pytest.raises(ConfigError, match="init_from is empty"):
        train(load_train_config(demo, {**synthetic, "frozen": ["encoder"]}))
    assert not (tmp_path / "run").exists()  # refused before anything is written
    shipped = load_train_config(config_dir() / "train_default_model.yaml").model
    model = build_model(dataclasses.replace(shipped, encoder_width=4, tip_head=True))
    with pytest.raises(ConfigError, match=r"\['neck'\] are not parts of this network"):
        freeze_parts(model, ["neck"])
    with pytest.raises(ConfigError, match="nothing of the network to train"):
        freeze_parts(model, ["encoder", "decoder", "head", "tip"])


# --------------------------------------------------------------------------- a run


def test_a_tip_branch_learns_on_a_frozen_one_channel_model_and_changes_nothing_of_it(tmp_path):
    from guidewire_model.training.train import _init_weights, train

    torch.set_num_threads(1)
    base = {**TINY_SYNTHETIC_RUN, "optim.weight_decay": 0.0}
    first = load_train_config(config_dir() / "train_demo.yaml", {**base, "output_dir": str(tmp_path / "one")})
    train(first)
    source = load_checkpoint(tmp_path / "one" / "last.pt")
    # With a weight average too: an average of the frozen weights would drift from them by rounding.
    base["optim.ema_decay"] = 0.9
    cfg = load_train_config(config_dir() / "train_demo.yaml", {
        **base, "output_dir": str(tmp_path / "tip"), "model.tip_head": True, "loss.tip_weight": 1.0,
        "frozen": ["encoder", "decoder", "head"], "init_from": str(tmp_path / "one" / "last.pt")})
    started = build_model(cfg.model)
    fresh = {k: v.clone() for k, v in started.state_dict().items()}
    _init_weights(started, cfg)  # the branch is new: it keeps its own initialisation
    for key, value in started.state_dict().items():
        assert torch.equal(value, fresh[key] if key.startswith("tip.") else source["model"][key]), key
    summary = train(cfg)
    payload = load_checkpoint(tmp_path / "tip" / "last.pt")
    # Weights and BatchNorm statistics of everything but the branch: exactly the first run's.
    for key, value in payload["model"].items():
        if not key.startswith("tip."):
            assert torch.equal(value, source["model"][key]), key
    assert any(not torch.equal(payload["model"][k], fresh[k]) for k in fresh if k.startswith("tip."))
    # So its validation is the first run's too.
    assert summary["history"][-1]["val_best_threshold_f1"] == source["history"][-1]["val_best_threshold_f1"]
    model, _ = model_from_payload(payload)
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)
        assert model.all_logits(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)
    # The torch backend serves the checkpoint as its exported file would: wire and tip channels.
    from guidewire_model.training.torch_backend import TorchBackend

    backend = TorchBackend.from_payload(payload)
    assert backend.info.has_tips and backend.infer(np.zeros((1, 1, 64, 64), np.float32)).shape == (1, 2, 64, 64)
