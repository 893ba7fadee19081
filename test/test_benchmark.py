"""Benchmark suite: the measurement core, the case plan, and guidewire-bench on tiny real models."""

from __future__ import annotations

import math

import json
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from guidewire_model.evaluation.measurement import MemoryProbe, simulate_keep_latest
from guidewire_model.runtime.rolling_stats import latency_summary
from guidewire_model.evaluation import benchmark_suite as bench_suite
from guidewire_model.evaluation.benchmark_suite import BenchCase, ModelSource, add_speedups, plan_cases, run_suite
from guidewire_model.evaluation.benchmark import format_table, main, time_callable
from guidewire_model.runtime.rolling_stats import RollingPercentiles

TINY = ["--set", "model.encoder=resnet18", "--set", "model.encoder_width=8"]
FAST = ["--runs", "2", "--warmup", "1", "--threads", "1", "--frames", "2", "--frame-size", "128", "--no-progress"]
STAGE_FIELDS = {"p50", "p90", "p95", "p99", "mean", "min", "max", "runs"}
MEMORY_FIELDS = {"load_rss_mb", "rss_peak_delta_mb", "rss_method", "cuda_max_allocated_mb", "cuda_used_delta_mb"}
MIB = 2**20


@pytest.fixture(autouse=True)
def _restore_threads():
    old = torch.get_num_threads()
    yield
    torch.set_num_threads(old)


def test_time_callable_statistics():
    calls = []

    def sleepy():
        calls.append(None)
        time.sleep(0.002)

    stats = time_callable(sleepy, runs=5, warmup=2)
    assert len(calls) == 7 and stats["runs"] == 5
    assert 2.0 <= stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p99"] <= stats["max"]
    assert stats["min"] <= stats["mean"] <= stats["max"]
    with pytest.raises(ValueError):
        time_callable(sleepy, runs=0, warmup=0)


def test_format_table():
    row = {"p50": 12.345, "p90": 20.0, "p99": 30.0, "mean": 15.0}
    table = format_table({"A": row, "B": row}).splitlines()
    assert len(table) == 4 and table[2] == "| A | 12.3 | 20.0 | 30.0 | 15.0 |"


def test_latency_summary_matches_rolling_percentiles():
    samples = np.random.default_rng(3).gamma(2.0, 5.0, size=101)
    rolling = RollingPercentiles(window=1000)
    for s in samples:
        rolling.add(s)
    summary = latency_summary(samples)
    for q in (50, 90, 95, 99):
        assert summary[f"p{q}"] == pytest.approx(rolling.percentile(q))
    assert summary["runs"] == 101 and summary["mean"] == pytest.approx(samples.mean())
    assert summary["min"] == samples.min() and summary["max"] == samples.max()
    empty = latency_summary([])
    assert empty["runs"] == 0 and all(math.isnan(v) for k, v in empty.items() if k != "runs")
    with pytest.raises(ValueError):
        latency_summary([1.0, float("nan")])


def test_keep_latest_simulation():
    # Faster than the period: nothing dropped, latency = service time, output rate = input rate.
    fast = simulate_keep_latest([10.0] * 5, period_ms=50.0)
    assert fast["dropped"] == 0 and fast["fps"] == pytest.approx(20.0)
    assert fast["latency"]["p50"] == pytest.approx(10.0)
    # 120 ms per frame, one every 50 ms: served frames 0 (0-120), 2 (arrived 100, 120-240),
    # 4 (200, 240-360), 7 (350, 360-480); dropped 1, 3, 5, 6.
    slow = simulate_keep_latest([120.0] * 4, period_ms=50.0)
    assert slow["served"] == 4 and slow["dropped"] == 4
    assert slow["drop_fraction"] == pytest.approx(0.5) and slow["fps"] == pytest.approx(10.0)
    # Latency counts the wait for the busy worker: frame 4 arrived at 200 and finished at 360.
    assert slow["latency"]["max"] == pytest.approx(160.0) and slow["latency"]["min"] == pytest.approx(120.0)
    with pytest.raises(ValueError):
        simulate_keep_latest([], 50.0)
    with pytest.raises(ValueError):
        simulate_keep_latest([1.0], 0.0)


def test_memory_probe_sees_an_allocation():
    with MemoryProbe() as probe:
        block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
        del block
    assert probe.rss_method in ("vmhwm", "ru_maxrss")
    if probe.rss_method == "vmhwm":  # ru_maxrss is a lower bound and may not move
        assert probe.rss_peak_delta_mb >= 35
    assert probe.cuda_max_allocated_mb is None


def test_plan_cases_cpu_skips_tensorrt_with_a_note():
    cases, notes = plan_cases(["torch", "onnxruntime", "tensorrt"], "cpu", cuda_available=False,
                              tensorrt_available=False, ort_cuda_available=False)
    assert cases == [BenchCase("torch", "cpu", "fp32"), BenchCase("onnxruntime", "cpu", "fp32")]
    assert len(notes) == 1 and "tensorrt skipped" in notes[0] and "no CUDA GPU" in notes[0]


def test_plan_cases_cuda():
    cases, notes = plan_cases(["torch", "onnxruntime", "tensorrt"], "cuda", cuda_available=True,
                              tensorrt_available=True, ort_cuda_available=False)
    assert {(c.backend, c.device, c.precision) for c in cases} == {
        ("torch", "cuda", "fp32"), ("torch", "cuda", "fp16"), ("onnxruntime", "cpu", "fp32"),
        ("tensorrt", "cuda", "fp32"), ("tensorrt", "cuda", "fp16")}
    assert [c.is_reference for c in cases].count(True) == 1
    assert len(notes) == 1 and "CUDAExecutionProvider" in notes[0]
    _, notes = plan_cases(["tensorrt"], "cuda", cuda_available=True, tensorrt_available=False,
                          ort_cuda_available=True)
    assert "not installed" in notes[0]
    with pytest.raises(ValueError, match="no CUDA GPU"):
        plan_cases(["torch"], "cuda", cuda_available=False, tensorrt_available=False, ort_cuda_available=False)


def test_add_speedups_against_the_torch_row():
    def row(model, backend, size, model_ms, e2e_ms):
        return {"model": model, "size": size, "reference": backend == "torch",
                "stages": {"model": {"p50": model_ms}, "end_to_end": {"p50": e2e_ms}}}

    rows = [row("a", "torch", 64, 10.0, 12.0), row("a", "onnxruntime", 64, 5.0, 8.0),
            row("b", "onnxruntime", 64, 4.0, 6.0)]
    notes = add_speedups(rows)
    assert rows[0]["speedup_vs_torch"] == {"model": 1.0, "end_to_end": 1.0}
    assert rows[1]["speedup_vs_torch"] == {"model": 2.0, "end_to_end": 1.5}
    assert rows[2]["speedup_vs_torch"] is None and len(notes) == 1 and "b at 64" in notes[0]


# A pipeline with a scripted time structure, so the suite's figures can be worked out by hand.
# End-to-end milliseconds per frame, warm-up frame first; ONNX Runtime takes these, torch twice these.
SCRIPT_MS = [500.0, 60.0, 10.0, 20.0, 30.0]
SCRIPT_WIRES = [4, 0, 1, 2, 3]
# Over 32 MiB, so glibc always maps them afresh and unmaps them on free: no reuse hides them.
LOAD_MIB, RUN_MIB = 40, 80


class _ScriptedClock:
    """Stands in for ``time.perf_counter``: moves only when the scripted pipeline spends time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _ScriptedBackend:
    """Holds LOAD_MIB of touched memory from creation to close, as a loaded model does."""

    def __init__(self, slowdown: float) -> None:
        self.slowdown = slowdown
        self.weights = np.ones(LOAD_MIB * MIB // 8)

    def close(self) -> None:
        self.weights = None


def _scripted_pipeline_class(clock: _ScriptedClock):
    class ScriptedPipeline:
        def __init__(self, backend: _ScriptedBackend) -> None:
            self.backend, self.frame = backend, 0

        def process(self, image: np.ndarray) -> SimpleNamespace:
            k, self.frame = self.frame, self.frame + 1
            if k == 2:  # a transient RUN_MIB working buffer, touched and freed within the frame
                scratch = np.ones(RUN_MIB * MIB // 8)
                del scratch
            ms = SCRIPT_MS[k] * self.backend.slowdown
            clock.now += ms / 1e3
            n = SCRIPT_WIRES[k]
            return SimpleNamespace(timings=SimpleNamespace(preprocess_ms=ms / 4, inference_ms=ms / 2,
                                                           postprocess_ms=ms / 4),
                                   wires=[None] * n, mask=(np.arange(4) < n).astype(np.uint8))

    return ScriptedPipeline


def test_suite_rows_from_a_scripted_pipeline(monkeypatch):
    """FPS, stage percentiles, speed-ups, drops at a rate and peak memory of run_suite's rows, from a
    pipeline whose times and allocations are known, against figures worked out by hand."""
    clock = _ScriptedClock()
    monkeypatch.setattr(bench_suite, "time", SimpleNamespace(perf_counter=clock))
    monkeypatch.setattr(bench_suite, "_prepare_model", lambda source, size, path, cache: (object(), None, path))
    monkeypatch.setattr(bench_suite, "_create_backend", lambda case, *args: _ScriptedBackend(
        2.0 if case.backend == "torch" else 1.0))
    monkeypatch.setattr("guidewire_model.runtime.pipeline.GuidewirePipeline", _scripted_pipeline_class(clock))
    cases = [BenchCase("torch", "cpu", "fp32"), BenchCase("onnxruntime", "cpu", "fp32")]
    report = run_suite([ModelSource("m", "config", "m.yaml")], [64], cases, [np.zeros((8, 8))], runs=4, warmup=1,
                       threads=1, rate_hz=40.0, progress=False)
    torch_row, ort_row = report["rows"]
    assert (torch_row["backend"], ort_row["backend"]) == ("torch", "onnxruntime")

    # ONNX Runtime timed frames (the 500 ms warm-up left out): 60, 10, 20, 30 ms.
    e2e = ort_row["stages"]["end_to_end"]
    assert (e2e["runs"], e2e["min"], e2e["max"]) == (4, pytest.approx(10.0), pytest.approx(60.0))
    assert e2e["mean"] == pytest.approx(30.0) and e2e["p50"] == pytest.approx(25.0)
    assert ort_row["fps"] == pytest.approx(100 / 3)  # 4 frames in 120 ms
    assert ort_row["stages"]["model"]["p50"] == pytest.approx(12.5)
    assert ort_row["stages"]["preprocess"]["p50"] == ort_row["stages"]["postprocess"]["p50"] == pytest.approx(6.25)
    assert ort_row["wires_per_frame"] == pytest.approx(1.5) and ort_row["mask_fraction"] == pytest.approx(0.375)
    # Torch takes twice as long per frame: half the FPS, and ONNX Runtime is 2x faster at the median.
    assert torch_row["fps"] == pytest.approx(50 / 3)
    assert torch_row["speedup_vs_torch"] == {"model": 1.0, "end_to_end": 1.0}
    assert ort_row["speedup_vs_torch"] == {"model": pytest.approx(2.0), "end_to_end": pytest.approx(2.0)}
    # At 40 Hz (a frame every 25 ms, in the measured order): frame 0 runs 0-60; frames 1 and 2 have
    # arrived by 60, so 1 is dropped and 2 (arrived 50) runs 60-70; 3 (75) runs 75-95; 4 (100) 100-130.
    # Latencies 60, 20, 20, 30; 4 served, 1 dropped: output 32 Hz.
    assert ort_row["at_rate"] == {"rate_hz": 40.0, "served": 4, "dropped": 1, "drop_fraction": pytest.approx(0.2),
                                  "fps": pytest.approx(32.0), "latency_p50": pytest.approx(25.0),
                                  "latency_p99": pytest.approx(30 + 0.97 * 30)}

    for row in report["rows"]:
        mem = row["memory"]
        assert mem["cuda_max_allocated_mb"] is None and mem["cuda_used_delta_mb"] is None
        if mem["rss_method"] == "vmhwm":  # ru_maxrss is a lifetime peak: a lower bound that may not move
            # Loading holds LOAD_MIB; running peaks RUN_MIB above the loaded level (the loaded
            # weights count in the first figure only). Slack above: the interpreter's own allocations.
            assert LOAD_MIB - 2 <= mem["load_rss_mb"] <= LOAD_MIB + 16, mem
            assert RUN_MIB - 2 <= mem["rss_peak_delta_mb"] <= RUN_MIB + 16, mem


def test_bench_cli_every_backend_size_precision(tmp_path, capsys):
    out, md = tmp_path / "bench.json", tmp_path / "bench.md"
    assert main(TINY + FAST + ["--sizes", "64,96", "--json", str(out), "--markdown", str(md)]) == 0
    report = json.loads(out.read_text())
    rows = report["rows"]
    assert {(r["backend"], r["precision"], r["size"]) for r in rows} == {
        (b, "fp32", s) for b in ("torch", "onnxruntime") for s in (64, 96)}
    for r in rows:
        assert set(r["stages"]) == {"preprocess", "model", "postprocess", "end_to_end"}
        assert all(set(st) == STAGE_FIELDS and st["runs"] == 2 and st["p50"] > 0 for st in r["stages"].values())
        # End to end is measured around process(), so it covers the three stages inside it.
        assert r["stages"]["end_to_end"]["min"] >= r["stages"]["model"]["min"]
        # FPS, memory and drop figures against hand-worked inputs: test_suite_rows_from_a_scripted_pipeline.
        assert set(r["memory"]) == MEMORY_FIELDS and r["memory"]["cuda_max_allocated_mb"] is None
        assert r["at_rate"]["served"] == 2 and r["weights"] == "random"
    for size in (64, 96):
        torch_row, = [r for r in rows if r["size"] == size and r["backend"] == "torch"]
        ort_row, = [r for r in rows if r["size"] == size and r["backend"] == "onnxruntime"]
        assert torch_row["reference"] and torch_row["speedup_vs_torch"]["end_to_end"] == pytest.approx(1.0)
        expected = torch_row["stages"]["model"]["p50"] / ort_row["stages"]["model"]["p50"]
        assert ort_row["speedup_vs_torch"]["model"] == pytest.approx(expected)
    assert any("tensorrt skipped" in n for n in report["notes"])
    assert report["machine"]["threads"] == 1 and report["settings"]["frame_size"] == [128, 128]

    table = md.read_text()
    assert table.strip() in capsys.readouterr().out
    body = [line for line in table.splitlines() if line.startswith("| default_model |")]
    assert len(body) == 4
    assert any("| onnxruntime | fp32 | 96 |" in line for line in body)
    assert sum("| ref |" in line for line in body) == 2
    assert "tensorrt skipped" in table


def _tiny_config():
    """A width-8 ResNet-18 LinkNet at 64 px, random weights: the smallest network worth exporting."""
    from guidewire_model.training.config import load_train_config

    return load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": 8,
                                        "model.pretrained": False, "model.input_size": 64})


def test_bench_cli_onnx_file(tmp_path, capsys):
    from guidewire_model.training.export import export_model
    from guidewire_model.training.network import build_model

    cfg = _tiny_config()
    onnx_path = tmp_path / "m.onnx"
    export_model(build_model(cfg.model), cfg, onnx_path, n_check_frames=1)
    capsys.readouterr()
    assert main(["--onnx", str(onnx_path), "--sizes", "128"] + FAST) == 2
    assert "--sizes 64" in capsys.readouterr().err
    out = tmp_path / "onnx.json"
    assert main(["--onnx", str(onnx_path), "--json", str(out)] + FAST) == 0
    report = json.loads(out.read_text())
    assert [(r["backend"], r["size"], r["speedup_vs_torch"]) for r in report["rows"]] == [("onnxruntime", 64, None)]
    assert any("torch rows skipped" in n for n in report["notes"])
    assert main(["--onnx", str(tmp_path / "none.onnx")] + FAST) == 2
    assert "none.onnx" in capsys.readouterr().err


def test_a_checkpoint_is_timed_at_its_validation_threshold(tmp_path):
    # The post-processing's cost depends on the mask, so a trained checkpoint is timed with the
    # threshold its export ships, not the config's.
    from guidewire_model.runtime.model_info import read_onnx_info
    from guidewire_model.training.checkpoint import save_checkpoint
    from guidewire_model.training.config import to_dict
    from guidewire_model.training.network import build_model

    cfg = _tiny_config()
    ckpt = save_checkpoint(tmp_path / "best.pt", {
        "model": build_model(cfg.model).state_dict(), "config": to_dict(cfg), "epoch": 3,
        "history": [{"epoch": 3, "val_best_threshold": 0.66}]})
    model, info, onnx_path = bench_suite._prepare_model(ModelSource("m", "checkpoint", str(ckpt)), 96,
                                                        tmp_path / "m.onnx", {})
    assert info.threshold == pytest.approx(0.66) == read_onnx_info(onnx_path).threshold
    assert info.input_size == 96 and model is not None
