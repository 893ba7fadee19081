"""Offline bag evaluation: numbers equal a direct computation, reports, no-GT and damaged bags, CLI."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader

from guidewire_model.runtime.backends import create_backend
from guidewire_model.evaluation.bag_evaluation import (
    FrameRecord,
    add_common_arguments,
    evaluate_bag,
    run_offline,
    summarise_frames,
)
from guidewire_model.evaluation.bags import GUIDEWIRE_ARRAY_TYPE, typestore, write_synthetic_bag
from guidewire_model.metrics.wires import CentrelineScores, wires_cross
from guidewire_model.training.config import load_train_config
from guidewire_model.training.export import export_model
from guidewire_model.metrics.pixels import AccuracyCounts, accuracy_counts
from guidewire_model.training.network import build_model
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.synthetic import SyntheticConfig, generate_sequence

from foreign_bag import FOREIGN, write_foreign_bag

SIZE, N, SEED = 128, 6, 11
CFG = SyntheticConfig.preset("easy", size=SIZE, bit_depth=16)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, float]:
    """A tiny random exported LinkNet and a threshold at which it marks ~10 % of the pixels."""
    cfg = load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": 8,
                                       "model.pretrained": False, "model.input_size": 64})
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_model(build_model(cfg.model), cfg, path, n_check_frames=1)
    prob = GuidewirePipeline(create_backend("onnxruntime", path)).segment([generate_sequence(CFG, SEED, 1)[0].image])[0]
    return path, float(np.percentile(prob, 90))


@pytest.fixture(scope="module")
def frames():
    return generate_sequence(CFG, SEED, N)


@pytest.fixture(scope="module")
def foreign_bag(tmp_path_factory, frames) -> Path:
    return write_foreign_bag(tmp_path_factory.mktemp("foreign") / "run_07", frames, SIZE)


def _direct(model_path: Path, threshold: float, frames) -> tuple[AccuracyCounts, dict]:
    """What the report must say, computed here without the evaluator (from the tested metrics)."""
    pipeline = GuidewirePipeline(create_backend("onnxruntime", model_path), threshold=threshold)
    counts, scores = AccuracyCounts(), CentrelineScores()
    for f in frames:
        result = pipeline.process(f.image)
        counts = counts + accuracy_counts(result.mask, f.mask)
        scores.update(result.wires, f.wires, crossing=wires_cross(f.wires))
    return counts, scores.summary()


def test_foreign_bag_report_equals_direct_computation(model, frames, foreign_bag, tmp_path):
    model_path, threshold = model
    out = tmp_path / "eval"
    summary = evaluate_bag(foreign_bag, model_path, out, *FOREIGN, backend="onnxruntime",
                           threshold=threshold, progress=False, n_overlays=3)
    accuracy, centreline = _direct(model_path, threshold, frames)
    counts = accuracy.pixel
    assert counts.tp > 0 and counts.fp > 0  # a non-trivial prediction
    metrics = json.loads((out / "metrics.json").read_text())  # strict JSON: NaN written as null
    for name in ("tp", "fp", "fn", "tn"):
        assert metrics["pixel"][name] == getattr(counts, name)
        assert metrics["per_sequence"][0]["pixel"][name] == getattr(counts, name)
    assert metrics["pixel"]["f1"] == pytest.approx(counts.f1)
    tolerance = metrics["pixel"]["tolerance"]
    assert tolerance == pytest.approx(accuracy.tolerance_dict()) and tolerance["tolerance_px"] == 2.0
    assert metrics["per_sequence"][0]["pixel"]["tolerance"] == tolerance
    assert len(metrics["per_frame"]["tolerance"]["f1"]) == N
    for key in ("assignment_accuracy", "tips_found", "missed_wires", "extra_wires", "crossing_frames", "id_switches"):
        assert summary["centreline"][key] == centreline[key]
    assert summary["frames"] == N and metrics["frames_dropped"] == 0
    assert metrics["per_sequence"][0]["name"] == "run_07"
    # The PR curve at the grid threshold just below the one used counts at least the used mask's positives.
    pr = metrics["pr_curve"]
    k = int(np.floor(threshold * len(pr["thresholds"])))
    assert pr["recall"][k] >= counts.recall - 1e-12
    for stage in ("preprocess", "inference", "postprocess", "total"):
        lat = metrics["latency_ms"][stage]
        assert lat["count"] == N and 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    assert metrics["throughput_fps"] > 0
    report = (out / "report.md").read_text().splitlines()
    assert report[0].startswith("# ") and "run_07" in report[0]
    assert report[2] == f"- **frames**: {N}"
    assert report[3].startswith(f"- **pixel F1**: {counts.f1:.3f}")
    assert report[4].startswith(f"- **F1@2**: {accuracy.tolerance.f1:.3f}")
    assert "| F1 | F1@2 |" in "\n".join(report) and "F1@2: precision = share" in "\n".join(report)
    assert f"- **tips found within 5 px**: {100 * centreline['tips_found']:.1f}%" in report
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 + 3  # PR, latency x2, 3 overlays
    assert len(list((out / "figures").glob("worst_*.png"))) == 3


def test_results_bag_headers_equal_the_inputs(model, foreign_bag, tmp_path):
    model_path, threshold = model
    evaluate_bag(foreign_bag, model_path, tmp_path, FOREIGN[0], backend="onnxruntime", threshold=threshold,
                 progress=False, storage="sqlite3", n_overlays=0)
    ts = typestore()

    def headers(bag, topic):
        with AnyReader([bag], default_typestore=ts) as reader:
            conns = [c for c in reader.connections if c.topic == topic]
            return [(m.header.stamp.sec, m.header.stamp.nanosec, m.header.frame_id, t)
                    for c, t, raw in reader.messages(connections=conns)
                    for m in [reader.deserialize(raw, c.msgtype)]]

    inputs = headers(foreign_bag, FOREIGN[0])
    assert len(inputs) == N
    results = tmp_path / "results" / "run_07"
    assert headers(results, "/guidewire_seg/mask") == inputs
    assert headers(results, "/guidewire_seg/centrelines") == inputs


def test_bag_without_ground_truth_still_reports_speed(model, tmp_path):
    model_path, threshold = model
    bag = write_synthetic_bag(tmp_path / "nogt", CFG, 1, 4, gt_mask_topic=None, gt_centrelines_topic=None)
    summary = evaluate_bag(bag, model_path, tmp_path / "eval", "/fluoro/image", backend="onnxruntime",
                           threshold=threshold, progress=False, n_overlays=2)
    assert not {"pixel", "pr_curve", "centreline"} & set(summary)
    assert summary["latency_ms"]["total"]["count"] == 4 and summary["throughput_fps"] > 0
    assert (tmp_path / "eval" / "results" / "nogt" / "metadata.yaml").is_file()
    assert "No ground truth" in (tmp_path / "eval" / "report.md").read_text()
    assert len(list((tmp_path / "eval" / "figures").glob("worst_*.png"))) == 2  # the slowest frames


def test_damaged_bags_are_evaluated_up_to_the_damage(model, tmp_path):
    model_path, threshold = model
    topics = ("/fluoro/image", "/fluoro/ground_truth/mask", "/fluoro/ground_truth/centrelines")
    intact = write_synthetic_bag(tmp_path / "intact", CFG, 2, N)
    cut = tmp_path / "cut"
    shutil.copytree(intact, cut)
    os.truncate(cut / "intact.mcap", (cut / "intact.mcap").stat().st_size // 2)
    summary = evaluate_bag([intact, cut], model_path, tmp_path / "eval", *topics, backend="onnxruntime",
                           threshold=threshold, progress=False, n_overlays=0)
    ok, damaged = summary["bags"]
    assert ok["damage"] is None and ok["frames"] == N
    assert 0 < damaged["frames"] < N and "runs past the end of the file" in damaged["damage"]
    assert damaged["expected_frames"] == N and damaged["lost_frames"] == N - damaged["frames"]
    assert ok["lost_frames"] == 0
    assert [s["frames"] for s in summary["per_sequence"]] == [N, damaged["frames"]]
    # The damaged sequence's frames are the intact bag's first frames: identical pixel counts per frame.
    assert summary["per_frame"]["f1"][N:] == summary["per_frame"]["f1"][:damaged["frames"]]
    md = (tmp_path / "eval" / "report.md").read_text()
    assert "DAMAGED" in md and md.index("DAMAGED") < md.index("## Sequences")
    assert f"{N - damaged['frames']} of the {N} frames the bag declares were not read" in md


def test_summarise_frames_matches_the_offline_evaluation(model, frames, foreign_bag, tmp_path):
    """The live mode feeds records to summarise_frames: same numbers as offline on the same results."""
    model_path, threshold = model
    offline = evaluate_bag(foreign_bag, model_path, tmp_path, *FOREIGN, backend="onnxruntime",
                           threshold=threshold, progress=False, n_overlays=0)
    pipeline = GuidewirePipeline(create_backend("onnxruntime", model_path), threshold=threshold)
    records = []
    for i, f in enumerate(frames):
        r = pipeline.process(f.image)
        records.append(FrameRecord(stamp_ns=i, mask=r.mask, wires=r.wires, gt_mask=f.mask, gt_wires=f.wires,
                                   latency_ms={"end_to_end": 10.0 + i}, sequence="live"))
    live = summarise_frames(records, threshold=threshold, wall_time_s=2.0, frames_dropped=3)
    assert {k: live["pixel"][k] for k in ("tp", "fp", "fn", "tn")} == \
           {k: offline["pixel"][k] for k in ("tp", "fp", "fn", "tn")}
    assert live["centreline"]["assignment_accuracy"] == offline["centreline"]["assignment_accuracy"]
    assert "pr_curve" not in live  # no probability maps live
    assert live["headline_latency"] == "end_to_end" and live["latency_ms"]["end_to_end"]["p50"] == 12.5
    assert live["throughput_fps"] == N / 2.0 and live["frames_dropped"] == 3


def _args(argv):
    return add_common_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_cli_wrong_topic_exits_with_the_bags_topics(model, foreign_bag, tmp_path, capsys):
    model_path, _ = model
    code = run_offline(_args(["--bag", str(foreign_bag), "--model", str(model_path), "--image-topic", "/fluoro/image",
                              "--out", str(tmp_path), "--quiet"]))
    err = capsys.readouterr().err
    assert code == 2 and "/fluoro/image" in err and "/cam/xray" in err and GUIDEWIRE_ARRAY_TYPE in err
    assert not (tmp_path / "metrics.json").exists()
    code = run_offline(_args(["--bag", str(foreign_bag), "--model", str(model_path), "--image-topic", FOREIGN[0],
                              "--out", str(tmp_path), "--quiet", "--overlays", "1", "--backend", "onnxruntime"]))
    assert code == 0 and "frames: 6" in capsys.readouterr().out
    assert (tmp_path / "report.html").is_file()


def test_a_perfect_prediction_scores_one_and_an_empty_one_zero(frames):
    """F1@2 beside strict F1 in the live mode's summary, on known cases."""
    perfect = [FrameRecord(stamp_ns=i, mask=f.mask, gt_mask=f.mask, sequence="s") for i, f in enumerate(frames)]
    empty = [FrameRecord(stamp_ns=i, mask=np.zeros_like(f.mask), gt_mask=f.mask, sequence="s")
             for i, f in enumerate(frames)]
    px = summarise_frames(perfect)["pixel"]
    assert (px["f1"], px["tolerance"]["f1"], px["tolerance"]["precision"], px["tolerance"]["recall"]) == (1, 1, 1, 1)
    px = summarise_frames(empty)["pixel"]
    assert (px["f1"], px["tolerance"]["f1"], px["tolerance"]["recall"]) == (0, 0, 0)
    assert px["tolerance"]["skeleton"] > 0 and px["tolerance"]["pred"] == 0
