"""The (alpha, gamma) sweep trains, tests and tabulates every combination."""

from __future__ import annotations

import json
from pathlib import Path

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.evaluation.sweep import main, sweep_markdown
from guidewire_model.synthetic import SyntheticConfig, write_dataset


def test_tiny_sweep_writes_paper_shaped_tables(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_dataset(data, 3, 2, SyntheticConfig.preset("easy", size=64), seed=2, progress=False)
    out = tmp_path / "sweep"
    argv = ["--config", str(config_dir() / "train_demo.yaml"), "--alphas", "5,20", "--gammas", "0,2",
            "--set", f"data.root={data}", "--set", "model.input_size=64", "--set", "model.encoder_width=8",
            "--set", "optim.epochs=1", "--set", "optim.batch_size=2", "--set", "optim.micro_batch_size=2",
            "--out", str(out)]
    assert main(argv) == 0

    result = json.loads((out / "sweep.json").read_text())
    runs = result["runs"]
    assert [(r["alpha"], r["gamma"]) for r in runs] == [(5, 0), (20, 0), (5, 2), (20, 2)]
    for r in runs:
        metrics = json.loads((out / r["run"] / "eval" / "metrics.json").read_text())
        assert metrics["split"] == "test" and metrics["loss"] == {"alpha": r["alpha"], "gamma": r["gamma"]}
        assert r["f1"] == metrics["overall"]["f1"]
        assert r["tolerance"]["f1"] == metrics["overall"]["tolerance"]["f1"] and r["tolerance"]["tolerance_px"] == 2.0
        assert "reference" not in metrics  # the loss-independent Frangi row is not recomputed per run

    md = (out / "sweep.md").read_text()
    assert md == sweep_markdown(runs)
    bce = [r for r in runs if r["gamma"] == 0]
    assert "| Weighting Factor α | 5 | 20 |" in md
    assert "| F1-Score | " + " | ".join(f"{r['f1']:.3f}" for r in bce) + " |" in md
    assert "| F1@2 | " + " | ".join(f"{r['tolerance']['f1']:.3f}" for r in bce) + " |" in md
    assert "### Modulating factor γ = 2" in md
    for r in runs[2:]:
        assert (f"| {r['alpha']:g} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                f"{r['tolerance']['f1']:.3f} |") in md

    # Started again, the sweep reuses its finished runs instead of training them again.
    stamp = (out / "a5_g0" / "last.pt").stat().st_mtime_ns
    assert main(argv) == 0
    assert (out / "a5_g0" / "last.pt").stat().st_mtime_ns == stamp
    assert json.loads((out / "sweep.json").read_text())["runs"] == runs
