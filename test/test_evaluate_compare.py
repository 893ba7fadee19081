"""guidewire-eval --compare: a second model on the same frames, and the paired difference.

Two tiny untrained networks (different initial weights, each exported to ONNX with its own
threshold) on a data set of six generator sequences and on a plain folder. The second model's
scores are checked against an evaluation of it alone, and the interval against a bootstrap redone
here from the per-sequence counts with the count classes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from guidewire_model.evaluation.evaluate import MIN_SEQUENCE_UNITS, evaluate, main
from guidewire_model.metrics.pixels import PixelCounts, ToleranceCounts
from guidewire_model.synthetic import SyntheticConfig, write_dataset
from guidewire_model.training.config import load_train_config
from guidewire_model.training.export import export_model
from guidewire_model.training.network import build_model
from test_evaluate_folder import write_folder

SEQUENCES = 6


def _tiny_onnx(path, seed: int, threshold: float):
    overrides = {"model.encoder": "resnet18", "model.encoder_width": 8, "model.pretrained": False,
                 "model.input_size": 64, "threshold": threshold}
    torch.manual_seed(seed)
    cfg = load_train_config(overrides=overrides)
    export_model(build_model(cfg.model).eval(), cfg, path, n_check_frames=1)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compare")
    write_dataset(tmp / "data", SEQUENCES, 2, SyntheticConfig.preset("easy", size=64), seed=4, progress=False)
    write_folder(tmp / "folder", seed=5)
    # Untrained networks put every probability near 0.5: thresholds there mark a share of the pixels.
    first = _tiny_onnx(tmp / "first.onnx", 0, _middle_threshold(tmp, 0))
    second = _tiny_onnx(tmp / "second.onnx", 1, _middle_threshold(tmp, 1))
    return tmp, first, second


def _middle_threshold(tmp, seed: int) -> float:
    path = _tiny_onnx(tmp / f"probe{seed}.onnx", seed, 0.5)
    r = evaluate(path, tmp / f"probe{seed}", data=tmp / "data", split="all", reference=None, n_overlays=0)
    return round(float(r["best_threshold"]["threshold"]), 3)


def _counts(c: dict) -> tuple[PixelCounts, ToleranceCounts]:
    t = c["tolerance"]
    return (PixelCounts(c["tp"], c["fp"], c["fn"], c["tn"]),
            ToleranceCounts(t["pred"], t["pred_near"], t["skeleton"], t["skeleton_hit"]))


def test_the_compared_model_is_scored_as_alone_and_the_interval_resamples_sequences(setup, tmp_path):
    tmp, first, second = setup
    r = evaluate(first, tmp_path / "vs", data=tmp / "data", split="all", reference=None, n_overlays=0,
                 compare=second, resamples=300)
    alone = evaluate(second, tmp_path / "alone", data=tmp / "data", split="all", reference=None, n_overlays=0)
    c = r["comparison"]
    assert c["model"]["path"] == str(second) and c["threshold"] == alone["threshold"] != r["threshold"]
    assert c["overall"] == alone["overall"] and c["per_sequence"] == alone["per_sequence"]
    assert c["wire_coverage"] == alone["wire_coverage"] and c["exclude"] == alone["exclude"]
    d = c["difference"]
    assert d["unit"] == "sequence" and d["units"] == SEQUENCES >= MIN_SEQUENCE_UNITS and d["resamples"] == 300
    assert d["f1"]["first"] == pytest.approx(r["overall"]["f1"])
    assert d["f1"]["second"] == pytest.approx(alone["overall"]["f1"])
    assert d["f1"]["difference"] == pytest.approx(r["overall"]["f1"] - alone["overall"]["f1"])
    assert d["tolerance_f1"]["difference"] == pytest.approx(
        r["overall"]["tolerance"]["f1"] - alone["overall"]["tolerance"]["f1"])

    # The same bootstrap redone from the per-sequence counts of the two reports.
    names = list(r["per_sequence"])
    a = [_counts(r["per_sequence"][n]) for n in names]
    b = [_counts(alone["per_sequence"][n]) for n in names]
    diffs = {"f1": [], "tolerance_f1": []}
    for row in np.random.default_rng(0).integers(0, SEQUENCES, size=(300, SEQUENCES)):
        for k, key in enumerate(("f1", "tolerance_f1")):
            fa = sum((a[i][k] for i in row), type(a[0][k])()).f1
            fb = sum((b[i][k] for i in row), type(b[0][k])()).f1
            diffs[key].append(fa - fb)
    for key, values in diffs.items():
        assert d[key]["low"] == pytest.approx(np.percentile(values, 2.5))
        assert d[key]["high"] == pytest.approx(np.percentile(values, 97.5))
        assert np.ptp(values) > 0  # the two models differ, and by different amounts on different sequences

    # The generator's centrelines give wire coverage, pooled over each model's wires as alone.
    for key in ("covered", "distal_covered", "gaps_per_wire"):
        assert d["wire_coverage"][key]["first"] == pytest.approx(r["wire_coverage"][key])
        assert d["wire_coverage"][key]["second"] == pytest.approx(alone["wire_coverage"][key])
        assert d["wire_coverage"][key]["low"] <= d["wire_coverage"][key]["high"]

    assert json.loads((tmp_path / "vs" / "metrics.json").read_text())["comparison"] == json.loads(json.dumps(c))
    md = (tmp_path / "vs" / "metrics.md").read_text()
    assert f"## Against `{second}`" in md and f"{SEQUENCES} sequences" in md
    assert f"- F1: {d['f1']['difference']:+.4f} ({d['f1']['low']:+.4f} … {d['f1']['high']:+.4f}" in md
    assert md.count(f"`{second}`") >= 3  # heading, score row, coverage row
    w = d["wire_coverage"]["covered"]
    text = f"{100 * w['difference']:+.1f} points ({100 * w['low']:+.1f} … {100 * w['high']:+.1f})"
    assert f"- wires covered: {text}" in md


def test_a_model_against_itself_differs_by_nothing(setup, tmp_path):
    tmp, first, _ = setup
    r = evaluate(first, tmp_path, data=tmp / "data", split="all", reference=None, n_overlays=0, compare=first,
                 resamples=50)
    assert r["comparison"]["overall"] == r["overall"]
    for key in ("f1", "tolerance_f1"):
        d = r["comparison"]["difference"][key]
        assert (d["difference"], d["low"], d["high"], d["first_ahead"]) == (0.0, 0.0, 0.0, 0.5)


def test_a_folder_resamples_frames_and_says_what_that_costs(setup, tmp_path, capsys):
    tmp, first, second = setup
    code = main(["--model", str(first), "--compare", str(second), "--folder", str(tmp / "folder"),
                 "--out", str(tmp_path / "o"), "--no-reference", "--overlays", "0", "--resamples", "100"])
    out = capsys.readouterr().out
    assert code == 0
    r = json.loads((tmp_path / "o" / "metrics.json").read_text())
    d = r["comparison"]["difference"]
    assert d["unit"] == "frame" and d["units"] == r["n_frames"] == 3
    assert "wire_coverage" not in d  # a folder of masks has no centrelines
    assert f"compared {second}" in out and "paired bootstrap over 3 frames" in out
    assert "narrower than the truth" in (tmp_path / "o" / "metrics.md").read_text()


def test_bad_comparison_arguments_fail_before_any_scoring(setup, tmp_path, capsys):
    tmp, first, _ = setup
    missing = tmp_path / "nowhere.onnx"
    assert main(["--model", str(first), "--compare", str(missing), "--folder", str(tmp / "folder"),
                 "--out", str(tmp_path / "o")]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["--model", str(first), "--compare", str(first), "--folder", str(tmp / "folder"),
                 "--out", str(tmp_path / "o"), "--resamples", "0"]) == 2
    assert "resamples must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "metrics.json").exists()
