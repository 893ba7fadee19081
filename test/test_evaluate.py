"""Evaluation report: numbers equal a direct computation; files are written and readable."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from guidewire_model.training.checkpoint import save_checkpoint
from guidewire_model.training.config import load_train_config, to_dict
from guidewire_model.core.shipped_files import config_dir
from guidewire_model.data.layout import read_centrelines
from guidewire_model.data.sequences import load_exclude, load_frame, scan_dataset, split_by_patient
from guidewire_model.evaluation.evaluate import evaluate_checkpoint, main
from guidewire_model.metrics.wires import CoverageScores
from guidewire_model.training.network import build_model
from guidewire_model.runtime.overlay import FN_COLOUR, FP_COLOUR, TP_COLOUR, error_overlay
from guidewire_model.runtime.preprocess import prepare_batch, restore_size
from guidewire_model.synthetic import SyntheticConfig, write_dataset


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A data set at 96 px (the network runs at 64: evaluation must resize back) and a checkpoint."""
    tmp = tmp_path_factory.mktemp("eval")
    data = tmp / "data"
    write_dataset(data, 4, 3, SyntheticConfig.preset("easy", size=96), seed=7, progress=False)
    cfg = load_train_config(config_dir() / "train_demo.yaml", {
        "data.root": str(data), "model.input_size": 64, "model.encoder_width": 8, "data.test_patients": 2,
        "output_dir": str(tmp / "run")})
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    # Shift the output bias so the untrained network predicts a mixture of both classes.
    with torch.no_grad():
        model.head[-1].bias.fill_(0.0)
    split = split_by_patient(scan_dataset(data), cfg.data.test_patients, cfg.data.val_patients, cfg.data.split_seed)
    ckpt = save_checkpoint(tmp / "run" / "best.pt", {"model": model.state_dict(), "config": to_dict(cfg),
                                                       "split": json.loads(split.to_json())})
    return data, ckpt, model, cfg, split


def _direct_predictions(model, cfg, seq, threshold):
    """(prediction, mask) of each frame of one sequence, computed here from the pieces (one batch per
    sequence): the network's map, 0 outside the frame's valid field of view (as the node publishes
    it), thresholded."""
    from guidewire_model.runtime.field_of_view import estimate_field

    frames = [load_frame(seq, i) for i in range(len(seq))]
    x = torch.from_numpy(prepare_batch([f[0] for f in frames], cfg.model.input_size, cfg.model.input_mean,
                                       cfg.model.input_std))
    with torch.no_grad():
        prob = torch.sigmoid(model(x)).numpy()
    out = []
    for (image, mask), p in zip(frames, prob):
        prob_full = restore_size(p[0], image.shape)
        estimate_field(image).apply(prob_full)
        out.append((prob_full >= threshold, mask.astype(bool)))
    return out


def _direct_counts(model, cfg, seq, threshold):
    """tp, fp, fn, tn of one sequence (see :func:`_direct_predictions`)."""
    tp = fp = fn = tn = 0
    for pred, gt in _direct_predictions(model, cfg, seq, threshold):
        tp += int((pred & gt).sum()); fp += int((pred & ~gt).sum())
        fn += int((~pred & gt).sum()); tn += int((~pred & ~gt).sum())
    return tp, fp, fn, tn


def test_metrics_match_a_direct_computation(run, tmp_path: Path) -> None:
    data, ckpt, model, cfg, split = run
    r = evaluate_checkpoint(ckpt, data, "test", tmp_path / "eval", threshold=0.5, n_overlays=2)
    seqs = {s.name: s for s in scan_dataset(data)}
    assert sorted(r["per_sequence"]) == sorted(split.test) and len(split.test) == 2
    totals = np.zeros(4, dtype=np.int64)
    for name in split.test:
        direct = _direct_counts(model, cfg, seqs[name], 0.5)
        got = r["per_sequence"][name]
        assert (got["tp"], got["fp"], got["fn"], got["tn"]) == direct, name
        totals += direct
    tp, fp, fn, tn = totals
    o = r["overall"]
    assert (o["tp"], o["fp"], o["fn"], o["tn"]) == (tp, fp, fn, tn)
    assert tp + fp + fn + tn == 2 * 3 * 96 * 96  # full resolution, every test pixel once
    assert o["precision"] == pytest.approx(tp / (tp + fp)) and o["recall"] == pytest.approx(tp / (tp + fn))
    assert o["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # The sweep's best threshold is at least as good as 0.5, which lies on its grid.
    assert r["best_threshold"]["f1"] >= o["f1"] - 1e-12
    # F1@2 beside the strict scores: counts within the 2 px tolerance can only be at least the strict ones.
    t = o["tolerance"]
    assert t["tolerance_px"] == 2.0 and t["pred"] == tp + fp and tp <= t["pred_near"] <= t["pred"]
    assert t["f1"] == pytest.approx(2 * t["precision"] * t["recall"] / (t["precision"] + t["recall"]))
    assert all("tolerance" in c for c in r["per_sequence"].values())
    # The generator's device masks (exclude/): the share of predicted pixels on them, counted directly.
    on, pred = 0, 0
    for name in split.test:
        seq = seqs[name]
        for i, (predicted, _) in enumerate(_direct_predictions(model, cfg, seq, 0.5)):
            # Within 1 px (Euclidean) of a device pixel: the device or one of its 4-neighbours.
            near = cv2.dilate(load_exclude(seq, i), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))) > 0
            on, pred = on + int((predicted & near).sum()), pred + int(predicted.sum())
    ex = r["exclude"]
    assert ex["annotation"] == "exclude/" and ex["frames"] == 2 * 3 and (ex["pred"], ex["on_exclude"]) == (pred, on)
    # The Frangi row: threshold chosen on the stored split's validation sequences, scored on the test ones.
    ref = r["reference"]
    assert "validation part" in ref["threshold_source"] and ref["validation"]["frames"] == 3 * len(split.val)
    assert 0.0 <= ref["threshold"] < 1.0 and ref["overall"]["tp"] + ref["overall"]["fn"] == tp + fn

    # Wire coverage along the generator's centrelines, counted directly with the metric.
    coverage = CoverageScores()
    for name in split.test:
        seq = seqs[name]
        for i, (predicted, _) in enumerate(_direct_predictions(model, cfg, seq, 0.5)):
            coverage.update(predicted, read_centrelines(seq.centreline_paths[i]))
    assert r["wire_coverage"] == coverage.summary() and coverage.summary()["wires"] >= 2 * 3
    assert ref["wire_coverage"]["wires"] == coverage.summary()["wires"]

    out = tmp_path / "eval"
    assert json.loads((out / "metrics.json").read_text())["overall"] == o
    md = (out / "metrics.md").read_text()
    assert (f"| **all** | {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} | "
            f"{t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} |") in md
    assert f"| {ref['threshold']:.3f} | {ref['overall']['precision']:.3f} |" in md
    c = r["wire_coverage"]
    assert (f"| this model | {c['wires']} | {100 * c['covered']:.1f} % | {100 * c['distal_covered']:.1f} % | "
            f"{c['gaps_per_wire']:.2f} |") in md
    png = cv2.imread(str(out / "pr_curve.png"))
    assert png is not None and png.shape[2] == 3
    assert len(r["worst_frames"]) == 2
    worst_f1 = [w["f1"] for w in r["worst_frames"]]
    assert worst_f1 == sorted(worst_f1)
    for w in r["worst_frames"]:
        overlay = cv2.imread(str(out / w["overlay"]))
        assert overlay.shape == (96, 96, 3)


def test_an_empty_prediction_scores_zero(run, tmp_path: Path) -> None:
    data, ckpt, *_ = run
    # At threshold 1 a sigmoid output never reaches the mask: nothing predicted.
    r = evaluate_checkpoint(ckpt, data, "test", tmp_path, threshold=1.0, n_overlays=0, reference=None)
    o, t = r["overall"], r["overall"]["tolerance"]
    assert o["tp"] + o["fp"] == 0 and t["pred"] == 0 and t["skeleton"] > 0
    assert (o["f1"], t["f1"], t["recall"], t["precision"]) == (0.0, 0.0, 0.0, 1.0)
    # Nothing covered: every wire is one gap from end to end.
    c = r["wire_coverage"]
    assert (c["covered"], c["distal_covered"], c["gaps_per_wire"], c["wires_without_gap"]) == (0.0, 0.0, 1.0, 0.0)
    assert "reference" not in r


def test_split_all_and_the_command_line(run, tmp_path: Path, capsys) -> None:
    data, ckpt, *_ = run
    assert main(["--checkpoint", str(ckpt), "--data", str(data), "--split", "all", "--out", str(tmp_path / "all"),
                 "--overlays", "0"]) == 0
    r = json.loads((tmp_path / "all" / "metrics.json").read_text())
    assert r["n_frames"] == 12 and r["n_sequences"] == 4 and r["worst_frames"] == []
    printed = capsys.readouterr().out
    assert "F1@2" in printed and "reference Frangi" in printed
    assert main(["--model", str(ckpt), "--data", str(data), "--split", "all", "--out", str(tmp_path / "n"),
                 "--overlays", "0", "--no-reference"]) == 0
    assert "reference" not in json.loads((tmp_path / "n" / "metrics.json").read_text())
    assert "reference" not in capsys.readouterr().out
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_error_overlay_colours() -> None:
    image = np.full((2, 2), 100, np.uint8)
    pred = np.array([[1, 1], [0, 0]], bool)
    gt = np.array([[1, 0], [1, 0]], bool)
    rgb = error_overlay(image, pred, gt, alpha=1.0)
    assert tuple(rgb[0, 0]) == TP_COLOUR and tuple(rgb[0, 1]) == FP_COLOUR and tuple(rgb[1, 0]) == FN_COLOUR
    assert tuple(rgb[1, 1]) == (100, 100, 100)
    with pytest.raises(ValueError, match="pred has shape"):
        error_overlay(image, pred[:1], gt)
