"""CPU benchmark: the timing core and the guidewire-bench command line on a tiny model."""

from __future__ import annotations

import json
import time

import pytest
import torch

from guidewire_model.benchmark import format_table, main, time_callable

TINY = ["--set", "model.encoder=resnet18", "--set", "model.encoder_width=8"]


@pytest.fixture(autouse=True)
def _restore_threads():
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def test_time_callable_statistics():
    calls = []

    def sleepy():
        calls.append(None)
        time.sleep(0.002)

    stats = time_callable(sleepy, runs=5, warmup=2)
    assert len(calls) == 7 and stats["runs"] == 5
    assert 2.0 <= stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    with pytest.raises(ValueError):
        time_callable(sleepy, runs=0, warmup=0)


def test_format_table():
    row = {"p50": 12.345, "p90": 20.0, "p99": 30.0, "mean": 15.0}
    table = format_table({"A": row, "B": row}).splitlines()
    assert len(table) == 4 and table[2] == "| A | 12.3 | 20.0 | 30.0 | 15.0 |"


def test_bench_cli_torch_and_onnxruntime(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = TINY + ["--size", "64", "--runs", "2", "--warmup", "1", "--threads", "1", "--json", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"PyTorch eager", "ONNX Runtime"}
    assert all(r["p50"] > 0 and r["runs"] == 2 for r in report["results"].values())
    expected = report["results"]["PyTorch eager"]["p50"] / report["results"]["ONNX Runtime"]["p50"]
    assert report["ratio_torch_over_onnxruntime"] == pytest.approx(expected)
    assert report["info"]["encoder"] == "resnet18" and report["size"] == 64
    text = capsys.readouterr().out
    assert "| PyTorch eager |" in text and "| ONNX Runtime |" in text and "median" in text


def test_bench_cli_onnx_size_mismatch_and_missing_file(tmp_path, capsys):
    from guidewire_model.config import load_train_config
    from guidewire_model.export import export_model
    from guidewire_model.network import build_model

    cfg = load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": 8,
                                       "model.pretrained": False, "model.input_size": 64})
    onnx_path = tmp_path / "m.onnx"
    export_model(build_model(cfg.model), cfg, onnx_path, n_check_frames=1)
    assert main(["--onnx", str(onnx_path), "--size", "128", "--runs", "1", "--warmup", "0"]) == 2
    assert "--size 64" in capsys.readouterr().err
    assert main(["--onnx", str(onnx_path), "--size", "64", "--runs", "1", "--warmup", "0", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "| ONNX Runtime |" in text and "PyTorch eager" not in text
    assert main(["--onnx", str(tmp_path / "none.onnx"), "--runs", "1"]) == 2
    assert "none.onnx" in capsys.readouterr().err
