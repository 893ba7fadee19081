"""CPU latency benchmark: PyTorch eager vs ONNX Runtime, one frame at a time.

``guidewire-bench`` times the same preprocessed frame through the :mod:`~guidewire_model.backends`
(exactly what the runtime calls) and prints ms/frame (median, p90, p99, mean) side by side with the
PyTorch/ONNX Runtime ratio. The model is a checkpoint (``--checkpoint``, exported to a temporary
ONNX file for ONNX Runtime), an exported file (``--onnx``, ONNX Runtime only), or a freshly built
network from a config (default: the paper's ResNet-50 LinkNet with random weights, which times the
same as trained ones).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["format_table", "main", "time_backend", "time_callable"]

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
        ``p50``, ``p90``, ``p99``, ``mean``, ``min``, ``max`` (ms) and ``runs``.

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
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(times.mean()),
            "min": float(times.min()), "max": float(times.max()), "runs": runs}


def time_backend(backend: Any, frame: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """:func:`time_callable` of ``backend.infer(frame)``; ms per call of a (1, 1, S, S) batch."""
    return time_callable(lambda: backend.infer(frame), runs, warmup)


def format_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """Markdown table of :func:`time_callable` results, one row per backend."""
    lines = ["| backend | median ms/frame | p90 ms | p99 ms | mean ms |", "|---|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['p50']:.1f} | {r['p90']:.1f} | {r['p99']:.1f} | {r['mean']:.1f} |")
    return "\n".join(lines)


def _train_config(args: argparse.Namespace):
    from .config import load_train_config, parse_override

    overrides = dict(parse_override(s) for s in args.set)
    # Random weights time the same as trained ones, and nothing may be downloaded or required.
    overrides.update({"model.pretrained": False, "model.input_size": args.size})
    return load_train_config(args.config, overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """``guidewire-bench``: CPU ms/frame of PyTorch eager and ONNX Runtime; exit 0, or 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="guidewire-bench",
        description="Time one frame through PyTorch eager and ONNX Runtime on this CPU and print a markdown table.",
    )
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="training checkpoint (.pt): benchmark PyTorch and its ONNX export")
    src.add_argument("--onnx", help="exported .onnx: benchmark ONNX Runtime only")
    parser.add_argument("--config", default=None,
                        help="training config for a freshly built model when no model is given "
                             "(default: config/train_paper.yaml; pretrained is forced off)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a --config key, e.g. --set model.encoder=resnet18 (repeatable)")
    parser.add_argument("--size", type=int, default=512, help="input side in pixels (default %(default)s)")
    parser.add_argument("--runs", type=int, default=20, help="timed frames per backend (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per backend (default %(default)s)")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or args.threads < 1 or args.size < 1:
        parser.error("--runs, --threads and --size must be >= 1 and --warmup >= 0")

    from .backends.onnxruntime_backend import OnnxRuntimeBackend
    from .backends.torch_backend import TorchBackend
    from .checkpoint import CheckpointError, load_model
    from .config import ConfigError
    from .export import ExportError, check_frames, export_model
    from .model_info import ModelFileError, ModelInfo

    backends: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="guidewire-bench-") as tmp:
            if args.onnx:
                onnx_path = Path(args.onnx)
                source = str(onnx_path)
            else:
                if args.checkpoint:
                    model, cfg = load_model(args.checkpoint)
                    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, input_size=args.size))
                    source = args.checkpoint
                else:
                    from .network import build_model

                    cfg = _train_config(args)
                    model = build_model(cfg.model).eval()
                    source = f"{args.config or 'train_paper.yaml'} (random weights)"
                onnx_path = Path(tmp) / "model.onnx"
                export_model(model, cfg, onnx_path, n_check_frames=1)
                backends["PyTorch eager"] = TorchBackend(model, ModelInfo.from_train_config(cfg), threads=args.threads)
            ort_backend = OnnxRuntimeBackend(onnx_path, threads=args.threads)
            info = ort_backend.info
            if info.input_size != args.size:
                raise ModelFileError(f"{onnx_path}: model input is {info.input_size} px but --size is {args.size}; "
                                     f"pass --size {info.input_size}")
            backends["ONNX Runtime"] = ort_backend
            frame, frame_kind = check_frames(info, 1)
            results = {name: time_backend(b, frame, args.runs, args.warmup) for name, b in backends.items()}
    except (CheckpointError, ConfigError, ModelFileError, ExportError) as exc:
        print(f"guidewire-bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for b in backends.values():
            b.close()

    ratio = None
    if "PyTorch eager" in results:
        ratio = results["PyTorch eager"]["p50"] / results["ONNX Runtime"]["p50"]
    print(f"model: {source}: {info.architecture}/{info.encoder} width {info.encoder_width}, "
          f"{args.size}x{args.size} {frame_kind} frame, batch 1, {args.threads} threads, "
          f"{args.runs} runs after {args.warmup} warm-up, CPU {platform.processor() or platform.machine()}")
    print(format_table(results))
    if ratio is not None:
        print(f"\nPyTorch eager / ONNX Runtime (median): {ratio:.2f}x")
    if args.json:
        report = {
            "model": source, "info": dataclasses.asdict(info), "size": args.size, "threads": args.threads,
            "runs": args.runs, "warmup": args.warmup, "frame": frame_kind,
            "cpu": platform.processor() or platform.machine(), "results": results,
            "ratio_torch_over_onnxruntime": ratio,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
