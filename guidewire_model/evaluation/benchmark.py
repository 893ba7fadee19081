"""``guidewire-bench``: the benchmark suite, plus the small timing helpers other benchmarks use.

The command times the per-frame pipeline stage by stage (preprocess, model, postprocess, end to
end) for every backend x network input size x precision, PyTorch eager being the reference of each
model and size, on real synthetic fluoroscopy frames; it reports p50/p99 latencies, FPS, peak
memory and the frames a keep-latest node would drop at a given input rate, as a markdown table and
JSON. The suite is :mod:`guidewire_model.evaluation.benchmark_suite`; the statistics conventions (percentiles,
FPS, memory, drops) are :mod:`guidewire_model.evaluation.measurement`'s, shared with the node benchmark and
the bag evaluator. Results and the machine they were measured on: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from guidewire_model.runtime.rolling_stats import latency_summary

__all__ = ["BACKENDS", "build_parser", "format_table", "main", "time_backend", "time_callable"]

BACKENDS = ("torch", "onnxruntime", "tensorrt")

log = logging.getLogger(__name__)


def time_callable(fn: Callable[[], Any], runs: int, warmup: int) -> dict[str, float]:
    """Wall-clock latency of ``fn()`` in milliseconds.

    Parameters
    ----------
    fn : callable
        Called ``warmup`` times untimed, then ``runs`` times, each timed with
        :func:`time.perf_counter`.
    runs : int
        Timed calls, >= 1.
    warmup : int
        Untimed calls first (allocations, lazy initialisation, caches), >= 0.

    Returns
    -------
    dict
        :func:`~guidewire_model.runtime.rolling_stats.latency_summary` of the timed calls: ``p50``,
        ``p90``, ``p99``, ``mean``, ``min``, ``max`` (ms) and ``runs``.

    Raises
    ------
    ValueError
        If ``runs`` < 1 or ``warmup`` < 0.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - start) * 1e3
    return latency_summary(times)


def time_backend(backend: Any, frame: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """:func:`time_callable` of ``backend.infer(frame)``; ms per call of a (1, 1, S, S) batch."""
    return time_callable(lambda: backend.infer(frame), runs, warmup)


def format_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown table of :func:`time_callable` results, one row per backend."""
    lines = ["| backend | median ms/frame | p90 ms | p99 ms | mean ms |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {r['mean']:.1f} |")
    return "\n".join(lines)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 256,512; got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return values


def _backend_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = sorted(set(names) - set(BACKENDS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {', '.join(unknown) or text!r}; "
                                         f"choose from {', '.join(BACKENDS)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    """The ``guidewire-bench`` command line."""
    from guidewire_model.runtime.backends.base import default_threads

    parser = argparse.ArgumentParser(
        prog="guidewire-bench",
        description="Time the per-frame pipeline (preprocess, model, postprocess, end to end) for every "
                    "backend x input size x precision on synthetic fluoroscopy, with PyTorch eager as the "
                    "reference. Prints a markdown table; --json / --markdown write the report.",
    )
    parser.add_argument("--config", default=None,
                        help="training config of a freshly built model with random weights (default: "
                             "config/train_default_model.yaml when no --checkpoint/--onnx is given)")
    parser.add_argument("--checkpoint", default=None, help="training checkpoint (.pt): its trained weights")
    parser.add_argument("--onnx", default=None,
                        help="exported .onnx (ONNX Runtime / TensorRT only, at the file's input size)")
    parser.add_argument("--paper", action="store_true",
                        help="also run the paper's ResNet-50 LinkNet (config/train_paper.yaml, random weights)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a --config key, e.g. --set model.encoder_width=8 (repeatable)")
    parser.add_argument("--sizes", "--size", type=_int_list, default=None, metavar="S[,S...]",
                        help="network input sides, the model exported at each (default 256,512; an --onnx "
                             "file's own size)")
    parser.add_argument("--backends", type=_backend_list, default=list(BACKENDS), metavar="NAME[,NAME...]",
                        help="subset of %(default)s; tensorrt is skipped with a note without a GPU")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto = cuda when PyTorch sees a GPU (default %(default)s)")
    parser.add_argument("--runs", type=int, default=30, help="timed frames per row (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed frames first (default %(default)s)")
    parser.add_argument("--paper-runs", type=int, default=4, help="timed frames for --paper (default %(default)s)")
    parser.add_argument("--paper-warmup", type=int, default=1, help="untimed frames for --paper (default %(default)s)")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="CPU intra-op threads of torch and ONNX Runtime (default: allowed cores, %(default)s)")
    parser.add_argument("--frame-size", type=int, default=512, help="synthetic frame side (default %(default)s)")
    parser.add_argument("--frames", type=int, default=16,
                        help="distinct synthetic frames, cycled (one sequence; default %(default)s)")
    parser.add_argument("--preset", choices=("easy", "medium", "hard"), default="medium",
                        help="synthetic difficulty (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic sequence seed (default %(default)s)")
    parser.add_argument("--rate", type=float, default=15.0,
                        help="input rate for the keep-latest drop figures, Hz (default %(default)s)")
    parser.add_argument("--engine-cache", default=None,
                        help="TensorRT engine folder (default: a temporary one, deleted afterwards)")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the full report as JSON")
    parser.add_argument("--markdown", default=None, metavar="OUT", help="write the markdown table to a file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _sources(args: argparse.Namespace) -> list:
    from guidewire_model.evaluation.benchmark_suite import ModelSource
    from guidewire_model.training.config import parse_override
    from guidewire_model.core.shipped_files import config_dir

    overrides = tuple(parse_override(s) for s in args.set)
    sources = []
    if args.checkpoint:
        sources.append(ModelSource(Path(args.checkpoint).stem, "checkpoint", args.checkpoint))
    if args.onnx:
        sources.append(ModelSource(Path(args.onnx).stem, "onnx", args.onnx))
    if args.config or not sources:
        path = args.config or str(config_dir() / "train_default_model.yaml")
        sources.append(ModelSource(Path(path).stem.removeprefix("train_"), "config", path, overrides))
    if args.paper:
        sources.append(ModelSource("paper", "config", str(config_dir() / "train_paper.yaml"),
                                   runs=args.paper_runs, warmup=args.paper_warmup))
    return sources


def main(argv: Sequence[str] | None = None) -> int:
    """``guidewire-bench``: the benchmark suite; exit 0, or 2 on bad input (the message names the file)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.runs, args.paper_runs, args.threads, args.frame_size, args.frames) < 1 \
            or min(args.warmup, args.paper_warmup) < 0 or not args.rate > 0:
        parser.error("--runs, --paper-runs, --threads, --frame-size, --frames and --rate must be positive, "
                     "--warmup and --paper-warmup >= 0")

    import importlib.util

    import onnxruntime
    import torch

    from guidewire_model.runtime.backends.base import BackendError
    from guidewire_model.evaluation.benchmark_suite import format_markdown, plan_cases, run_suite
    from guidewire_model.training.checkpoint import CheckpointError
    from guidewire_model.training.config import ConfigError
    from guidewire_model.training.export import ExportError
    from guidewire_model.runtime.model_info import ModelFileError, read_onnx_info
    from guidewire_model.synthetic import SyntheticConfig, generate_sequence

    cuda = torch.cuda.is_available()
    device = ("cuda" if cuda else "cpu") if args.device == "auto" else args.device
    try:
        cases, notes = plan_cases(args.backends, device, cuda_available=cuda,
                                  tensorrt_available=importlib.util.find_spec("tensorrt") is not None,
                                  ort_cuda_available="CUDAExecutionProvider" in onnxruntime.get_available_providers())
    except ValueError as exc:
        parser.error(str(exc))
    if args.onnx and not any(c.backend != "torch" for c in cases):
        parser.error("--onnx runs on onnxruntime or tensorrt; add one of them to --backends")
    try:
        sources = _sources(args)
        sizes = args.sizes
        if sizes is None:
            sizes = [read_onnx_info(args.onnx).input_size] if args.onnx else [256, 512]
        frames = [f.image for f in generate_sequence(
            SyntheticConfig.preset(args.preset, size=args.frame_size), args.seed, args.frames)]
        report = run_suite(sources, sizes, cases, frames, runs=args.runs, warmup=args.warmup,
                           threads=args.threads, rate_hz=args.rate, engine_cache_dir=args.engine_cache,
                           progress=not args.no_progress)
    except (CheckpointError, ConfigError, ModelFileError, ExportError, BackendError) as exc:
        print(f"guidewire-bench: error: {exc}", file=sys.stderr)
        return 2
    report["notes"] = notes + report["notes"]
    report["command"] = ["guidewire-bench", *(sys.argv[1:] if argv is None else argv)]
    for note in report["notes"]:
        print(f"note: {note}", file=sys.stderr)
    table = format_markdown(report)
    print(table)
    for path, text in ((args.json, json.dumps(report, indent=2) + "\n"), (args.markdown, table + "\n")):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
