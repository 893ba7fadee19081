"""The benchmark suite behind ``guidewire-bench``: every backend x input size x precision, stage by stage.

For each model source and network input size the model is exported to ONNX at that size (our ONNX
files have a fixed spatial size), then each planned (backend, device, precision) case builds a
:class:`~guidewire_model.runtime.pipeline.GuidewirePipeline` and runs real synthetic fluoroscopy frames
through :meth:`~guidewire_model.runtime.pipeline.GuidewirePipeline.process`. Stage times are that method's
own :class:`~guidewire_model.runtime.pipeline.StageTimings`, so the suite times exactly what the node runs:

* preprocess  = ``preprocess.prepare_batch`` of the frame (at its own size, e.g. 512²);
* model       = ``Backend.infer``;
* postprocess = ``restore_size`` + the field-of-view estimate + ``binarize`` + ``extract_centrelines`` + tracking;
* end to end  = wall time around ``process``.

PyTorch eager in fp32 on the suite's device is the reference; every row of the same model and size
carries its speed-up over it. Statistics follow :mod:`guidewire_model.evaluation.measurement`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from guidewire_model.evaluation.measurement import MemoryProbe, simulate_keep_latest
from guidewire_model.runtime.rolling_stats import latency_summary

__all__ = ["BenchCase", "ModelSource", "add_speedups", "format_markdown", "machine_info", "plan_cases",
           "run_suite", "time_pipeline"]

STAGES = ("preprocess", "model", "postprocess", "end_to_end")


@dataclass(frozen=True)
class ModelSource:
    """One model to benchmark.

    Attributes
    ----------
    label : str
        Name in the tables, e.g. ``"default"`` or ``"paper"``.
    kind : {"config", "checkpoint", "onnx"}
        A training config built with random weights, a training checkpoint, or an exported file
        (ONNX Runtime / TensorRT only, at the file's own input size).
    path : str
    overrides : tuple of (key, value)
        ``--set`` overrides of a config (``model.input_size`` and ``model.pretrained`` are set by the suite).
    runs, warmup : int, optional
        Override the suite's timed / untimed frame counts for this model (a slow one gets fewer).
    """

    label: str
    kind: str
    path: str
    overrides: tuple[tuple[str, Any], ...] = ()
    runs: int | None = None
    warmup: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("config", "checkpoint", "onnx"):
            raise ValueError(f"ModelSource kind must be config, checkpoint or onnx, got {self.kind!r}")

    @property
    def weights(self) -> str:
        return "random" if self.kind == "config" else "trained"


@dataclass(frozen=True)
class BenchCase:
    """One backend configuration: ``backend`` in {torch, onnxruntime, tensorrt}, ``device``, ``precision``."""

    backend: str
    device: str
    precision: str

    @property
    def is_reference(self) -> bool:
        return self.backend == "torch" and self.precision == "fp32"


def plan_cases(backends: Iterable[str], device: str, cuda_available: bool, tensorrt_available: bool,
               ort_cuda_available: bool) -> tuple[list[BenchCase], list[str]]:
    """Which (backend, device, precision) cases to run here, and why any requested one is not run.

    Pure: the caller probes the machine. On the CPU everything is fp32 (no fast fp16 kernels there).
    On CUDA: torch fp32 (the reference) and fp16 (autocast), ONNX Runtime fp32 (CUDA provider, or
    the CPU with a note when this onnxruntime build lacks it), TensorRT fp32 and fp16 engines.

    Parameters
    ----------
    backends : iterable of {"torch", "onnxruntime", "tensorrt"}
    device : {"cpu", "cuda"}
    cuda_available, tensorrt_available, ort_cuda_available : bool
        A CUDA GPU is visible to torch; the ``tensorrt`` module imports; onnxruntime has the
        CUDAExecutionProvider.

    Returns
    -------
    (cases, notes)

    Raises
    ------
    ValueError
        If a backend or the device is unknown, or ``device="cuda"`` without a GPU.
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not cuda_available:
        raise ValueError("--device cuda: PyTorch sees no CUDA GPU; use --device cpu (or auto)")
    cases: list[BenchCase] = []
    notes: list[str] = []
    for name in backends:
        if name == "torch":
            cases.append(BenchCase("torch", device, "fp32"))
            if device == "cuda":
                cases.append(BenchCase("torch", "cuda", "fp16"))
        elif name == "onnxruntime":
            if device == "cuda" and not ort_cuda_available:
                notes.append("onnxruntime: this build has no CUDAExecutionProvider (install onnxruntime-gpu); "
                             "timed on the CPU")
                cases.append(BenchCase("onnxruntime", "cpu", "fp32"))
            else:
                cases.append(BenchCase("onnxruntime", device, "fp32"))
        elif name == "tensorrt":
            if device != "cuda":
                why = "no CUDA GPU visible" if not cuda_available else "--device cpu"
                notes.append(f"tensorrt skipped: {why} (TensorRT runs on NVIDIA GPUs only)")
            elif not tensorrt_available:
                notes.append("tensorrt skipped: the tensorrt Python module is not installed (pip install .[tensorrt])")
            else:
                cases += [BenchCase("tensorrt", "cuda", "fp32"), BenchCase("tensorrt", "cuda", "fp16")]
        else:
            raise ValueError(f"unknown backend {name!r}; choose from torch, onnxruntime, tensorrt")
    return cases, notes


def time_pipeline(process: Callable[[np.ndarray], Any], frames: Sequence[np.ndarray], runs: int,
                  warmup: int) -> dict[str, Any]:
    """Per-stage latency of a frame-by-frame pipeline.

    Parameters
    ----------
    process : callable
        ``GuidewirePipeline.process``: image -> result with ``timings`` (``preprocess_ms``,
        ``inference_ms``, ``postprocess_ms``), ``wires`` and ``mask``.
    frames : sequence of ndarray
        Input images, used in order and cycled; at least one.
    runs, warmup : int
        Timed frames (>= 1) after untimed ones (>= 0); warm-up frames are the first frames.

    Returns
    -------
    dict
        ``stages``: :func:`~guidewire_model.runtime.rolling_stats.latency_summary` of ``preprocess``,
        ``model``, ``postprocess`` and ``end_to_end`` (wall time around ``process``);
        ``end_to_end_ms`` (the timed samples in order); ``fps`` = 1000 / mean end to end;
        ``wires_per_frame`` and ``mask_fraction`` (means; a network with random weights finds no
        wires, so its postprocess time is not representative).
    """
    if runs < 1 or warmup < 0 or not frames:
        raise ValueError(f"need runs >= 1, warmup >= 0 and frames; got runs={runs}, warmup={warmup}, "
                         f"{len(frames)} frames")
    for i in range(warmup):
        process(frames[i % len(frames)])
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    wires, mask_fraction = [], []
    for i in range(warmup, warmup + runs):
        start = time.perf_counter()
        result = process(frames[i % len(frames)])
        samples["end_to_end"].append((time.perf_counter() - start) * 1e3)
        samples["preprocess"].append(result.timings.preprocess_ms)
        samples["model"].append(result.timings.inference_ms)
        samples["postprocess"].append(result.timings.postprocess_ms)
        wires.append(len(result.wires))
        mask_fraction.append(float(np.mean(result.mask)))
    stages = {s: latency_summary(v) for s, v in samples.items()}
    return {"stages": stages, "end_to_end_ms": samples["end_to_end"], "fps": 1e3 / stages["end_to_end"]["mean"],
            "wires_per_frame": float(np.mean(wires)), "mask_fraction": float(np.mean(mask_fraction))}


def add_speedups(rows: list[dict[str, Any]]) -> list[str]:
    """Set each row's ``speedup_vs_torch`` from the reference row of its model and size, in place.

    The reference is the row with ``reference: true`` (PyTorch eager fp32) of the same ``model`` and
    ``size``; ``speedup_vs_torch`` = ``{"model": ref p50 / row p50, "end_to_end": ...}`` of those
    stages, so > 1 means faster than PyTorch eager. Rows without a reference get ``None``.

    Returns
    -------
    list of str
        A note per (model, size) group that has no reference.
    """
    notes = []
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["size"]), []).append(row)
    for (model, size), group in groups.items():
        refs = [r for r in group if r["reference"]]
        for row in group:
            row["speedup_vs_torch"] = None if not refs else {
                stage: refs[0]["stages"][stage]["p50"] / row["stages"][stage]["p50"] for stage in ("model", "end_to_end")
            }
        if not refs:
            notes.append(f"{model} at {size} px: no PyTorch eager row, so no speed-up is given")
    return notes


def machine_info(threads: int) -> dict[str, Any]:
    """What the figures depend on: CPU, cores, load, library versions, GPU."""
    import onnxruntime
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "cpu": cpu, "machine": platform.machine(), "cores": os.cpu_count(),
        "cores_allowed": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads, "python": platform.python_version(), "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__, "tensorrt": None, "gpu": None,
        "load_average_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    if importlib.util.find_spec("tensorrt") is not None:
        with contextlib.suppress(Exception):
            import tensorrt

            info["tensorrt"] = tensorrt.__version__
    return info


def _prepare_model(source: ModelSource, size: int, onnx_path: Path, cache: dict[str, Any]):
    """(torch module or None, ModelInfo, onnx path) of ``source`` at ``size``; exports when needed."""
    import torch

    from guidewire_model.training.checkpoint import load_checkpoint, model_from_payload, recorded_threshold
    from guidewire_model.training.config import describe_model, load_train_config
    from guidewire_model.training.export import export_model
    from guidewire_model.runtime.model_info import ModelFileError, read_onnx_info
    from guidewire_model.training.network import build_model

    if source.kind == "onnx":
        info = read_onnx_info(source.path)
        if info.input_size != size:
            raise ModelFileError(f"{source.path}: model input is {info.input_size} px but --sizes asks for {size}; "
                                 f"pass --sizes {info.input_size} (an ONNX file has a fixed input size)")
        return None, info, Path(source.path)
    threshold = None  # the config's
    if source.kind == "checkpoint":
        if source.path not in cache:
            payload = load_checkpoint(source.path)
            # Its validation threshold, as exported: the masks, and so the post-processing's load, are
            # the ones the node would get from this checkpoint's export.
            cache[source.path] = (*model_from_payload(payload, source.path), recorded_threshold(payload))
        model, cfg, threshold = cache[source.path]
        # The network is fully convolutional: the trained weights serve any input size.
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, input_size=size))
    else:
        # Random weights time the same as trained ones, and nothing may be downloaded or required.
        # Training crops play no part at run time, and must not be larger than a small input.
        cfg = load_train_config(source.path, {**dict(source.overrides), "model.pretrained": False,
                                              "model.input_size": size, "data.crop_size": 0})
        # Seeded so a rerun builds the same network (and so the same mask and postprocess load).
        torch.manual_seed(0)
        model = build_model(cfg.model).eval()
    # export_model prints its parity line; keep stdout for the table.
    with contextlib.redirect_stdout(sys.stderr):
        export_model(model, cfg, onnx_path, n_check_frames=1, threshold=threshold)
    return model, describe_model(cfg, threshold=threshold), onnx_path


def _create_backend(case: BenchCase, model, info, onnx_path: Path, threads: int, engine_cache_dir: Path):
    if case.backend == "torch":
        from guidewire_model.training.torch_backend import TorchBackend

        return TorchBackend(model, info, device=case.device, fp16=case.precision == "fp16", threads=threads)
    if case.backend == "onnxruntime":
        from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(onnx_path, device=case.device, threads=threads)
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(onnx_path, fp16=case.precision == "fp16", engine_cache_dir=engine_cache_dir)


def run_suite(sources: Sequence[ModelSource], sizes: Sequence[int], cases: Sequence[BenchCase],
              frames: Sequence[np.ndarray], runs: int, warmup: int, threads: int, rate_hz: float = 15.0,
              engine_cache_dir: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Run every source x size x case and return the report (see ``docs/benchmarks.md``).

    Parameters
    ----------
    sources : sequence of ModelSource
    sizes : sequence of int
        Network input sides; an ONNX source runs only at its own size (others raise ModelFileError).
    cases : sequence of BenchCase
        From :func:`plan_cases`; torch cases are skipped for ONNX sources (no network to run).
    frames : sequence of ndarray
        Synthetic fluoroscopy frames (their own size, e.g. 512²), cycled.
    runs, warmup : int
        Timed and untimed frames per row, unless the source overrides them.
    threads : int
        CPU intra-op threads of torch and ONNX Runtime.
    rate_hz : float
        Input rate for the keep-latest drop simulation (the demo publishes at 15 Hz).
    engine_cache_dir : path-like, optional
        TensorRT engines; default a temporary folder (exports of random weights differ each run).

    Returns
    -------
    dict
        ``rows`` (one per source x size x case, see :func:`time_pipeline` plus ``memory``,
        ``at_rate``, ``speedup_vs_torch``), ``notes``, ``machine``, ``settings``.

    Raises
    ------
    ConfigError, CheckpointError, ModelFileError, ExportError, BackendError
        From loading, exporting or creating a model, naming the file.
    """
    import torch
    from tqdm import tqdm

    from guidewire_model.runtime.pipeline import GuidewirePipeline

    torch.set_num_threads(threads)
    machine = machine_info(threads)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    work = [(s, size, c) for s in sources for size in sizes for c in cases]
    bar = tqdm(total=len(work), desc="guidewire-bench", unit="row", disable=not progress, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="guidewire-bench-") as tmp:
        engines = Path(engine_cache_dir) if engine_cache_dir else Path(tmp) / "engines"
        cache: dict[str, Any] = {}
        for source in sources:
            if source.kind == "onnx" and any(c.backend == "torch" for c in cases):
                notes.append(f"{source.label}: an ONNX file has no PyTorch network; torch rows skipped")
            for size in sizes:
                bar.set_postfix_str(f"{source.label} {size}px export")
                model, info, onnx_path = _prepare_model(source, size, Path(tmp) / f"{source.label}-{size}.onnx", cache)
                for case in cases:
                    bar.set_postfix_str(f"{source.label} {size}px {case.backend} {case.precision}")
                    if case.backend == "torch" and model is None:
                        bar.update()
                        continue
                    rows.append(_run_case(source, size, case, model, info, onnx_path, frames, runs, warmup,
                                          threads, rate_hz, engines, GuidewirePipeline))
                    bar.update()
    bar.close()
    notes += add_speedups(rows)
    for label in dict.fromkeys(r["model"] for r in rows if r["weights"] == "random"):
        cover = [r["mask_fraction"] for r in rows if r["model"] == label]
        # An untrained network's mask is all or nothing, so tracing costs far more or far less than
        # on a trained one; model times are unaffected.
        notes.append(f"{label}: random weights; the mask covered {min(cover):.0%}-{max(cover):.0%} of the frame "
                     "(a trained model's covers a few per cent), so its postprocess times are not representative: "
                     "use --checkpoint for those")
    machine["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {
        "machine": machine,
        "settings": {"sizes": list(sizes), "runs": runs, "warmup": warmup, "threads": threads, "rate_hz": rate_hz,
                     "frame_size": list(frames[0].shape), "frames": len(frames)},
        "rows": rows, "notes": notes,
    }


def _run_case(source, size, case, model, info, onnx_path, frames, runs, warmup, threads, rate_hz, engines,
              pipeline_cls) -> dict[str, Any]:
    runs = source.runs or runs
    warmup = source.warmup if source.warmup is not None else warmup
    cuda = case.device == "cuda"
    with MemoryProbe(cuda=cuda) as load_mem:
        backend = _create_backend(case, model, info, onnx_path, threads, engines)
    try:
        pipeline = pipeline_cls(backend)
        with MemoryProbe(cuda=cuda) as run_mem:
            timing = time_pipeline(pipeline.process, frames, runs, warmup)
        providers = getattr(backend, "providers", None)
    finally:
        backend.close()
    at_rate = simulate_keep_latest(timing.pop("end_to_end_ms"), 1e3 / rate_hz)
    return {
        "model": source.label, "source": source.path, "weights": source.weights,
        "backend": case.backend, "device": case.device, "precision": case.precision, "size": size,
        "providers": list(providers) if providers else None, "runs": runs, "warmup": warmup,
        "reference": case.is_reference, **timing,
        "memory": {"load_rss_mb": load_mem.rss_peak_delta_mb, "rss_peak_delta_mb": run_mem.rss_peak_delta_mb,
                   "rss_method": run_mem.rss_method, "cuda_max_allocated_mb": run_mem.cuda_max_allocated_mb,
                   "cuda_used_delta_mb": load_mem.cuda_used_delta_mb},
        "at_rate": {"rate_hz": rate_hz, "served": at_rate["served"], "dropped": at_rate["dropped"],
                    "drop_fraction": at_rate["drop_fraction"], "fps": at_rate["fps"],
                    "latency_p50": at_rate["latency"]["p50"], "latency_p99": at_rate["latency"]["p99"]},
    }


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def format_markdown(report: dict[str, Any]) -> str:
    """The report as markdown: a settings line, one table row per result row, then the notes."""
    m, s = report["machine"], report["settings"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    head = (f"{m['cpu']} ({m['cores_allowed']} of {m['cores']} cores{gpu}), Python {m['python']}, "
            f"torch {m['torch']}, onnxruntime {m['onnxruntime']}"
            + (f", TensorRT {m['tensorrt']}" if m.get("tensorrt") else "")
            + f"; {s['threads']} threads; frame {s['frame_size'][1]}x{s['frame_size'][0]}; "
              f"load average at start {_fmt((m.get('load_average_start') or [None])[0], 2)}")
    rate = s["rate_hz"]
    lines = [
        head, "",
        "| model | weights | backend | precision | input | pre p50 | model p50 / p99 | post p50 | "
        f"end-to-end p50 / p99 | FPS | × torch (e2e) | RSS peak Δ MiB | dropped @ {rate:g} Hz |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        st = r["stages"]
        speed = r["speedup_vs_torch"]
        mem = r["memory"]["rss_peak_delta_mb"]
        if r["memory"]["cuda_max_allocated_mb"] is not None:
            mem_text = f"{mem:.0f} (CUDA {r['memory']['cuda_max_allocated_mb']:.0f})"
        else:
            mem_text = f"{mem:.0f}"
        device = "" if r["device"] == "cpu" else f" ({r['device']})"
        lines.append(
            f"| {r['model']} | {r['weights']} | {r['backend']}{device} | {r['precision']} | {r['size']} | "
            f"{st['preprocess']['p50']:.1f} | {st['model']['p50']:.1f} / {st['model']['p99']:.1f} | "
            f"{st['postprocess']['p50']:.1f} | {st['end_to_end']['p50']:.1f} / {st['end_to_end']['p99']:.1f} | "
            f"{r['fps']:.1f} | {'ref' if r['reference'] else _fmt(speed and speed['end_to_end'], 2)} | "
            f"{mem_text} | {r['at_rate']['drop_fraction'] * 100:.0f} % |"
        )
    if report["notes"]:
        lines.append("")
        lines += [f"- {n}" for n in report["notes"]]
    return "\n".join(lines)
