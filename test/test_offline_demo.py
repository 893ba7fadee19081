"""The offline package's end-to-end demo: data -> training -> evaluation -> export, scaled down."""

import json

from guidewire_model.demo import main


def test_offline_demo_runs_end_to_end(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--sequences", "3", "--frames", "2", "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "held-out test patient" in printed and "max |ONNX Runtime - PyTorch|" in printed
    for path in ("model.onnx", "eval/metrics.md", "eval/metrics.json", "run/best.pt", "run/split.json"):
        assert (tmp_path / path).is_file(), path
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train"]["epochs_run"] == 2
    assert 0.0 <= summary["test"]["f1"] <= 1.0
    assert 0.0 <= summary["test"]["tolerance"]["f1"] <= 1.0 and summary["test"]["tolerance"]["tolerance_px"] == 2.0
    assert "F1@2" in printed and "Frangi vesselness" in printed
    # The tolerance counts cover the same test frames as the strict ones.
    assert summary["test"]["tolerance"]["pred"] == summary["test"]["tp"] + summary["test"]["fp"]
    assert summary["reference"]["tp"] + summary["reference"]["fn"] == summary["test"]["tp"] + summary["test"]["fn"]
