"""The real TensorRT path on a real GPU: build, parity, cache reuse, batching, concurrent starts.

Skipped where tensorrt, cuda-python or a CUDA GPU is missing (test_tensorrt_backend.py covers the logic
there with fakes). Nothing here is faked.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from guidewire_model.runtime.backends.engine_parity import TOLERANCES, parity_frames
from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from tiny_model import export_tiny_model


def _gpu_count() -> int:
    if importlib.util.find_spec("tensorrt") is None:
        return 0
    try:
        from guidewire_model.runtime.backends.cuda_memory import CudaRuntime, import_cudart

        return CudaRuntime(import_cudart()).device_count()[0]
    except Exception:  # noqa: BLE001 - no cuda-python or no driver: no GPU for this test
        return 0


pytestmark = pytest.mark.skipif(_gpu_count() == 0, reason="needs a CUDA GPU, tensorrt and cuda-python")

SIZE = 128


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return export_tiny_model(tmp_path_factory.mktemp("gpu_model"), size=SIZE)


@pytest.mark.parametrize("fp16", [False, True])
def test_engine_matches_onnxruntime_and_is_reused_from_the_cache(model, tmp_path, fp16):
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    with OnnxRuntimeBackend(model) as reference:
        frames, _ = parity_frames(reference.info, 3, seed=5)
        expected = reference.infer(frames)
    with TensorRTBackend(model, fp16=fp16, engine_cache_dir=tmp_path) as backend:
        assert backend.built and backend.report["passed"]
        out = backend.infer(frames)  # batch-1 engine: frames one by one
        assert backend.key.max_batch == 1
    assert np.max(np.abs(out - expected)) <= TOLERANCES["fp16" if fp16 else "fp32"].max_prob_diff
    engines = sorted(tmp_path.glob("*.engine"))
    assert len(engines) == 1 and sorted(tmp_path.glob("timing-*.cache"))
    stamp = engines[0].stat().st_mtime_ns
    with TensorRTBackend(model, fp16=fp16, engine_cache_dir=tmp_path) as again:
        assert not again.built and again.report["passed"]
        assert np.max(np.abs(again.infer(frames) - out)) < 1e-5
    assert sorted(tmp_path.glob("*.engine")) == engines and engines[0].stat().st_mtime_ns == stamp


def test_batched_engine_runs_in_chunks(model, tmp_path):
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    with OnnxRuntimeBackend(model) as reference:
        frames, _ = parity_frames(reference.info, 3, seed=6)
        expected = reference.infer(frames)
    with TensorRTBackend(model, engine_cache_dir=tmp_path, max_batch=2) as backend:
        out = backend.infer(frames)  # 3 frames > max_batch: a chunk of 2, then 1
    assert np.max(np.abs(out - expected)) <= TOLERANCES["fp32"].max_prob_diff


def _start(model: str, cache: str, results) -> None:
    from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend

    with TensorRTBackend(model, engine_cache_dir=cache) as backend:
        results.put(backend.built)


def test_two_processes_starting_together_build_once(model, tmp_path):
    ctx = multiprocessing.get_context("spawn")  # a fresh CUDA context per process
    results = ctx.Queue()
    procs = [ctx.Process(target=_start, args=(str(model), str(tmp_path), results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(600)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(results.get(timeout=10) for _ in procs) == [False, True]
    assert len(list(tmp_path.glob("*.engine"))) == 1
