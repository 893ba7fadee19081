"""Training: it learns, it resumes bit-exactly after a SIGKILL, it refuses a changed config."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from guidewire_model.training.checkpoint import load_checkpoint
from guidewire_model.training.config import ConfigError, load_train_config
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.data.sequences import load_frame, scan_dataset
from guidewire_model.synthetic import SyntheticConfig, write_dataset
from guidewire_model.training.train import _train_epoch, config_differences, train

DEMO = config_dir() / "train_demo.yaml"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def easy_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("easy")
    # Wires wider than the preset's: at 128 px its 2.6-4 px (at 512) shrink below one pixel.
    write_dataset(root, 6, 8, SyntheticConfig.preset("easy", size=128, wire_width=(5.0, 7.0)), seed=3, progress=False)
    return root


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_dataset(root, 4, 4, SyntheticConfig.preset("easy", size=64), seed=5, progress=False)
    return root


def _tiny_overrides(root: Path, out: Path, **extra) -> dict:
    over = {
        "data.root": str(root), "output_dir": str(out), "model.input_size": 64, "model.encoder_width": 8,
        "optim.batch_size": 4, "optim.micro_batch_size": 2, "optim.epochs": 2,
    }
    over.update(extra)
    return over


def test_short_cpu_run_learns(easy_data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "run"
    cfg = load_train_config(DEMO, {"data.root": str(easy_data), "output_dir": str(out)})
    summary = train(cfg)

    # Baselines on the validation frames (at the network's input size, as validation measures):
    # all background scores F1 = 0, all foreground F1 = 2p / (1 + p) with p the wire fraction.
    split = json.loads((out / "split.json").read_text())
    seqs = {s.name: s for s in scan_dataset(easy_data)}
    fg = [load_frame(seqs[n], i)[1].mean() for n in split["val"] for i in range(len(seqs[n]))]
    p = float(np.mean(fg))
    all_fg_f1 = 2 * p / (1 + p)
    assert summary["best_val_f1"] > max(0.3, 5 * all_fg_f1), (summary["best_val_f1"], all_fg_f1, summary["history"])
    # Also at the fixed decision threshold of the config, not only at the best one of the sweep.
    fixed = max(r["val_f1"] for r in summary["history"])
    assert fixed > max(0.3, 5 * all_fg_f1), (fixed, all_fg_f1)
    assert summary["epochs_run"] == cfg.optim.epochs == len(summary["history"])

    for name in ("last.pt", "best.pt", "config.yaml", "split.json", "summary.json", "train.log"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    best = load_checkpoint(out / "best.pt")
    assert best["epoch"] == summary["best_epoch"] and best["best_f1"] == summary["best_val_f1"]
    assert load_checkpoint(out / "last.pt")["epoch"] == cfg.optim.epochs
    assert "best-threshold F1" in (out / "train.log").read_text()


def _train_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    sets = []
    for k, v in _tiny_overrides(root, out, **{"optim.epochs": 6}).items():
        if k != "output_dir":
            sets += ["--set", f"{k}={v}"]
    return [sys.executable, "-m", "guidewire_model.training.train", "--config", str(DEMO), *sets, "--output-dir", str(out), *extra]


def _env() -> dict:
    # One thread everywhere: float reductions then run in the same order in every process.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def test_resume_after_sigkill_is_bit_identical(tiny_data: Path, tmp_path: Path) -> None:
    ref_dir, cut_dir = tmp_path / "reference", tmp_path / "interrupted"
    ref = subprocess.Popen(_train_cmd(tiny_data, ref_dir), env=_env(), cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cut = subprocess.Popen(_train_cmd(tiny_data, cut_dir), env=_env(), cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (cut_dir / "last.pt").exists():
            assert cut.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        # Epoch 1 is on disk and epoch 2 has begun: kill without warning, as a crash or OOM would.
        cut.send_signal(signal.SIGKILL)
        cut.wait()
    finally:
        if cut.poll() is None:
            cut.kill()
    assert not (cut_dir / "summary.json").exists(), "the run finished before the kill"
    # The kill lands some time after the first checkpoint appeared (the machine is loaded), so how
    # many epochs completed is not fixed; everything that follows is checked exactly against it.
    killed = load_checkpoint(cut_dir / "last.pt")
    done_epochs = killed["epoch"]
    assert 1 <= done_epochs < 6
    assert [h["epoch"] for h in killed["history"]] == list(range(1, done_epochs + 1))

    resumed = subprocess.run(_train_cmd(tiny_data, cut_dir, "--resume"), env=_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {cut_dir} after epoch {done_epochs}" in resumed.stderr
    # It ran exactly the missing epochs: a resume that silently started over would end with the
    # same weights (training is deterministic), so the weights alone cannot show this.
    assert [int(e) for e in re.findall(r"epoch (\d+)/6  train loss", resumed.stderr)] == list(range(done_epochs + 1, 7))
    _, ref_err = ref.communicate(timeout=180)
    assert ref.returncode == 0, ref_err[-3000:]

    a, b = load_checkpoint(ref_dir / "last.pt"), load_checkpoint(cut_dir / "last.pt")
    assert a["epoch"] == b["epoch"] == 6
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["history"] == b["history"]
    # The epochs completed before the kill were the uninterrupted run's first epochs.
    assert killed["history"] == a["history"][:done_epochs]
    ref_sum = json.loads((ref_dir / "summary.json").read_text())
    cut_sum = json.loads((cut_dir / "summary.json").read_text())
    assert ref_sum["param_checksums"] == cut_sum["param_checksums"]


def test_repeated_kills_at_random_moments_resume_to_the_same_weights(tiny_data: Path, tmp_path: Path) -> None:
    """Several SIGKILLs at random moments (before the first checkpoint, mid-epoch, mid-write), each
    followed by --resume: the run ends with exactly the weights of an uninterrupted one."""
    ref_dir, cut_dir = tmp_path / "reference", tmp_path / "interrupted"
    t0 = time.monotonic()
    ref = subprocess.run(_train_cmd(tiny_data, ref_dir), env=_env(), cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]
    duration = time.monotonic() - t0
    rng = np.random.default_rng(2026)
    kills = 0
    for trial in range(4):
        args = _train_cmd(tiny_data, cut_dir, "--resume")
        run = subprocess.Popen(args, env=_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run.wait(timeout=float(rng.uniform(0.3, 0.8)) * duration)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait()
            kills += 1
        if (cut_dir / "summary.json").exists():
            break
    assert kills >= 2, "the random moments never caught the run alive; the test proved nothing"
    if not (cut_dir / "summary.json").exists():
        final = subprocess.run(_train_cmd(tiny_data, cut_dir, "--resume"), env=_env(), cwd=REPO,
                               capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stderr[-3000:]
    a, b = load_checkpoint(ref_dir / "last.pt"), load_checkpoint(cut_dir / "last.pt")
    assert a["epoch"] == b["epoch"] == 6
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["history"] == b["history"]


def test_resume_refuses_a_changed_config(tiny_data: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "run"
    train(load_train_config(DEMO, _tiny_overrides(tiny_data, out, **{"optim.epochs": 1})))
    with pytest.raises(ConfigError, match="already holds a run"):
        train(load_train_config(DEMO, _tiny_overrides(tiny_data, out, **{"optim.epochs": 1})))
    changed = load_train_config(DEMO, _tiny_overrides(tiny_data, out, **{"loss.alpha": 7.0, "optim.lr": 0.5}))
    with pytest.raises(ConfigError, match=r"loss\.alpha, optim\.lr"):
        train(changed, resume=True)
    # More epochs is what resume is for.
    summary = train(load_train_config(DEMO, _tiny_overrides(tiny_data, out, **{"optim.epochs": 2})), resume=True)
    assert summary["epochs_run"] == 2 and [h["epoch"] for h in summary["history"]] == [1, 2]


def test_config_differences_ignores_only_resumable_keys() -> None:
    a = {"optim": {"epochs": 1, "lr": 0.1}, "output_dir": "x", "model": {"input_size": 64}}
    b = {"optim": {"epochs": 5, "lr": 0.1}, "output_dir": "y", "model": {"input_size": 96}}
    assert config_differences(a, b) == ["model.input_size"]


class _LinearSegmenter(nn.Module):
    """BatchNorm-free network: its gradient does not depend on how a batch is split."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_gradient_accumulation_equals_one_full_batch(reduction: str, tmp_path: Path) -> None:
    from guidewire_model.training.losses import ModifiedFocalLoss

    g = torch.Generator().manual_seed(1)
    images = torch.randn(8, 1, 16, 16, generator=g)
    masks = (torch.rand(8, 1, 16, 16, generator=g) > 0.9).float()
    weights = []
    for micro in (8, 2, 1):
        cfg = load_train_config(DEMO, {"data.root": str(tmp_path), "optim.batch_size": 8,
                                       "optim.micro_batch_size": micro, "loss.reduction": reduction})
        model = _LinearSegmenter()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3 if reduction == "sum" else 0.1)
        # Two optimizer steps: a full batch of 8 and a short last batch of 3.
        loader = [(images, masks), (images[:3], masks[:3])]
        _train_epoch(model, loader, ModifiedFocalLoss(cfg.loss), opt, torch.amp.GradScaler("cpu", enabled=False),
                     cfg, torch.device("cpu"), None, 0)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(weights[0], torch.cat([p.detach().flatten() for p in _LinearSegmenter().parameters()]))
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights[2], weights[0], rtol=1e-5, atol=1e-6)


def test_warmup_lets_a_runs_first_steps_take_a_rising_share_of_the_rate(tmp_path: Path) -> None:
    from guidewire_model.training.losses import ModifiedFocalLoss
    from guidewire_model.training.train import warmup_factor

    assert [warmup_factor(k, 4) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0
    g = torch.Generator().manual_seed(3)
    images = torch.randn(4, 1, 16, 16, generator=g)
    masks = (torch.rand(4, 1, 16, 16, generator=g) > 0.9).float()
    cfg = load_train_config(DEMO, {"data.root": str(tmp_path), "optim.batch_size": 4, "optim.micro_batch_size": 4,
                                   "optim.warmup_steps": 4})
    lr = 0.01
    for epoch, share in ((0, 0.25), (2, 0.75), (4, 1.0)):  # epochs of one step: the run's steps 0, 2 and 4
        model = _LinearSegmenter()
        start = [p.detach().clone() for p in model.parameters()]
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        _train_epoch(model, [(images, masks)], ModifiedFocalLoss(cfg.loss), opt,
                     torch.amp.GradScaler("cpu", enabled=False), cfg, torch.device("cpu"), None, epoch)
        # Adam's first step moves each weight by its rate (the gradient's sign): here the warmed-up share.
        moved = max(float((p.detach() - s).abs().max()) for p, s in zip(model.parameters(), start))
        assert moved == pytest.approx(share * lr, rel=1e-4)
        assert opt.param_groups[0]["lr"] == lr  # the schedule's rate is left as it was


def test_amp_on_the_cpu_runs_training_steps_in_bfloat16(tmp_path: Path) -> None:
    from guidewire_model.training.losses import ModifiedFocalLoss
    from guidewire_model.training.train import _amp_dtype

    assert _amp_dtype(True, torch.device("cpu")) is torch.bfloat16
    assert _amp_dtype(True, torch.device("cuda")) is torch.float16
    assert _amp_dtype(False, torch.device("cpu")) is None

    g = torch.Generator().manual_seed(2)
    images = torch.randn(4, 1, 16, 16, generator=g)
    masks = (torch.rand(4, 1, 16, 16, generator=g) > 0.9).float()
    cfg = load_train_config(DEMO, {"data.root": str(tmp_path), "optim.batch_size": 4, "optim.micro_batch_size": 4})
    start = torch.cat([p.detach().flatten() for p in _LinearSegmenter().parameters()])
    moved = []
    for dtype in (None, torch.bfloat16):
        model = _LinearSegmenter()
        seen = []
        model.conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        _train_epoch(model, [(images, masks)] * 3, ModifiedFocalLoss(cfg.loss), opt,
                     torch.amp.GradScaler("cpu", enabled=False), cfg, torch.device("cpu"), dtype, 0)
        assert seen == [dtype or torch.float32] * 3
        assert next(model.parameters()).dtype == torch.float32  # the weights themselves stay float32
        moved.append(torch.cat([p.detach().flatten() for p in model.parameters()]) - start)
    # The same steps to bfloat16's precision (8 bits of mantissa), not bit for bit.
    assert not torch.equal(moved[1], moved[0])
    torch.testing.assert_close(moved[1], moved[0], rtol=0.05, atol=0.02 * float(moved[0].abs().max()))


def test_a_fine_tune_with_its_parents_seed_is_told_it_repeats_the_parents_scenes(tmp_path: Path) -> None:
    from guidewire_model.training.config import to_dict
    from guidewire_model.training.synthetic_dataset import SyntheticTrainSet
    from guidewire_model.training.train import repeats_parent_scenes

    synthetic = {"data.source": "synthetic", "data.synthetic.samples_per_epoch": 8,
                 "data.synthetic.frames_per_scene": 2, "data.synthetic.scenes_in_flight": 2,
                 "data.synthetic.crops_per_frame": 2}
    parent = load_train_config(DEMO, {**synthetic, "output_dir": str(tmp_path / "parent")})
    child = load_train_config(DEMO, {**synthetic, "output_dir": str(tmp_path / "child")})
    reseeded = load_train_config(DEMO, {**synthetic, "seed": parent.seed + 1, "output_dir": str(tmp_path / "new")})
    folder = load_train_config(DEMO, {"output_dir": str(tmp_path / "folder")})

    # What the warning says: the same seed gives the same scenes epoch for epoch, a new seed others.
    def scenes(cfg, epoch):
        data = SyntheticTrainSet(cfg.data.synthetic, 64, 0.5, 0.2, None, cfg.seed)
        data.set_epoch(epoch)
        return [data.scene_of(i)[:2] for i in range(len(data))]
    assert scenes(child, 1) == scenes(parent, 1)
    assert not set(scenes(reseeded, 1)) & set(scenes(parent, 1))

    assert repeats_parent_scenes(to_dict(parent), child)
    assert not repeats_parent_scenes(to_dict(parent), reseeded)
    assert not repeats_parent_scenes(to_dict(folder), child)   # a parent trained on a folder of frames
    assert not repeats_parent_scenes(to_dict(parent), folder)
    assert not repeats_parent_scenes({"model": {}}, child)     # an old checkpoint's config without them


def test_a_deep_supervised_run_trains_and_keeps_a_one_channel_model(tiny_data: Path, tmp_path: Path) -> None:
    from guidewire_model.training.losses import GuidewireLoss

    torch.set_num_threads(1)
    cfg = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "ds", **{
        "model.deep_supervision": True, "optim.epochs": 1}))
    summary = train(cfg)
    assert summary["epochs_run"] == 1 and math.isfinite(summary["history"][0]["train_loss"])
    saved = load_checkpoint(tmp_path / "ds" / "best.pt")
    assert any(k.startswith("aux.") for k in saved["model"])
    # Without the wrapper the loss refuses the extra maps rather than scoring them as guidewire.
    labels = torch.zeros(1, 1, 64, 64)
    with pytest.raises(ValueError, match="DeepSupervisionLoss"):
        GuidewireLoss(cfg.loss)(torch.zeros(1, 4, 64, 64), labels)


def test_init_from_starts_from_another_runs_weights(tiny_data: Path, tmp_path: Path) -> None:
    from guidewire_model.training.network import build_model
    from guidewire_model.training.train import _init_weights, build_config

    torch.set_num_threads(1)
    first = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "first", **{"optim.epochs": 1}))
    train(first)
    source = load_checkpoint(tmp_path / "first" / "last.pt")["model"]

    cfg = build_config(str(DEMO), [f"{k}={v}" for k, v in _tiny_overrides(tiny_data, tmp_path / "second").items()],
                       None, init_from=str(tmp_path / "first" / "last.pt"))
    assert cfg.init_from == str(tmp_path / "first" / "last.pt")
    model = build_model(cfg.model)
    _init_weights(model, cfg)
    for key, value in model.state_dict().items():
        assert torch.equal(value, source[key]), key
    # The run itself records where it started, and trains on from there.
    summary = train(cfg)
    assert summary["epochs_run"] == 2
    assert load_checkpoint(tmp_path / "second" / "last.pt")["config"]["init_from"] == cfg.init_from

    # A network with a device head starts from a one-channel run: its guidewire channel is taken
    # over, and the device channel keeps its fresh initialisation.
    headed_cfg = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "headed", **{
        "model.device_head": True, "init_from": str(tmp_path / "first" / "last.pt")}))
    headed = build_model(headed_cfg.model)
    fresh = {k: v.clone() for k, v in headed.state_dict().items()}
    _init_weights(headed, headed_cfg)
    grown = [k for k, v in fresh.items() if v.shape != source[k].shape]
    assert grown and all(k.startswith("head.") for k in grown)
    for key, value in headed.state_dict().items():
        if key in grown:
            assert torch.equal(value[:1], source[key]) and torch.equal(value[1:], fresh[key][1:]), key
        else:
            assert torch.equal(value, source[key]), key

    # The same for the shipped model's head (full resolution, with BatchNorm counters in it).
    from guidewire_model.training.train import _with_device_channel

    shipped = load_train_config(config_dir() / "train_default_model.yaml").model
    one, two = (build_model(dataclasses.replace(shipped, encoder_width=4, device_head=h)).state_dict()
                for h in (False, True))
    grown = _with_device_channel(one, two)
    assert {k for k in two if two[k].shape != one[k].shape} == {"head.classify.1.weight", "head.classify.1.bias"}
    assert all(grown[k].shape == two[k].shape for k in two)
    # The sub-pixel head's last layer holds four rows (sub-pixels) per channel: the guidewire's four
    # are taken over, the device channel's four stay fresh.
    subpixel = dataclasses.replace(shipped, encoder_width=4, full_resolution_head=False, subpixel_head=True)
    one, two = (build_model(dataclasses.replace(subpixel, device_head=h)).state_dict() for h in (False, True))
    grown = _with_device_channel(one, two)
    changed = {k for k in two if two[k].shape != one[k].shape}
    assert changed == {"head.classify.3.weight", "head.classify.3.bias"}
    for key in changed:
        assert grown[key].shape == two[key].shape
        assert torch.equal(grown[key][:4], one[key]) and torch.equal(grown[key][4:], two[key][4:])
    headed = build_model(dataclasses.replace(subpixel, device_head=True))
    headed.load_state_dict(grown)

    wider = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "third", **{
        "model.encoder_width": 16, "init_from": str(tmp_path / "first" / "last.pt")}))
    with pytest.raises(ConfigError, match="different network"):
        _init_weights(build_model(wider.model), wider)

    # Another head on the trained encoder and decoder: init_fresh keeps the new head's own weights.
    other_head = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "other_head", **{
        "model.full_resolution_head": False, "model.subpixel_head": True, "init_fresh": ["head"],
        "init_from": str(tmp_path / "first" / "last.pt")}))
    model = build_model(other_head.model)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    _init_weights(model, other_head)
    for key, value in model.state_dict().items():
        assert torch.equal(value, fresh[key] if key.startswith("head.") else source[key]), key
    assert any(key.startswith("head.") for key in fresh)
    # Without init_fresh, the same network is a different one.
    whole = dataclasses.replace(other_head, init_fresh=())
    with pytest.raises(ConfigError, match="different network"):
        _init_weights(build_model(whole.model), whole)
    unknown = dataclasses.replace(other_head, init_fresh=("neck",))
    with pytest.raises(ConfigError, match=r"init_fresh: \['neck'\] are not parts of this network"):
        _init_weights(build_model(unknown.model), unknown)
    with pytest.raises(ConfigError, match="init_fresh lists"):
        load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "fifth", **{"init_fresh": ["head"]}))
    missing = load_train_config(DEMO, _tiny_overrides(tiny_data, tmp_path / "fourth", init_from=str(tmp_path / "nope.pt")))
    with pytest.raises(ConfigError, match="does not exist"):
        train(missing)


def test_settings_added_after_a_run_started_do_not_block_its_resume() -> None:
    from guidewire_model.training.config import to_dict

    new = to_dict(load_train_config(DEMO))
    old = json.loads(json.dumps(new))
    del old["loss"]["skeleton_recall_weight"], old["optim"]["optimizer"], old["init_from"]
    assert config_differences(old, new) == []
    # A setting the old run lacks but the new config changes from its default does block it.
    new["optim"]["optimizer"] = "adam"
    assert config_differences(old, new) == ["optim.optimizer"]


def test_fine_tuning_measurably_improves_validation_f1_on_a_small_set(easy_data: Path, tmp_path: Path) -> None:
    # A model trained briefly on one kind of scene (hard preset, every orientation) is fine-tuned on a
    # small set of another (easy preset, the module's data set): the run scores the weights it was
    # given on its own validation frames first, and fine-tuning must beat that clearly.
    torch.set_num_threads(1)
    other = tmp_path / "other"
    write_dataset(other, 3, 4, SyntheticConfig.preset("hard", size=128, wire_width=(5.0, 7.0),
                                                     rotation_probability=1.0), seed=11, progress=False)
    source = load_train_config(DEMO, {"data.root": str(other), "output_dir": str(tmp_path / "source"),
                                      "optim.epochs": 2})
    train(source)
    tuned = load_train_config(DEMO, {"data.root": str(easy_data), "output_dir": str(tmp_path / "tuned"),
                                     "optim.epochs": 8, "init_from": str(tmp_path / "source" / "best.pt")})
    summary = train(tuned)
    before = summary["initial_val"]
    assert before is not None and set(before) >= {"val_f1", "val_best_threshold_f1", "val_f1_at_2"}
    assert summary["best_val_f1"] > before["val_best_threshold_f1"] + 0.1, (before, summary["history"])
    # The starting point survives a resume (it is kept in the checkpoint) and is in the log.
    assert load_checkpoint(tmp_path / "tuned" / "last.pt")["initial_val"] == before
    text = (tmp_path / "tuned" / "train.log").read_text()
    assert "initial weights from" in text
    # The lead is stated with how to check it on frames no epoch was chosen on.
    assert f"--compare {tmp_path / 'source' / 'best.pt'}" in text and "beat the initial weights by +" in text
