"""guidewire-eval scores the centrelines the node would publish, on a data set that holds its wires'
centrelines, and compares them between two models.

The shipped model on generator sequences written to disk (a real data set in the layout). The
expected figures come from the node's own path: ``GuidewirePipeline.process`` on each frame in
order, scored with CentrelineScores, not from the evaluator's code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from guidewire_model.data import layout
from guidewire_model.data.sequences import load_frame, scan_dataset
from guidewire_model.evaluation.evaluate import evaluate, main
from guidewire_model.metrics.wires import CentrelineScores, wires_cross
from guidewire_model.runtime.backends import create_backend
from guidewire_model.runtime.pipeline import GuidewirePipeline
from guidewire_model.synthetic import SyntheticConfig, write_dataset
from test_evaluate_folder import write_folder

MODEL = Path(__file__).resolve().parents[1] / "models" / "default.onnx"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lines") / "data"
    # Five runs of four frames: enough for the tracker to carry identities from frame to frame.
    write_dataset(root, 5, 4, SyntheticConfig.preset("medium", size=512), seed=77, progress=False)
    return root


def _as_the_node_publishes(root) -> dict:
    pipeline = GuidewirePipeline(create_backend("onnxruntime", MODEL, device="cpu"))
    scores = CentrelineScores()
    for seq in scan_dataset(root):
        pipeline.reset()
        scores.new_sequence()
        for i in range(len(seq)):
            image, _ = load_frame(seq, i)
            truth = layout.read_centrelines(seq.centreline_paths[i])
            scores.update(pipeline.process(image).wires, truth, crossing=wires_cross(truth))
    return scores.summary()


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key, value in b.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(a[key]), key
        else:
            assert a[key] == pytest.approx(value), key


def test_the_published_centrelines_are_scored_as_the_node_publishes_them(data, tmp_path):
    r = evaluate(MODEL, tmp_path / "eval", data=data, split="all", reference=None, n_overlays=0)
    expected = _as_the_node_publishes(data)
    assert expected["frames"] == 20 and expected["missed_wires"] < 40  # the model finds some wires
    missed = r["lines"].pop("missed_by_coverage")
    _same(r["lines"], expected)
    assert sum(missed.values()) == expected["missed_wires"]
    report = (tmp_path / "eval" / "metrics.md").read_text()
    assert "## Published centrelines" in report
    assert f"- this model: {missed['mask_lacks']}, {missed['mask_partial']}, {missed['mask_holds']}" in report
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["lines"]["frames"] == 20


def test_a_model_against_itself_publishes_the_same_lines(data, tmp_path, capsys):
    assert main(["--model", str(MODEL), "--compare", str(MODEL), "--data", str(data), "--split", "all",
                 "--no-reference", "--overlays", "0", "--resamples", "200", "--out", str(tmp_path / "vs")]) == 0
    printed = capsys.readouterr().out
    assert "published centrelines: wires told apart +0.0 points" in printed
    r = json.loads((tmp_path / "vs" / "metrics.json").read_text())
    _same(r["comparison"]["lines"], r["lines"])
    d = r["comparison"]["difference"]["lines"]
    assert d["paired_wires"] > 0
    for key in ("assignment_accuracy", "tips_found", "id_switches_per_100_frames", "tip_error_median_px",
                "mean_centreline_distance_px"):
        assert (d[key]["difference"], d[key]["low"], d[key]["high"]) == (0.0, 0.0, 0.0), key
    assert "- wires told apart: +0.0 points" in (tmp_path / "vs" / "metrics.md").read_text()


def test_frames_without_centrelines_get_no_line_figures(tmp_path):
    write_folder(tmp_path / "folder", seed=5)
    r = evaluate(MODEL, tmp_path / "eval", folder=tmp_path / "folder", reference=None, n_overlays=0)
    assert "lines" not in r and "Published centrelines" not in (tmp_path / "eval" / "metrics.md").read_text()
