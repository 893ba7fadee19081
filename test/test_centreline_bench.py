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
