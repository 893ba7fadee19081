"""The offline package's end-to-end demo: data -> training -> evaluation -> export, scaled down.

Every figure the demo prints is checked against something known without the code under test: the
wire pixels of the held-out patient's mask files (counted here), the all-foreground baseline they
imply, a model made to answer "no wire" everywhere (whose scores are then exact), and a floor for
the classical Frangi row on the easy synthetic frames.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

import guidewire_model.evaluation.offline_demo as demo
from guidewire_model.training.checkpoint import load_checkpoint, model_from_payload, save_checkpoint

ARGS = ["--sequences", "3", "--frames", "2"]
#: Frangi vesselness on the demo's easy synthetic frames (wires 5-7 px wide): measured 0.63 strict F1;
#: a broken filter or threshold choice (inverted polarity, wrong scale) scores near 0.
FRANGI_F1_FLOOR = 0.4


def _test_masks(out: Path) -> list[np.ndarray]:
    """The held-out patient's ground-truth masks, read straight from the PNG files the demo wrote."""
    split = json.loads((out / "run" / "split.json").read_text())
    paths = [p for patient in split["test"] for p in sorted((out / "data" / patient / "masks").glob("*.png"))]
    assert paths, "the demo's test split has no mask files"
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) > 0 for p in paths]


def _printed(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the demo's output:\n{text}"
    return float(match.group(1))


def test_offline_demo_figures_match_the_data(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path), *ARGS, "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    for path in ("model.onnx", "eval/metrics.md", "eval/metrics.json", "run/best.pt", "run/split.json"):
        assert (tmp_path / path).is_file(), path
    summary = json.loads((tmp_path / "summary.json").read_text())
    test, reference = summary["test"], summary["reference"]
    assert summary["train"]["epochs_run"] == 2

    masks = _test_masks(tmp_path)
    wire = sum(int(m.sum()) for m in masks)
    pixels = sum(m.size for m in masks)
    # The counts cover exactly the held-out frames, model and reference alike.
    assert test["tp"] + test["fn"] == wire and reference["tp"] + reference["fn"] == wire
    assert test["tp"] + test["fp"] + test["fn"] + test["tn"] == pixels
    assert test["tolerance"]["pred"] == test["tp"] + test["fp"] and test["tolerance"]["tolerance_px"] == 2.0
    assert test["f1"] == pytest.approx(2 * test["tp"] / (2 * test["tp"] + test["fp"] + test["fn"]))

    # The printed baseline: predicting every pixel as wire, from the wire share of these masks.
    fg = wire / pixels
    assert _printed(r"all-foreground F1 ([0-9.]+)", printed) == pytest.approx(2 * fg / (1 + fg), abs=5e-4)
    assert _printed(r"  precision [0-9.]+  recall [0-9.]+  F1 ([0-9.]+)", printed) == pytest.approx(test["f1"], abs=5e-4)
    assert reference["f1"] >= FRANGI_F1_FLOOR
    assert _printed(r"Frangi vesselness at threshold [0-9.]+ .*?: F1 ([0-9.]+)", printed) == \
        pytest.approx(reference["f1"], abs=5e-4)
    assert _printed(r"max \|ONNX Runtime - PyTorch\| = ([0-9.e+-]+)", printed) < 1e-4


def _answer_no_wire(real_train):
    """``train`` that trains for real, then rewrites ``best.pt`` as a network whose output is a
    constant -20 logit (every weight zero, every convolution bias -20): probability ~2e-9 everywhere."""

    def train(cfg, **kwargs):
        result = real_train(cfg, **kwargs)
        best = Path(cfg.output_dir) / "best.pt"
        payload = load_checkpoint(best)
        model, _ = model_from_payload(payload, best)
        with torch.no_grad():
            for module in model.modules():
                for param in module.parameters(recurse=False):
                    param.zero_()
                if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and module.bias is not None:
                    module.bias.fill_(-20.0)
        payload["model"] = model.state_dict()
        save_checkpoint(best, payload)
        return result

    return train


def test_offline_demo_scores_a_model_that_finds_no_wire_exactly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(demo, "train", _answer_no_wire(demo.train))
    assert demo.main(["--out", str(tmp_path), *ARGS, "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    test = json.loads((tmp_path / "summary.json").read_text())["test"]
    masks = _test_masks(tmp_path)
    wire = sum(int(m.sum()) for m in masks)
    pixels = sum(m.size for m in masks)
    assert (test["tp"], test["fp"], test["fn"], test["tn"]) == (0, 0, wire, pixels - wire)
    assert test["recall"] == 0 and test["f1"] == 0
    tol = test["tolerance"]
    assert (tol["pred"], tol["pred_near"], tol["skeleton_hit"], tol["f1"]) == (0, 0, 0, 0)
    assert tol["skeleton"] > 0
    assert _printed(r"  precision [0-9.]+  recall ([0-9.]+)", printed) == 0
    # The exported ONNX model is the same constant network.
    assert _printed(r"max \|ONNX Runtime - PyTorch\| = ([0-9.e+-]+)", printed) < 1e-4
