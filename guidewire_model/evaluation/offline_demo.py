"""The offline package end to end in a few minutes on a CPU: data -> training -> evaluation -> ONNX.

::

    guidewire-demo-offline --out out/offline_demo

1. writes a small synthetic data set (``config/train_demo.yaml`` documents the same command);
2. trains the demo config (a narrow ResNet-18 LinkNet at 128 px) on it;
3. evaluates the best checkpoint on the held-out test patient (pixel precision/recall/F1 and F1@2,
   threshold sweep, overlays, the Frangi reference row);
4. exports it to ONNX with the parity check;
and prints the figures beside the all-background and all-foreground baselines and the classical
Frangi filter. This is the path a
hospital team follows on its own data, scaled down; ``--epochs`` and ``--sequences`` scale it up.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from guidewire_model.training.config import load_train_config

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.evaluation.evaluate import evaluate_checkpoint
from guidewire_model.training.export import export_onnx
from guidewire_model.synthetic import SyntheticConfig, write_dataset
from guidewire_model.training.train import train

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="guidewire-demo-offline", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default="out/offline_demo", help="folder for data, run, report and model")
    parser.add_argument("--sequences", type=int, default=6, help="synthetic patient sequences")
    parser.add_argument("--frames", type=int, default=8, help="frames per sequence")
    parser.add_argument("--epochs", type=int, default=None, help="override the demo config's epochs")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    out = Path(args.out)
    data = out / "data"
    run = out / "run"
    overrides = {"data.root": str(data), "output_dir": str(run)}
    if args.epochs is not None:
        overrides["optim.epochs"] = args.epochs
    cfg = load_train_config(config_dir() / "train_demo.yaml", overrides)
    size = cfg.model.input_size
    if not (data / "P000").is_dir():
        # Wide wires on the easy preset: at 128 px the real 1.5-4 px wires would be under a pixel.
        write_dataset(data, args.sequences, args.frames,
                      SyntheticConfig.preset("easy", size=size, wire_width=(5.0, 7.0)), args.seed)
    if (run / "last.pt").exists():
        summary = train(cfg, resume=True)
    else:
        summary = train(cfg)
    report = evaluate_checkpoint(run / "best.pt", data, split="test", out_dir=out / "eval")
    model = export_onnx(run / "best.pt", out / "model.onnx")

    overall = report["overall"]
    fg = (overall["tp"] + overall["fn"]) / max(overall["tp"] + overall["fp"] + overall["fn"] + overall["tn"], 1)
    all_fg_f1 = 2 * fg / (1 + fg)
    print("\n[offline demo] held-out test patient, pixel metrics at threshold "
          f"{report.get('threshold', cfg.threshold):g}:")
    tol = overall["tolerance"]
    d = f"{tol['tolerance_px']:g}"
    print(f"  precision {overall['precision']:.3f}  recall {overall['recall']:.3f}  F1 {overall['f1']:.3f}  |  "
          f"within {d} px: P@{d} {tol['precision']:.3f}  R@{d} {tol['recall']:.3f}  F1@{d} {tol['f1']:.3f}")
    print(f"  baselines: all-background F1 0.000, all-foreground F1 {all_fg_f1:.3f}")
    ref = report["reference"]
    print(f"  classical reference, {ref['label']} at threshold {ref['threshold']:.3f} (chosen on the validation "
          f"patient): F1 {ref['overall']['f1']:.3f}, F1@{d} {ref['overall']['tolerance']['f1']:.3f}")
    best_t, best_f1 = report["best_threshold"]["threshold"], report["best_threshold"]["f1"]
    print(f"  best threshold of the sweep: {best_t:.3f} (F1 {best_f1:.3f})")
    print(f"  best validation F1 during training (at its best threshold): {summary['best_val_f1']:.3f} "
          f"(epoch {summary['best_epoch']} of {summary['epochs_run']})")
    print(f"  ONNX export: {out / 'model.onnx'} ({model['file_size'] / 1e6:.2f} MB), "
          f"max |ONNX Runtime - PyTorch| = {model['max_abs_diff']:.2e}")
    print(f"  report: {out / 'eval' / 'metrics.md'}; TensorBoard: tensorboard --logdir {run / 'tb'}")
    (out / "summary.json").write_text(json.dumps({"train": summary, "test": overall, "reference": ref["overall"]},
                                                 indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
