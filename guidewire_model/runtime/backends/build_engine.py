"""``guidewire-build-engine``: build (or check) the TensorRT engine before the procedure, not at node start.

Builds the same engine the node will load (same recipe, same cache folder, hence the same cache key),
runs the parity check against ONNX Runtime, and prints where the engine went and the parity figures.
Run it once per model, GPU and TensorRT version, e.g. after installing a new model::

    guidewire-build-engine --model models/default.onnx --fp16

Exit status: 0 engine ready, 1 build/load failed or the parity check refused the engine, 2 bad model file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from guidewire_model.runtime.model_info import ModelFileError
from guidewire_model.runtime.backends.base import BackendError
from guidewire_model.runtime.backends.engine_cache import default_cache_dir
from guidewire_model.runtime.backends.engine_parity import TOLERANCES, ParityTolerance

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guidewire-build-engine",
        description="Build the TensorRT engine of an exported ONNX model into the engine cache the node reads, "
                    "and check it against ONNX Runtime.")
    parser.add_argument("--model", required=True, help="exported .onnx file (guidewire-export)")
    parser.add_argument("--fp16", action="store_true", help="FP16 engine (the node's fp16: true); default FP32")
    parser.add_argument("--cache-dir", default=None,
                        help=f"engine cache folder (default {default_cache_dir()}; the node's engine_cache_dir)")
    parser.add_argument("--max-batch", type=int, default=1,
                        help="largest batch of the engine (default %(default)s, what the node uses)")
    parser.add_argument("--workspace-mb", type=int, default=1024, help="builder workspace limit (default %(default)s)")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a matching engine is cached")
    parser.add_argument("--max-prob-diff", type=float, default=None,
                        help="parity bound on max |p_engine - p_onnx| (default fp32 %g, fp16 %g)"
                        % (TOLERANCES["fp32"].max_prob_diff, TOLERANCES["fp16"].max_prob_diff))
    parser.add_argument("--max-mask-disagreement", type=float, default=None,
                        help="parity bound on the fraction of wire pixels whose mask differs (default fp32 %g, fp16 %g)"
                        % (TOLERANCES["fp32"].max_mask_disagreement, TOLERANCES["fp16"].max_mask_disagreement))
    parser.add_argument("-v", "--verbose", action="store_true", help="show TensorRT's INFO log")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    default = TOLERANCES["fp16" if args.fp16 else "fp32"]
    tolerance = ParityTolerance(
        default.max_prob_diff if args.max_prob_diff is None else args.max_prob_diff,
        default.max_mask_disagreement if args.max_mask_disagreement is None else args.max_mask_disagreement)
    try:
        backend = TensorRTBackend(args.model, fp16=args.fp16, engine_cache_dir=args.cache_dir, max_batch=args.max_batch,
                                  device_index=args.device, workspace_mb=args.workspace_mb, tolerance=tolerance,
                                  force_rebuild=args.force)
    except ModelFileError as exc:
        print(f"guidewire-build-engine: {exc}", file=sys.stderr)
        return 2
    except BackendError as exc:
        print(f"guidewire-build-engine: {exc}", file=sys.stderr)
        return 1
    with backend:
        key = backend.key
        print(f"engine: {backend.engine_path} ({'built now' if backend.built else 'already cached'})")
        print(f"recipe: {key.precision}, batch {key.min_batch}..{key.max_batch}, input {key.input_size}px, "
              f"workspace {key.workspace_bytes >> 20} MiB, TensorRT {key.tensorrt_version}, "
              f"{key.gpu_name} (sm {key.compute_capability})")
        report = backend.report
        if report:
            verdict = "passed" if report.get("passed") else "FAILED"
            print(f"parity vs ONNX Runtime (CPU), {report.get('frames')} {report.get('frames_kind')} frames: {verdict}; "
                  f"max |dp| {report.get('max_prob_diff'):.3g} (limit {report.get('tolerance_prob'):g}), "
                  f"mask disagreement {report.get('mask_disagreement'):.2%} (limit {report.get('tolerance_mask'):.0%})")
        else:
            print("parity: no report stored with this engine (built by an older version); use --force to rebuild")
        if args.max_batch == 1:
            print(f"the node loads this engine with fp16: {str(args.fp16).lower()} and engine_cache_dir: "
                  f"{backend.cache.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
