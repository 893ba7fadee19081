"""The bag evaluation's report: ``report.md`` and a self-contained ``report.html`` with figures.

Both open with the headline numbers (accuracy -- strict pixel F1 and F1@2 --, latency, throughput, drops), then any damage found
in the bags, then per-sequence rows, the precision-recall curve, latency over time and its
histogram, and the worst frames as overlays (true positives green, false positives red, false
negatives blue, predicted centrelines with their ids). The PNGs are written to ``figures/`` (linked
from the markdown) and embedded in the HTML, so the HTML file can be sent on its own.

Input is the summary of :class:`guidewire_model.evaluation.bag_evaluation.Evaluation` (offline or live) and a few
:class:`~guidewire_model.evaluation.frame_record.FrameRecord` with images for the overlays. This module
imports nothing of ``bag_eval`` (which imports it): the shared types live in :mod:`.frame_record`.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from guidewire_model.evaluation.frame_record import FrameRecord, frame_badness
from guidewire_model.metrics.wires import TIP_FOUND_PX
from guidewire_model.runtime.overlay import error_overlay, write_png
from guidewire_model.runtime.wire_overlay import draw_wires, render_overlay

__all__ = ["headline_text", "write_report"]


def _num(value: Any, fmt: str = ".3f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:{fmt}}{unit}"


def _pct(value: Any) -> str:
    return _num(None if value is None else 100.0 * value, ".1f", "%")


def _headline_items(summary: dict[str, Any]) -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = [("frames", str(summary.get("frames", 0)))]
    pixel = summary.get("pixel")
    if pixel:
        items.append(("pixel F1", f"{_num(pixel['f1'])} (precision {_num(pixel['precision'])}, "
                                  f"recall {_num(pixel['recall'])})"))
        t = pixel["tolerance"]
        items.append((_tolerance_label(t), f"{_num(t['f1'])} (precision {_num(t['precision'])}, "
                                           f"recall {_num(t['recall'])})"))
    cl = summary.get("centreline")
    if cl:
        items.append(("centreline distance", _num(cl.get("mean_centreline_distance_px"), ".2f", " px")))
        items.append(("tip error", _num(cl.get("tip_error_px"), ".2f", " px")))
        items.append((f"tips found within {TIP_FOUND_PX:g} px", _pct(cl.get("tips_found"))))
        items.append(("instance assignment", f"{_pct(cl.get('assignment_accuracy'))} "
                                             f"(crossing frames {_pct(cl.get('crossing_assignment_accuracy'))}, "
                                             f"{cl.get('crossing_frames', 0)} of them)"))
    key = summary.get("headline_latency")
    lat = summary.get("latency_ms", {}).get(key) if key else None
    if lat and lat.get("count"):
        items.append((f"latency ({key}) p50 / p95 / p99",
                      f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} ms"))
    items.append(("throughput", _num(summary.get("throughput_fps"), ".1f", " frames/s")))
    items.append(("dropped frames", str(summary.get("frames_dropped", 0))))
    return items


def _tolerance_label(tolerance: dict[str, Any]) -> str:
    return f"F1@{tolerance['tolerance_px']:g}"


def headline_text(summary: dict[str, Any]) -> str:
    """The headline figures as one line of text."""
    return " | ".join(f"{k}: {v}" for k, v in _headline_items(summary))


def _loss_text(bag: dict[str, Any]) -> str:
    lost, expected = bag.get("lost_frames"), bag.get("expected_frames")
    if lost is None or expected is None:
        return "the number of frames lost is unknown (the bag does not declare its frame count)"
    return f"{lost} of the {expected} frames the bag declares were not read"


def _damage_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    for bag in summary.get("bags", []):
        if bag.get("damage"):
            lines.append(f"{bag['name']}: DAMAGED, evaluated the {bag['frames']} frames read before the damage; "
                         f"{_loss_text(bag)}. {bag['damage']}")
        elif bag.get("lost_frames"):
            lines.append(f"{bag['name']}: {_loss_text(bag)} (see the problems below)")
        problems = bag.get("problems", [])
        lines += [f"{bag['name']}: {p}" for p in problems]
        if bag.get("problem_count", 0) > len(problems):
            lines.append(f"{bag['name']}: ... {bag['problem_count']} problems in all")
    return lines


def _sequence_row(name: str, part: dict[str, Any], key: str | None) -> list[str]:
    """One table row of a per-sequence entry or of the whole summary (same fields in both)."""
    px, cl = part.get("pixel"), part.get("centreline")
    lat = part.get("latency_ms", {}).get(key, {}) if key else {}
    return [name, str(part["frames"]),
            _num(px["precision"]) if px else "-", _num(px["recall"]) if px else "-",
            _num(px["f1"]) if px else "-", _num(px["tolerance"]["f1"]) if px else "-",
            _num(cl.get("mean_centreline_distance_px"), ".2f") if cl else "-",
            _num(cl.get("tip_error_px"), ".2f") if cl else "-",
            _pct(cl.get("assignment_accuracy")) if cl else "-",
            _num(lat.get("p50"), ".1f") if lat.get("count") else "-"]


def _sequence_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    key = summary.get("headline_latency")
    pixel = summary.get("pixel")
    header = ["sequence", "frames", "precision", "recall", "F1",
              _tolerance_label(pixel["tolerance"]) if pixel else "F1@2", "centreline px", "tip px", "assignment",
              f"{key or 'latency'} p50 ms"]
    rows = [_sequence_row(seq["name"], seq, key) for seq in summary.get("per_sequence", [])]
    if len(rows) > 1:
        rows.append(_sequence_row("**all**", summary, key))
    return header, rows


def _latency_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["stage", "mean", "p50", "p95", "p99", "max"]
    rows = [[k] + [_num(v.get(q), ".2f") for q in ("mean", "p50", "p95", "p99", "max")]
            for k, v in summary.get("latency_ms", {}).items() if v.get("count")]
    return header, rows


# ----------------------------------------------------------------------------------- figures


def _plots(summary: dict[str, Any], fig_dir: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and robots
    import matplotlib.pyplot as plt

    out: dict[str, Path] = {}
    pr = summary.get("pr_curve")
    if pr:
        fig, ax = plt.subplots(figsize=(5, 4.5))
        ax.plot(pr["recall"], pr["precision"], lw=1.5, label=f"AP {pr['average_precision']:.3f}")
        thresholds = np.asarray(pr["thresholds"])
        k = int(np.argmin(np.abs(thresholds - pr["best_threshold"])))
        ax.plot(pr["recall"][k], pr["precision"][k], "o",
                label=f"best F1 {pr['best_f1']:.3f} @ {pr['best_threshold']:.2f}")
        if summary.get("pixel") and summary.get("threshold") is not None:
            px = summary["pixel"]
            ax.plot(px["recall"], px["precision"], "s", label=f"used: threshold {summary['threshold']:.2f}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01),
               title="Pixel precision-recall")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        out["pr_curve"] = fig_dir / "pr_curve.png"
        fig.tight_layout()
        fig.savefig(out["pr_curve"], dpi=110)
        plt.close(fig)
    per_frame = summary.get("per_frame", {})
    latency = per_frame.get("latency_ms", {})
    if latency and per_frame.get("stamp_ns"):
        t = _run_time_axis(per_frame["stamp_ns"], per_frame.get("sequence") or [""] * len(per_frame["stamp_ns"]))
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for key, values in latency.items():
            if len(values) == len(t):
                ax.plot(t, values, lw=1, marker=".", ms=3, label=key)
        ax.set(xlabel="input stamp [s from each sequence's first frame, sequences in turn]", ylabel="ms",
               title="Latency per frame")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        out["latency_time"] = fig_dir / "latency_over_time.png"
        fig.tight_layout()
        fig.savefig(out["latency_time"], dpi=110)
        plt.close(fig)
        key = summary.get("headline_latency")
        if key in latency:
            fig, ax = plt.subplots(figsize=(5, 3.5))
            values = np.asarray(latency[key])
            ax.hist(values, bins=min(50, max(5, len(values) // 4)), color="tab:blue", alpha=0.8)
            for q, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
                v = summary["latency_ms"][key][q]
                ax.axvline(v, color="k", ls=style, lw=1, label=f"{q} {v:.1f} ms")
            ax.set(xlabel=f"{key} latency [ms]", ylabel="frames", title="Latency distribution")
            ax.legend(fontsize=8)
            out["latency_hist"] = fig_dir / "latency_histogram.png"
            fig.tight_layout()
            fig.savefig(out["latency_hist"], dpi=110)
            plt.close(fig)
    return out


def _run_time_axis(stamps_ns: Sequence[int], sequences: Sequence[str]) -> np.ndarray:
    """Seconds along the run: each sequence's own stamps, placed one after another (bags recorded
    days apart would otherwise leave the plot empty in between)."""
    t = np.zeros(len(stamps_ns))
    offset, start, prev_seq, last = 0.0, 0, None, 0.0
    for i, (stamp, seq) in enumerate(zip(stamps_ns, sequences)):
        if seq != prev_seq:
            offset, start, prev_seq = (last + 0.1 if i else 0.0), stamp, seq
        t[i] = offset + (stamp - start) / 1e9
        last = t[i]
    return t


def _overlay(record: FrameRecord) -> np.ndarray:
    wires = record.wires or []
    if record.mask is not None and record.gt_mask is not None:
        rgb = error_overlay(record.image, np.asarray(record.mask).astype(bool), np.asarray(record.gt_mask).astype(bool))
        return draw_wires(rgb, wires)
    return render_overlay(record.image, record.mask, wires)


def _worst_frames(frames: Sequence[FrameRecord], n: int, fig_dir: Path) -> list[tuple[Path, str]]:
    candidates = [f for f in frames if f.image is not None]
    ranked = sorted(candidates, key=lambda f: frame_badness(f)[:2], reverse=True)[:max(n, 0)]
    out = []
    for i, record in enumerate(ranked):
        caption = f"{record.sequence or 'frame'} @ {record.stamp_ns} ns: {frame_badness(record)[2]}"
        path = write_png(fig_dir / f"worst_{i:02d}.png", _overlay(record))
        out.append((path, caption))
    return out


# ----------------------------------------------------------------------------------- writers


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip('*'))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img_tag(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _title(summary: dict[str, Any]) -> str:
    names = ", ".join(summary.get("sequences", [])) or "frames"
    mode = summary.get("mode", "offline")
    return f"Guidewire perception, {mode} evaluation: {names}"


def _definitions(summary: dict[str, Any]) -> list[str]:
    d = _num((summary.get("pixel") or {}).get("tolerance", {}).get("tolerance_px", 2.0), "g")
    lines = ["Pixel precision / recall / F1: summed over all pixels of all frames with a ground-truth mask "
             f"(threshold {_num(summary.get('threshold'), '.3f')}); strict, pixel by pixel.",
             f"F1@{d}: precision = share of predicted pixels within {d} px of a ground-truth wire pixel, recall = "
             f"share of the ground-truth wire's skeleton within {d} px of a predicted pixel, F1@{d} their harmonic "
             "mean, summed over the same frames; it forgives the one- or two-pixel offsets of drawn annotations.",
             "Centreline distance: symmetric mean closest-point distance of matched wires; tip error: distance "
             "between distal tips; tips found: share of all ground-truth wires whose matched wire ends within "
             f"{TIP_FOUND_PX:g} px of the tip (a missed wire is not found); instance assignment: frames where "
             "every ground-truth wire is matched to its own predicted wire; crossing frames: the ground-truth "
             "wires come within 8 px of each other beyond their first 30 px.",
             "Latency: per frame, per stage; throughput: frames / wall time of the whole run."]
    return lines


def write_report(summary: dict[str, Any], frames: Sequence[FrameRecord], out_dir: str | Path,
                 n_overlays: int = 6) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` into ``out_dir``.

    Parameters
    ----------
    summary : dict
        From :meth:`guidewire_model.evaluation.bag_evaluation.Evaluation.summary` / ``summarise_frames``, optionally
        with ``bags`` (per bag: ``name``, ``frames``, ``damage``, ``problems``), ``model``, ``mode``.
    frames : sequence of FrameRecord
        Candidates for the overlays (those with an ``image``); the ``n_overlays`` worst by
        :func:`~guidewire_model.evaluation.frame_record.frame_badness` are drawn. May be every frame of a run.
    out_dir : path-like
        Created if needed.
    n_overlays : int
        Overlays to draw.

    Returns
    -------
    dict of str to Path
        ``report_md``, ``report_html`` and each figure written.
    """
    out_dir = Path(out_dir)
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    plots = _plots(summary, fig_dir)
    worst = _worst_frames(frames, n_overlays, fig_dir)
    head_items = _headline_items(summary)
    damage = _damage_lines(summary)
    seq_header, seq_rows = _sequence_rows(summary)
    lat_header, lat_rows = _latency_rows(summary)
    no_gt = not summary.get("pixel") and not summary.get("centreline")

    md = [f"# {_title(summary)}", "", *[f"- **{k}**: {v}" for k, v in head_items], ""]
    if damage:
        md += ["## Damage and problems", "", *[f"- {line}" for line in damage], ""]
    if no_gt:
        md += ["No ground truth in the input: accuracy figures are not available.", ""]
    md += ["## Sequences", "", _md_table(seq_header, seq_rows), "", "## Latency [ms]", "",
           _md_table(lat_header, lat_rows), ""]
    titles = {"pr_curve": "Precision-recall", "latency_time": "Latency over time", "latency_hist": "Latency histogram"}
    for key, path in plots.items():
        md += [f"### {titles[key]}", "", f"![{titles[key]}](figures/{path.name})", ""]
    if worst:
        md += ["## Worst frames", "", "Green: true positive, red: false positive, blue: false negative; "
               "lines: predicted centrelines (id at the tip).", ""]
        md += [f"![{c}](figures/{p.name})  \n{c}\n" for p, c in worst]
    md += ["## Definitions", "", *[f"- {d}" for d in _definitions(summary)], ""]
    if summary.get("model"):
        md += [f"Model `{summary['model']}`, backend {summary.get('backend', '?')}."]
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md) + "\n")

    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(_title(summary))}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;"
             "text-align:right}th{background:#eee}.headline td:first-child{text-align:left;font-weight:bold}"
             ".warn{background:#fee;border:1px solid #c00;padding:0.5em 1em}"
             "figure{display:inline-block;margin:0.5em;vertical-align:top;max-width:48%}"
             "figure img{max-width:100%}figcaption{font-size:0.85em}</style></head><body>",
             f"<h1>{esc(_title(summary))}</h1>",
             "<table class='headline'>" + "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                                                  for k, v in head_items) + "</table>"]
    if damage:
        parts.append("<div class='warn'><h2>Damage and problems</h2><ul>"
                     + "".join(f"<li>{esc(line)}</li>" for line in damage) + "</ul></div>")
    if no_gt:
        parts.append("<p>No ground truth in the input: accuracy figures are not available.</p>")
    parts += ["<h2>Sequences</h2>", _html_table(seq_header, seq_rows),
              "<h2>Latency [ms]</h2>", _html_table(lat_header, lat_rows)]
    for key, path in plots.items():
        parts.append(f"<figure>{_img_tag(path, titles[key])}<figcaption>{esc(titles[key])}</figcaption></figure>")
    if worst:
        parts.append("<h2>Worst frames</h2><p>Green: true positive, red: false positive, blue: false negative; "
                     "lines: predicted centrelines (id at the tip).</p>")
        parts += [f"<figure>{_img_tag(p, c)}<figcaption>{esc(c)}</figcaption></figure>" for p, c in worst]
    parts += ["<h2>Definitions</h2><ul>", *[f"<li>{esc(d)}</li>" for d in _definitions(summary)], "</ul>"]
    if summary.get("model"):
        backend = esc(str(summary.get("backend", "?")))
        parts.append(f"<p>Model <code>{esc(summary['model'])}</code>, backend {backend}.</p>")
    parts.append("</body></html>")
    html_path = out_dir / "report.html"
    html_path.write_text("\n".join(parts))
    files = {"report_md": md_path, "report_html": html_path}
    files.update({f"figure_{k}": v for k, v in plots.items()})
    files.update({f"overlay_{i}": p for i, (p, _) in enumerate(worst)})
    return files
