"""Atomic checkpoint saves, safe loads and model restoration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from guidewire_model.training import checkpoint as ckpt_mod
from guidewire_model.training.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from guidewire_model.training.config import load_train_config, to_dict
from guidewire_model.training.network import build_model
from guidewire_model.training.train import _rng_state, _set_rng_state

SMALL_MODEL = {
    "model.encoder": "resnet18",
    "model.encoder_width": 8,
    "model.pretrained": False,
    "model.input_size": 64,
}


@pytest.fixture(scope="module")
def small_cfg():
    return load_train_config(None, SMALL_MODEL)


def _payload(cfg, value: float = 0.0) -> dict:
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with torch.no_grad():
        next(model.parameters()).fill_(value)
    return {"model": model.state_dict(), "config": to_dict(cfg), "epoch": 3, "history": [{"val_f1": 0.5}]}


def test_roundtrip_keeps_tensors_and_plain_data(tmp_path: Path, small_cfg) -> None:
    payload = _payload(small_cfg, 1.5)
    payload["rng"] = _rng_state()
    path = save_checkpoint(tmp_path / "run" / "last.pt", payload)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["history"] == [{"val_f1": 0.5}]
    assert loaded["config"] == to_dict(small_cfg)
    for key, value in payload["model"].items():
        assert torch.equal(loaded["model"][key], value), key
    # RNG states survive the weights_only round trip and restore the exact streams.
    expected = (torch.rand(3), np.random.rand(3), __import__("random").random())
    _set_rng_state(loaded["rng"])
    again = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"], "temporary files left behind"


def test_failed_replace_keeps_previous_checkpoint(tmp_path: Path, small_cfg, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _payload(small_cfg, 1.0))

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_mod.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, _payload(small_cfg, 2.0))
    monkeypatch.undo()
    loaded = load_checkpoint(path)
    assert float(next(iter(loaded["model"].values())).flatten()[0]) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_writer_dying_mid_write_keeps_previous_checkpoint(tmp_path: Path, small_cfg, monkeypatch) -> None:
    path = tmp_path / "last.pt"
    save_checkpoint(path, _payload(small_cfg, 1.0))
    real_save = torch.save

    def half_save(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)
        fh.truncate(fh.tell() // 2)  # half the bytes reached the disk, then the disk filled up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", half_save)
    with pytest.raises(OSError):
        save_checkpoint(path, _payload(small_cfg, 2.0))
    monkeypatch.undo()
    assert float(next(iter(load_checkpoint(path)["model"].values())).flatten()[0]) == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_truncated_file_is_reported_by_name(tmp_path: Path, small_cfg) -> None:
    path = save_checkpoint(tmp_path / "best.pt", _payload(small_cfg))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="best.pt.*(truncated|corrupt)"):
        load_checkpoint(path)


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt.*not found"):
        load_checkpoint(tmp_path / "nope.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match=r"foreign.pt.*not a guidewire checkpoint.*\['model', 'config'\]"):
        load_checkpoint(foreign)
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(CheckpointError, match="list.pt.*not a guidewire checkpoint"):
        load_checkpoint(listed)
    with pytest.raises(CheckpointError, match="without key"):
        save_checkpoint(tmp_path / "x.pt", {"model": {}})


class _Payload:
    """Pickles to a call that would create a file if unpickling ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_never_runs_code_from_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "extra": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_load_model_restores_weights_in_eval_mode(tmp_path: Path, small_cfg) -> None:
    payload = _payload(small_cfg, 0.25)
    path = save_checkpoint(tmp_path / "best.pt", payload)
    model, cfg = load_model(path)
    assert cfg == small_cfg
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, payload["model"][key]), key


def test_load_model_rejects_weights_of_another_architecture(tmp_path: Path, small_cfg) -> None:
    payload = _payload(small_cfg)
    wider = to_dict(small_cfg)
    wider["model"]["encoder_width"] = 16
    payload["config"] = wider
    path = save_checkpoint(tmp_path / "mixed.pt", payload)
    with pytest.raises(CheckpointError, match="mixed.pt.*do not fit"):
        load_model(path)
    payload["config"] = {"model": {"architecture": "transformer"}}
    path = save_checkpoint(tmp_path / "bad_cfg.pt", payload)
    with pytest.raises(CheckpointError, match="bad_cfg.pt.*stored config"):
        load_model(path)


def test_validation_threshold_is_the_one_of_the_saved_epoch(tmp_path: Path, small_cfg) -> None:
    import subprocess
    import sys

    from guidewire_model.training.checkpoint import recorded_threshold, validation_threshold

    history = [{"epoch": 1, "val_best_threshold": 0.31}, {"epoch": 2, "val_best_threshold": 0.62},
               {"epoch": 3, "val_best_threshold": 0.45}]
    payload = {"model": {}, "config": {}, "epoch": 2, "history": history}
    assert validation_threshold(payload) == recorded_threshold(payload) == 0.62
    assert recorded_threshold({**payload, "epoch": 4}) is None
    assert recorded_threshold({"model": {}, "config": {}}) is None
    with pytest.raises(CheckpointError, match="no validation threshold"):
        validation_threshold({**payload, "epoch": 4}, "x.pt")
    path = save_checkpoint(tmp_path / "best.pt", payload)
    out = subprocess.run([sys.executable, "-m", "guidewire_model.training.checkpoint", "--threshold", str(path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "0.620", out.stderr


def test_slim_copy_keeps_what_evaluation_export_and_fine_tuning_need(tmp_path: Path, small_cfg) -> None:
    from guidewire_model.training.checkpoint import slim_checkpoint, validation_threshold

    model = build_model(small_cfg.model)
    full = {"format": "guidewire-checkpoint/1", "model": model.state_dict(), "config": to_dict(small_cfg),
            "optimizer": {"state": {0: {"exp_avg": torch.ones(1000)}}}, "rng": {"torch": torch.zeros(5000)},
            "epoch": 1, "best_f1": 0.5, "best_epoch": 1, "history": [{"epoch": 1, "val_best_threshold": 0.4}]}
    src = save_checkpoint(tmp_path / "last.pt", full)
    dst = slim_checkpoint(src, tmp_path / "slim.pt")
    slim = load_checkpoint(dst)
    assert "optimizer" not in slim and "rng" not in slim and dst.stat().st_size < src.stat().st_size
    assert validation_threshold(slim) == 0.4
    loaded, _ = load_model(dst)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
