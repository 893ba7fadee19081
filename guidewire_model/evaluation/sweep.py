"""The paper's (alpha, gamma) experiment: one training run per combination, evaluated on the test split.

Reproduces Table I (alpha-balanced BCE, i.e. gamma = 0: alpha vs F1) and Table II (modified focal
loss: per gamma, alpha vs precision, recall and F1). The paper's full grid, with its training
setup (300 epochs each, one GPU per run -- days of compute)::

    guidewire-sweep --config config/train_paper.yaml \\
        --alphas 10,20,50,75,100,125,150,200,500,1000 --gammas 0,1.5,2,2.5,3 \\
        --set data.root=data/guidewire --out runs/sweep

(the paper ran a subset of that grid per gamma: Table I alpha 50..1000 at gamma 0, Table II
alpha 10..200 around each gamma's optimum). Runs are sequential and each lives in
``<out>/a<alpha>_g<gamma>/``; an interrupted sweep continues where it stopped when started again
with the same arguments (finished runs are reused, an unfinished one is resumed). Results go to
``<out>/sweep.json`` and ``<out>/sweep.md``: the paper's strict pixel scores, and beside them F1@2
(``tolerance`` in the JSON rows; see :mod:`guidewire_model.metrics.pixels`). The Frangi reference row of
``guidewire-eval`` does not depend on the loss, so the sweep's evaluations skip it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from guidewire_model.training.checkpoint import CheckpointError
from guidewire_model.training.config import ConfigError, load_train_config, parse_override

__all__ = ["main", "run_sweep", "sweep_markdown"]

log = logging.getLogger("guidewire_model.evaluation.sweep")


def _floats(text: str, name: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ConfigError(f"--{name} {text!r}: expected comma-separated numbers, e.g. 50,100") from exc
    if not values or any(v < 0 for v in values):
        raise ConfigError(f"--{name} {text!r}: expected one or more non-negative numbers")
    return values


def _run_name(alpha: float, gamma: float) -> str:
    return f"a{alpha:g}_g{gamma:g}"


def run_sweep(config: str | None, alphas: Sequence[float], gammas: Sequence[float], overrides: dict[str, Any],
              out: str | Path) -> list[dict[str, Any]]:
    """Train and evaluate every (alpha, gamma); returns one row per run and writes the reports.

    Raises
    ------
    ConfigError, CheckpointError, dataset.DatasetError
        As :func:`guidewire_model.training.train.train` and :func:`guidewire_model.evaluation.evaluate.evaluate_checkpoint`.
    """
    from guidewire_model.evaluation.evaluate import evaluate_checkpoint
    from guidewire_model.training.train import train

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for gamma in gammas:
        for alpha in alphas:
            run_dir = out / _run_name(alpha, gamma)
            cfg = load_train_config(config, {**overrides, "loss.alpha": float(alpha), "loss.gamma": float(gamma),
                                             "output_dir": str(run_dir)})
            if cfg.data.test_patients < 1:
                raise ConfigError("the sweep evaluates on the test split: set data.test_patients >= 1")
            metrics_file = run_dir / "eval" / "metrics.json"
            if (run_dir / "summary.json").is_file() and metrics_file.is_file():
                log.info("alpha %g gamma %g: reusing the finished run in %s", alpha, gamma, run_dir)
                metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
                summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
            else:
                log.info("alpha %g gamma %g: training in %s", alpha, gamma, run_dir)
                summary = train(cfg, resume=(run_dir / "last.pt").is_file())
                metrics = None
            if metrics is None or "tolerance" not in metrics["overall"]:  # also reports written before F1@2
                metrics = evaluate_checkpoint(run_dir / "best.pt", cfg.data.root, "test", run_dir / "eval",
                                              reference=None)
            o, t = metrics["overall"], metrics["overall"]["tolerance"]
            rows.append({
                "alpha": float(alpha), "gamma": float(gamma), "run": run_dir.name,
                "precision": o["precision"], "recall": o["recall"], "f1": o["f1"],
                "tolerance": {k: t[k] for k in ("tolerance_px", "precision", "recall", "f1")},
                "best_val_f1": summary["best_val_f1"], "best_epoch": summary["best_epoch"],
            })
            log.info("alpha %g gamma %g: test P %.4f R %.4f F1 %.4f F1@%g %.4f", alpha, gamma, o["precision"],
                     o["recall"], o["f1"], t["tolerance_px"], t["f1"])
    (out / "sweep.json").write_text(json.dumps({"config": config, "overrides": overrides, "runs": rows}, indent=2),
                                    encoding="utf-8")
    (out / "sweep.md").write_text(sweep_markdown(rows), encoding="utf-8")
    return rows


def sweep_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Tables shaped like the paper's Table I (gamma = 0) and Table II (one per gamma > 0), each
    with F1@2 beside the paper's strict scores."""
    tol = f"F1@{rows[0]['tolerance']['tolerance_px']:g}" if rows else "F1@2"
    lines = ["# (alpha, gamma) sweep: test-split pixel scores", "",
             f"Strict pixel scores as the paper's tables; {tol}: within {tol[3:]} px (see guidewire_model.metrics.pixels).",
             ""]
    bce = [r for r in rows if r["gamma"] == 0]
    if bce:
        lines += ["## Table I: varying alpha for BCE loss (gamma = 0)", "",
                  "| Weighting Factor α | " + " | ".join(f"{r['alpha']:g}" for r in bce) + " |",
                  "|---|" + "---|" * len(bce),
                  "| F1-Score | " + " | ".join(f"{r['f1']:.3f}" for r in bce) + " |",
                  f"| {tol} | " + " | ".join(f"{r['tolerance']['f1']:.3f}" for r in bce) + " |", ""]
    gammas = sorted({r["gamma"] for r in rows if r["gamma"] > 0})
    if gammas:
        lines += ["## Table II: varying alpha for modified focal loss", ""]
    for gamma in gammas:
        lines += [f"### Modulating factor γ = {gamma:g}", "",
                  f"| Weighting Factor α | Precision | Recall | F1-Score | {tol} |", "|---|---|---|---|---|"]
        lines += [f"| {r['alpha']:g} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                  f"{r['tolerance']['f1']:.3f} |" for r in rows if r["gamma"] == gamma]
        lines.append("")
    if rows:
        best = max(rows, key=lambda r: r["f1"])
        lines.append(f"Best: α = {best['alpha']:g}, γ = {best['gamma']:g}, F1 {best['f1']:.3f}, "
                     f"{tol} {best['tolerance']['f1']:.3f} ({best['run']}).")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``guidewire-sweep``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="guidewire-sweep",
                                     description="Train and test one model per (alpha, gamma), as Tables I and II.")
    parser.add_argument("--config", help="training YAML (default: the paper's)")
    parser.add_argument("--alphas", default="50,100", help="comma-separated alphas (default 50,100)")
    parser.add_argument("--gammas", default="0,1.5,2,2.5,3", help="comma-separated gammas (default 0,1.5,2,2.5,3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    parser.add_argument("--out", required=True, help="sweep folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    from guidewire_model.data.sequences import DatasetError

    try:
        overrides = dict(parse_override(s) for s in args.set)
        run_sweep(args.config, _floats(args.alphas, "alphas"), _floats(args.gammas, "gammas"), overrides, args.out)
    except (ConfigError, CheckpointError, DatasetError) as exc:
        print(f"guidewire-sweep: error: {exc}", file=sys.stderr)
        return 2
    print(Path(args.out) / "sweep.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
