"""Training on fresh generator frames: deterministic per (seed, epoch, index), new every epoch,
ground truth that matches the generator's, and a training run that uses it and resumes exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from guidewire_model.training.checkpoint import load_checkpoint, model_from_payload
from guidewire_model.training.config import ConfigError, SyntheticDataConfig, load_train_config
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.metrics.pixels import ToleranceCounts, tolerance_counts
from guidewire_model.runtime.preprocess import to_unit_float
from guidewire_model.synthetic import SyntheticConfig, generate_sequence
from guidewire_model.training.synthetic_dataset import SyntheticTrainSet, SyntheticValidationSet, scene_seed
from guidewire_model.training.train import train

SMALL = SyntheticDataConfig(presets=("easy", "hard"), weights=(1.0, 1.0), samples_per_epoch=12,
                            frames_per_scene=3, crops_per_frame=2, scenes_in_flight=1, val_frames=5,
                            val_frames_per_scene=2, val_seed=7)


def _set(**kw) -> SyntheticTrainSet:
    args = dict(cfg=SMALL, input_size=64, mean=0.5, std=0.25, augment=None, seed=3, crop_size=32)
    args.update(kw)
    return SyntheticTrainSet(**args)


def test_samples_are_a_pure_function_of_seed_epoch_and_index():
    a, b = _set(), _set()
    b.set_epoch(0)
    # Requested in another order from a fresh object (another worker): the same tensors.
    for i in (5, 0, 11, 5):
        xa, ya = a[i]
        xb, yb = b[i]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert a[0][0].shape == (1, 32, 32) and a[0][1].shape == (1, 32, 32)


def test_each_epoch_draws_new_scenes_and_training_seeds_avoid_small_ones():
    s = _set()
    first = {s.scene_of(i)[0] for i in range(len(s))}
    s.set_epoch(1)
    second = {s.scene_of(i)[0] for i in range(len(s))}
    assert first.isdisjoint(second)
    # 12 samples = 6 frames = 2 scenes of 3 frames; every seed far above validation/evaluation seeds.
    assert len(first) == 2 and min(first | second) >= 2**31
    assert scene_seed(3, 0, 0) != scene_seed(4, 0, 0) != scene_seed(3, 0, 1)


def test_uncropped_sample_is_the_generators_frame_and_mask():
    s = _set(crop_size=None)
    gen_seed, preset, t = s.scene_of(4)  # frame 2 of scene 0
    frame = generate_sequence(SyntheticConfig.preset(preset, size=64), gen_seed, SMALL.frames_per_scene)[t]
    x, y = s[4]
    assert np.array_equal(y[0].numpy(), frame.mask.astype(np.float32))
    np.testing.assert_allclose(x[0].numpy() * 0.25 + 0.5, to_unit_float(frame.image), atol=1e-6)
    assert y.sum() > 0  # every scene has wires


def test_consecutive_samples_cycle_through_the_scenes_in_flight():
    cfg = SyntheticDataConfig(presets=("easy",), weights=(1.0,), samples_per_epoch=48, frames_per_scene=2,
                              crops_per_frame=2, scenes_in_flight=3)
    s = _set(cfg=cfg)
    seeds = [s.scene_of(i)[0] for i in range(len(s))]
    # Blocks of 3 scenes x 2 frames x 2 crops = 12 samples: any 3 consecutive samples are 3 scenes,
    # each scene gets 4 samples (2 per frame), and blocks do not share scenes.
    assert all(len(set(seeds[i:i + 3])) == 3 for i in range(0, 12 - 2))
    blocks = [seeds[b:b + 12] for b in range(0, 48, 12)]
    assert all(len(set(b)) == 3 and all(b.count(x) == 4 for x in b) for b in blocks)
    assert len(set(seeds)) == 12
    frames = [s.scene_of(i)[2] for i in range(12)]
    assert sorted(frames) == [0] * 6 + [1] * 6
    # Out of order and through a fresh object, a sample is still the same tensors (the cache only
    # saves rendering).
    other = _set(cfg=cfg)
    for i in (13, 2, 40, 2):
        assert torch.equal(s[i][0], other[i][0]) and torch.equal(s[i][1], other[i][1])


def test_preset_weights_are_honoured():
    only_hard = SyntheticDataConfig(presets=("easy", "hard"), weights=(0.0, 1.0), samples_per_epoch=40,
                                    frames_per_scene=1, crops_per_frame=1, scenes_in_flight=1)
    s = _set(cfg=only_hard)
    assert {s.scene_of(i)[1] for i in range(len(s))} == {"hard"}


def test_generator_overrides_change_training_scenes_only():
    # Wires 3x as wide in training scenes (12 px at 512, 3 px here); validation keeps the preset
    # (the ablation's yardstick).
    wide = dataclasses.replace(SMALL, presets=("easy",), weights=(1.0,), generator_overrides={"wire_width": [12.0, 12.0]})
    s = _set(cfg=wide, crop_size=None, input_size=128)
    plain = _set(cfg=dataclasses.replace(wide, generator_overrides={}), crop_size=None, input_size=128)
    gen_seed, preset, t = s.scene_of(0)
    want = generate_sequence(SyntheticConfig.preset(preset, size=128, wire_width=(12.0, 12.0)), gen_seed,
                             SMALL.frames_per_scene)[t]
    assert np.array_equal(s[0][1][0].numpy(), want.mask.astype(np.float32))
    assert s[0][1].sum() > 1.5 * plain[0][1].sum()
    v, v_plain = SyntheticValidationSet(wide, 64, 0.5, 0.25), SyntheticValidationSet(SMALL, 64, 0.5, 0.25)
    assert torch.equal(v[0][1], v_plain[0][1])


@pytest.mark.parametrize("over, words", [
    ({"nope_probability": 0.5}, "unknown SyntheticConfig field"),
    ({"faint_wire_probability": 2.0}, "faint_wire_probability"),
    ({"size": 128}, "model.input_size"),
])
def test_bad_generator_overrides_are_refused_naming_the_key(over, words):
    with pytest.raises(ConfigError, match=words):
        load_train_config(config_dir() / "train_demo.yaml", {
            "data.source": "synthetic", **{f"data.synthetic.generator_overrides.{k}": v for k, v in over.items()}})


def test_validation_set_is_fixed_and_takes_presets_in_turn():
    v1 = SyntheticValidationSet(SMALL, 64, 0.5, 0.25)
    v2 = SyntheticValidationSet(SMALL, 64, 0.5, 0.25)
    assert len(v1) == 5
    assert v1.names == ["easy_7", "easy_7", "hard_8", "hard_8", "easy_9"]
    for i in range(len(v1)):
        assert torch.equal(v1[i][0], v2[i][0]) and torch.equal(v1[i][1], v2[i][1])


@pytest.mark.parametrize("over, words", [
    ({"data.synthetic.presets": ["medium"], "data.synthetic.weights": [1.0, 2.0]}, "equal length"),
    ({"data.synthetic.weights": [0.0, 0.0]}, "positive sum"),
    ({"data.source": "synthetic", "data.synthetic.presets": ["nope", "hard"]}, "unknown preset"),
    ({"optim.optimizer": "rmsprop"}, "optim.optimizer"),
])
def test_bad_synthetic_settings_are_refused(over, words):
    with pytest.raises(ConfigError, match=words):
        load_train_config(config_dir() / "train_demo.yaml", over)


def _synthetic_run(out, epochs: int, **extra):
    return load_train_config(config_dir() / "train_demo.yaml", {
        "output_dir": str(out), "model.input_size": 64, "model.encoder_width": 8,
        "optim.optimizer": "adam", "optim.lr": 0.003, "optim.batch_size": 4, "optim.micro_batch_size": 4,
        "optim.epochs": epochs, "loss.skeleton_recall_weight": 0.2, "data.source": "synthetic",
        "data.crop_size": 32, "data.num_workers": 0,
        "data.synthetic.presets": ["easy"], "data.synthetic.weights": [1.0],
        "data.synthetic.samples_per_epoch": 8, "data.synthetic.frames_per_scene": 2,
        "data.synthetic.val_frames": 4, "data.synthetic.val_frames_per_scene": 2,
        "augment.rotate": False, **extra,
    })


def _assert_recorded_f1_at_2_is_the_checkpoints(path, history) -> None:
    """Recompute an epoch's validation F1@2 and device share from its checkpoint and compare them
    with the history's record."""
    payload = load_checkpoint(path)
    model, cfg = model_from_payload(payload, path)
    record = history[payload["epoch"] - 1]
    val = SyntheticValidationSet(cfg.data.synthetic, cfg.model.input_size, cfg.model.input_mean, cfg.model.input_std)
    counts = ToleranceCounts()
    on_device = predicted = 0
    scenes: dict[str, list] = {}
    with torch.no_grad():
        for i in range(len(val)):
            image, labels = val[i]
            prob = torch.sigmoid(model(image[None]))[0, 0].numpy()
            # Validation keeps probabilities in half precision until the sweep has chosen its threshold.
            pred = prob.astype(np.float16) >= record["val_best_threshold"]
            counts = counts + tolerance_counts(pred, labels[0].numpy() == 1)
            # The generator's own device pixels, not the targets' labels: a direct count.
            preset, seed = val.names[i].split("_")
            per_scene = cfg.data.synthetic.val_frames_per_scene
            if val.names[i] not in scenes:
                scenes[val.names[i]] = generate_sequence(
                    SyntheticConfig.preset(preset, size=cfg.model.input_size), int(seed), per_scene)
            devices = scenes[val.names[i]][i % per_scene].devices
            on_device += int(np.count_nonzero(pred & (devices > 0)))
            predicted += int(np.count_nonzero(pred))
    assert counts.pred > 0 and counts.skeleton > 0, counts
    assert (record["val_precision_at_2"], record["val_recall_at_2"], record["val_f1_at_2"]) == (
        counts.precision, counts.recall, counts.f1), (path.name, counts)
    assert record["val_device_share"] == pytest.approx(on_device / predicted, abs=1e-12)


def test_training_on_fresh_synthetic_frames_resumes_to_the_same_weights(tmp_path):
    torch.set_num_threads(1)
    whole = train(_synthetic_run(tmp_path / "whole", 3))
    assert whole["epochs_run"] == 3 and not (tmp_path / "whole" / "split.json").exists()
    # The F1@2 each epoch reports is that of the weights saved with it, on the synthetic validation
    # frames, at the epoch's best threshold: recomputed from last.pt and best.pt.
    for name in ("last.pt", "best.pt"):
        _assert_recorded_f1_at_2_is_the_checkpoints(tmp_path / "whole" / name, whole["history"])
    train(_synthetic_run(tmp_path / "cut", 1))
    resumed = train(_synthetic_run(tmp_path / "cut", 3), resume=True)
    assert resumed["history"] == whole["history"]
    assert resumed["param_checksums"] == whole["param_checksums"]


def test_a_weight_averaged_run_keeps_validates_and_resumes_the_average(tmp_path):
    torch.set_num_threads(1)
    settings = {"optim.ema_decay": 0.9, "keep_epochs": True}
    whole = train(_synthetic_run(tmp_path / "whole", 3, **settings))
    last = load_checkpoint(tmp_path / "whole" / "last.pt")
    # The kept weights are the average, not the optimizer's own, and each epoch's record scores them.
    assert any(not torch.equal(last["model"][k], last["train_model"][k]) for k in last["model"])
    # The average is stored once, as "model": the payload's weight_average holds its counters.
    assert last["weight_average"] == {"decay": 0.9, "steps": 3 * 8 // 4}
    for name in ("last.pt", "best.pt"):
        _assert_recorded_f1_at_2_is_the_checkpoints(tmp_path / "whole" / name, whole["history"])
    # Every epoch's averaged weights, slim, beside the run.
    kept = sorted((tmp_path / "whole" / "epochs").glob("epoch_*.pt"))
    assert [p.name for p in kept] == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    for path in kept:
        payload = load_checkpoint(path)
        assert "optimizer" not in payload and "train_model" not in payload
        _assert_recorded_f1_at_2_is_the_checkpoints(path, whole["history"])
    assert all(torch.equal(load_checkpoint(kept[-1])["model"][k], last["model"][k]) for k in last["model"])
    # Killed after epoch 1 and resumed: the same average and the same optimizer weights.
    train(_synthetic_run(tmp_path / "cut", 1, **settings))
    resumed = train(_synthetic_run(tmp_path / "cut", 3, **settings), resume=True)
    assert resumed["history"] == whole["history"]
    assert resumed["param_checksums"] == whole["param_checksums"]
    again = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert all(torch.equal(again["model"][k], last["model"][k]) for k in last["model"])


def test_a_run_started_without_an_average_is_not_resumed_with_one(tmp_path):
    torch.set_num_threads(1)
    train(_synthetic_run(tmp_path / "run", 1))
    with pytest.raises(ConfigError, match="optim.ema_decay"):
        train(_synthetic_run(tmp_path / "run", 2, **{"optim.ema_decay": 0.9}), resume=True)


def test_a_device_head_run_trains_its_device_channel_and_keeps_one_output(tmp_path):
    from guidewire_model.training.network import build_model
    from guidewire_model.training.train import _build_datasets, _seed_everything

    torch.set_num_threads(1)
    # No weight decay: only the loss's gradient can move the device channel's weights.
    cfg = _synthetic_run(tmp_path / "run", 1, **{"model.device_head": True, "data.synthetic.presets": ["hard"],
                                                  "optim.weight_decay": 0.0})
    assert _build_datasets(cfg, None, None)[0].with_devices  # targets carry the devices to find
    train(cfg)
    payload = load_checkpoint(tmp_path / "run" / "last.pt")
    _seed_everything(cfg.seed)  # the initial weights training started from
    start = build_model(cfg.model).state_dict()
    last_conv = [k for k in start if k.startswith("head.") and k.endswith("weight")][-1]
    assert payload["model"][last_conv].shape[0] == 2
    assert not torch.equal(payload["model"][last_conv][1], start[last_conv][1])  # the device channel learned
    model, _ = model_from_payload(payload)
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("preset", ["hard", "varied"])
def test_with_devices_marks_the_generators_devices_and_changes_nothing_else(preset):
    from guidewire_model.training.losses import DEVICE_LABEL

    cfg = _with_devices_cfg(preset)
    plain, marked = _set(crop_size=None, cfg=cfg), _set(crop_size=None, cfg=cfg, with_devices=True)
    seen_device = seen_edges = False
    for i in range(len(plain)):
        gen_seed, preset_of, t = marked.scene_of(i)
        frame = generate_sequence(SyntheticConfig.preset(preset_of, size=64), gen_seed, SMALL.frames_per_scene)[t]
        (x0, y0), (x1, y1) = plain[i], marked[i]
        assert torch.equal(x0, x1) and torch.equal(y0, (y1 == 1).float())
        # A phantom's channel outlines are hard negatives like the devices.
        negatives = frame.devices if frame.edges is None else frame.devices | frame.edges
        expected = np.where(frame.mask > 0, 1, np.where(negatives > 0, DEVICE_LABEL, 0))
        assert np.array_equal(y1[0].numpy(), expected.astype(np.float32))
        seen_device |= bool((y1 == DEVICE_LABEL).any())
        seen_edges |= frame.edges is not None and bool(frame.edges.any())
    assert seen_device  # the hard preset draws catheters and leads
    assert seen_edges == (preset == "varied")  # only varied draws phantoms


def _with_devices_cfg(preset: str = "hard") -> SyntheticDataConfig:
    from dataclasses import replace

    # Enough varied scenes that some are phantoms (35 % of them).
    return replace(SMALL, presets=(preset,), weights=(1.0,), samples_per_epoch=12 if preset == "hard" else 60)
