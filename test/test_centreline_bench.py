"""The centreline benchmark's model run reports F1@2 beside the strict pixel scores, and every run
how its masks cover the true wires."""

from __future__ import annotations

import json

import pytest

from guidewire_model.evaluation.centreline_bench import main

from tiny_model import export_tiny_model


def test_model_run_prints_strict_and_tolerance_pixel_scores(tmp_path, capsys):
    model = export_tiny_model(tmp_path, width=8, size=64)
    capsys.readouterr()  # the export's parity line
    assert main(["--model", str(model), "--preset", "easy", "--sequences", "1", "--frames", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = out["pixel_tolerance"]
    assert t["tolerance_px"] == 2.0 and set(t) >= {"precision", "recall", "f1", "pred", "pred_near", "skeleton"}
    assert t["skeleton"] > 0 and t["pred_near"] <= t["pred"]
    # A pixel on the wire is also within 2 px of it: tolerance precision is never below the strict one.
    assert t["precision"] >= out["pixel_precision"] - 1e-3
    assert 0.0 <= out["pixel_f1"] <= 1.0 and 0.0 <= t["f1"] <= 1.0
    p, r = t["precision"], t["recall"]
    # An untrained network may mark nothing: F1 is then 0, not a division by zero.
    assert t["f1"] == pytest.approx(2 * p * r / (p + r) if p + r > 0 else 0.0, abs=2e-3)


def test_oracle_and_damaged_runs_score_ground_truth_masks(capsys):
    assert main(["--oracle", "--damaged", "--preset", "medium", "--sequences", "1", "--frames", "3",
                 "--crossing-probability", "1.0"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"oracle", "damaged"}
    assert out["oracle"]["pixel_f1"] == 1.0 and out["oracle"]["frames"] == 3
    assert out["oracle"]["assignment_accuracy"] == 1.0 and out["oracle"]["tip_error_median_px"] < 2.0
    # The damage is real: the damaged masks' pixel F1 is below 1.
    assert out["damaged"]["pixel_f1"] < 1.0
    # Ground-truth masks cover every wire without a gap; the damage (gaps among it) opens some.
    full = out["oracle"]["wire_coverage"]
    assert full["wires"] == 6 and full["covered"] == 1.0 and full["gaps_per_wire"] == 0.0
    damaged = out["damaged"]["wire_coverage"]
    assert damaged["wires"] == 6 and damaged["gaps_per_wire"] > 0.0 and damaged["covered"] < 1.0
    # Every true wire no line matched is counted once, by how much of it the mask covered.
    for run in out.values():
        assert sum(run["missed_by_coverage"].values()) == run["missed_wires"]
    assert out["oracle"]["missed_by_coverage"]["mask_lacks"] == 0


def test_a_comparison_pairs_two_runs_on_the_same_frames(tmp_path, capsys):
    model = export_tiny_model(tmp_path, width=8, size=64)
    capsys.readouterr()
    common = ["--model", str(model), "--preset", "easy", "--sequences", "1", "--frames", "3", "--resamples", "50"]
    # Against itself: every difference is 0, and each side's figures are its run's own summary.
    assert main(common + ["--compare", str(model)]) == 0
    printed = capsys.readouterr()
    out = json.loads(printed.out)
    assert "lines.assignment_accuracy: " in printed.err and "too narrow" in printed.err
    d = out["comparison"]["difference"]
    assert d["unit"] == "frame" and d["units"] == 3  # one sequence: the frames are resampled
    assert d["f1"]["first"] == pytest.approx(out["model"]["pixel_f1"], abs=1e-3)
    d = d["lines"]
    for key in ("assignment_accuracy", "tips_found", "missed_wires_per_frame", "extra_wires_per_frame"):
        assert d[key]["difference"] == 0.0 and d[key]["low"] == 0.0 and d[key]["high"] == 0.0
    for key in ("assignment_accuracy", "tips_found"):
        assert d[key]["first"] == out["model"][key] == out["comparison"][key]
    for key in ("missed_wires", "extra_wires"):
        assert d[f"{key}_per_frame"]["first"] == pytest.approx(out["model"][key] / 3, abs=1e-3)
    # Another post-processing setting on the same model: named in the report, applied to the second run only.
    assert main(common + ["--compare-set", "min_mean_probability=0.99", "--compare-set", "field_of_view=false"]) == 0
    out = json.loads(capsys.readouterr().out)
    c = out["comparison"]
    assert c["model"] == str(model)
    assert c["postprocess"]["min_mean_probability"] == 0.99 and c["postprocess"]["field_of_view"] is False
    # Almost nothing reaches a mean probability of 0.99: the second run publishes no more wires than the first.
    lines = c["difference"]["lines"]
    assert lines["extra_wires_per_frame"]["second"] <= lines["extra_wires_per_frame"]["first"]
    assert lines["assignment_accuracy"]["second"] == c["assignment_accuracy"]
    # --threshold is the first run's; the second keeps its model's own unless --compare-set names one.
    own = out["model"]["threshold"]
    assert main(common + ["--threshold", "0.9", "--compare", str(model)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"]["threshold"] == 0.9 and out["comparison"]["threshold"] == own
    assert main(common + ["--threshold", "0.9", "--compare-set", "threshold=0.2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["comparison"]["threshold"] == 0.2 and out["comparison"]["postprocess"]["threshold"] == 0.2
    # A lower threshold marks at least as many pixels.
    tol = out["comparison"]["difference"]["tolerance_f1"]
    assert out["comparison"]["pixel_tolerance"]["pred"] >= out["model"]["pixel_tolerance"]["pred"]
    assert tol["second"] == pytest.approx(out["comparison"]["pixel_tolerance"]["f1"], abs=1e-3)


@pytest.mark.parametrize("args, message", [
    (["--compare-set", "no_such=1"], "NAME threshold or one of"),
    (["--compare-set", "corner_deg"], "NAME=VALUE"),
    (["--compare-set", "corner_deg=5"], "corner_deg"),
    (["--compare-set", "field_of_view=maybe"], "true or false"),
    (["--compare-set", "threshold=1.5"], "threshold"),
    (["--threshold", "0"], "threshold"),
    (["--resamples", "0"], "resamples"),
])
def test_a_bad_comparison_is_refused_before_any_frame(tmp_path, capsys, args, message):
    # The model file does not exist: had anything been scored, the error would name it instead.
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(tmp_path / "absent.onnx")] + args)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_comparison_needs_the_model_run(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--oracle", "--compare", "other.onnx"])
    assert exc.value.code == 2 and "--model" in capsys.readouterr().err
