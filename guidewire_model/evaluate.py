"""Evaluate a checkpoint on full-resolution frames, as the paper reports its results.

Usage::

    guidewire-eval --checkpoint runs/paper/best.pt --data data/guidewire --split test --out runs/paper/eval

Each frame goes through exactly the inference path of the exported model (``prepare_batch`` ->
network -> sigmoid -> ``restore_size`` to the frame's size), and is compared with its mask at the
frame's own resolution. Precision, recall and F1 are pixel scores over *all* pixels of the split
(the paper's numbers), plus the same per sequence. A threshold sweep gives the precision-recall
curve and the F1-best threshold.

Outputs in ``out``: ``metrics.json``, ``metrics.md`` (tables), ``pr_curve.png`` and
``overlays/<sequence>_<frame>.png`` of the frames with the lowest F1 (TP green, FP red, FN blue).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint, model_from_payload

__all__ = ["SPLITS", "evaluate_checkpoint", "main", "predict_frames"]

SPLITS = ("test", "val", "train", "all")

#: Frames per forward pass; evaluation is inference-only, so memory is small.
EVAL_BATCH = 8

#: Resolution of the threshold sweep (thresholds k / 1000).
SWEEP_BINS = 1000


@torch.no_grad()
def predict_frames(model: torch.nn.Module, images: Sequence[np.ndarray], input_size: int, mean: float,
                   std: float, device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Guidewire probabilities of full-resolution frames.

    Parameters
    ----------
    model : nn.Module
        Network returning logits, in eval mode.
    images : sequence of ndarray, shape (H, W), uint8 / uint16 / float in [0, 1]
        Frames; sizes may differ.
    input_size, mean, std
        The model's input side and normalisation (``ModelConfig``).

    Returns
    -------
    list of ndarray, shape (H, W) of each frame, float32 in [0, 1]
    """
    from .preprocess import prepare_batch, restore_size

    batch = torch.from_numpy(prepare_batch(images, input_size, mean, std)).to(device)
    prob = torch.sigmoid(model(batch).float()).cpu().numpy()
    return [restore_size(p[0], img.shape) for p, img in zip(prob, images)]


def _select_sequences(payload: dict[str, Any], ckpt: Path, data_root: str | os.PathLike, split: str):
    from .dataset import DatasetError, Split, scan_dataset

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    sequences = scan_dataset(data_root)
    if split == "all":
        return sequences
    if "split" not in payload:
        raise CheckpointError(f"{ckpt}: has no stored split; evaluate with split='all'")
    stored = Split.from_json(json.dumps(payload["split"]), source=f"{ckpt} (stored split)")
    chosen = stored.sequences(split, sequences)
    if not chosen:
        raise DatasetError(f"{ckpt}: the stored split has no {split!r} sequences; choose another split or 'all'")
    return chosen


def evaluate_checkpoint(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    split: str = "test",
    out_dir: str | os.PathLike = "eval",
    threshold: float | None = None,
    n_overlays: int = 8,
    device: str = "cpu",
) -> dict[str, Any]:
    """Pixel precision/recall/F1 of a checkpoint on one part of a data set, with a report.

    Parameters
    ----------
    checkpoint : path-like
        ``best.pt`` / ``last.pt`` written by training.
    data_root : path-like
        Data set folder (layout of :mod:`guidewire_model.layout`).
    split : {"test", "val", "train", "all"}
        Part of the split stored in the checkpoint, or every sequence under ``data_root``.
    out_dir : path-like
        Report folder (created).
    threshold : float, optional
        Probability threshold of the binary mask; default the run's ``threshold``.
    n_overlays : int
        Number of worst frames (lowest F1) written as overlays.
    device : str
        Torch device for inference.

    Returns
    -------
    dict
        The content of ``metrics.json``: ``overall`` (tp/fp/fn/tn/precision/recall/f1),
        ``per_sequence``, ``best_threshold`` (threshold, f1), ``worst_frames``, file names.

    Raises
    ------
    CheckpointError
        If the checkpoint cannot be read or has no stored split (for split != all).
    dataset.DatasetError
        If the data set is invalid or lacks sequences of the stored split.
    ValueError
        On an unknown ``split`` or a threshold outside [0, 1].
    """
    from .dataset import load_frame
    from .metrics import PixelCounts, ThresholdSweep, pixel_counts
    from .overlay import error_overlay, write_png
    from .preprocess import binarize

    ckpt = Path(checkpoint)
    payload = load_checkpoint(ckpt)
    model, cfg = model_from_payload(payload, ckpt, device)
    threshold = cfg.threshold if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
    sequences = _select_sequences(payload, ckpt, data_root, split)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = cfg.model

    total = PixelCounts()
    per_seq: dict[str, PixelCounts] = {}
    sweep = ThresholdSweep(SWEEP_BINS)
    frame_scores: list[tuple[float, str, int]] = []
    for seq in sequences:
        per_seq[seq.name] = PixelCounts()
        for start in range(0, len(seq), EVAL_BATCH):
            idx = range(start, min(start + EVAL_BATCH, len(seq)))
            frames = [load_frame(seq, i) for i in idx]
            probs = predict_frames(model, [f[0] for f in frames], m.input_size, m.input_mean, m.input_std, device)
            for i, (_, mask), prob in zip(idx, frames, probs):
                counts = pixel_counts(binarize(prob, threshold), mask)
                total = total + counts
                per_seq[seq.name] = per_seq[seq.name] + counts
                sweep.update(prob, mask)
                frame_scores.append((counts.f1, seq.name, i))

    # Worst frames first; ties broken by name so the report is reproducible.
    worst = sorted(frame_scores)[: max(n_overlays, 0)]
    by_name = {s.name: s for s in sequences}
    overlay_files = []
    for f1, name, i in worst:
        image, mask = load_frame(by_name[name], i)
        prob = predict_frames(model, [image], m.input_size, m.input_mean, m.input_std, device)[0]
        rel = f"overlays/{name}_{i:06d}.png"
        write_png(out / rel, error_overlay(image, binarize(prob, threshold), mask))
        overlay_files.append(rel)

    best_t, best_f1 = sweep.best()
    curve = sweep.curve()
    _plot_pr_curve(out / "pr_curve.png", curve, sweep.counts_at(threshold), threshold, best_t, best_f1)
    result = {
        "checkpoint": str(ckpt),
        "data_root": str(data_root),
        "split": split,
        "threshold": threshold,
        "n_sequences": len(sequences),
        "n_frames": len(frame_scores),
        "overall": total.to_dict(),
        "per_sequence": {name: c.to_dict() for name, c in per_seq.items()},
        "best_threshold": {"threshold": best_t, "f1": best_f1},
        "worst_frames": [{"sequence": n, "frame": i, "f1": f, "overlay": o}
                         for (f, n, i), o in zip(worst, overlay_files)],
        "pr_curve": "pr_curve.png",
        "loss": {"alpha": cfg.loss.alpha, "gamma": cfg.loss.gamma},
    }
    (out / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    (out / "metrics.md").write_text(_markdown(result), encoding="utf-8")
    return result


def _plot_pr_curve(path: Path, curve: dict[str, np.ndarray], at, threshold: float, best_t: float, best_f1: float) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on training servers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    try:
        ax.plot(curve["recall"], curve["precision"], lw=1.5, label="threshold sweep")
        ax.plot([at.recall], [at.precision], "o", label=f"threshold {threshold:g}: F1 {at.f1:.3f}")
        k = int(round(best_t * (len(curve["thresholds"]))))
        ax.plot([curve["recall"][k]], [curve["precision"][k]], "s", label=f"best threshold {best_t:g}: F1 {best_f1:.3f}")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left")
        ax.set_title("Pixel precision-recall")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _markdown(r: dict[str, Any]) -> str:
    o = r["overall"]
    lines = [
        f"# Evaluation of `{r['checkpoint']}`",
        "",
        f"Split **{r['split']}** of `{r['data_root']}`: {r['n_sequences']} sequences, {r['n_frames']} frames, "
        f"threshold {r['threshold']:g}; pixel scores over all frames at full resolution.",
        "",
        "| | Precision | Recall | F1-Score |",
        "|---|---|---|---|",
        f"| **all** | {o['precision']:.3f} | {o['recall']:.3f} | {o['f1']:.3f} |",
    ]
    for name, c in r["per_sequence"].items():
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} |")
    b = r["best_threshold"]
    lines += [
        "",
        f"Best threshold of the sweep: {b['threshold']:g} (F1 {b['f1']:.3f}). "
        f"Precision-recall curve: `{r['pr_curve']}`.",
        "",
        "Worst frames (TP green, FP red, FN blue):",
        "",
    ]
    lines += [f"- {w['sequence']} frame {w['frame']}: F1 {w['f1']:.3f} (`{w['overlay']}`)" for w in r["worst_frames"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``guidewire-eval``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="guidewire-eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="best.pt / last.pt of a training run")
    parser.add_argument("--data", required=True, help="data set folder")
    parser.add_argument("--split", default="test", choices=SPLITS, help="part of the run's split (default test)")
    parser.add_argument("--out", required=True, help="report folder")
    parser.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the run's)")
    parser.add_argument("--overlays", type=int, default=8, help="number of worst-frame overlays (default 8)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args(argv)

    from .dataset import DatasetError

    try:
        r = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.out, args.threshold, args.overlays,
                                args.device)
    except (CheckpointError, DatasetError, ValueError) as exc:
        print(f"guidewire-eval: error: {exc}", file=sys.stderr)
        return 2
    o = r["overall"]
    print(f"{r['split']}: {r['n_frames']} frames  precision {o['precision']:.4f}  recall {o['recall']:.4f}  "
          f"F1 {o['f1']:.4f}  -> {Path(args.out) / 'metrics.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
