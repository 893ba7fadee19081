"""TensorRT backend logic without a GPU: fake ``tensorrt`` (10.x and 11.x flavours) and fake cuda-python.

Only what cannot exist here is faked (test/fake_tensorrt.py, test/fake_cuda.py); the fake engine runs
the ONNX graph it was built from with ONNX Runtime, so numbers really flow through the buffers.
What only a GPU can show (real kernels, real FP16 error) is in test_tensorrt_gpu.py.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import fake_cuda
import fake_tensorrt
from guidewire_model.runtime.backends.base import BackendError
from guidewire_model.runtime.backends.build_engine import main as build_engine_main
from guidewire_model.runtime.backends.engine_parity import EngineParityError, parity_frames
from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend
from guidewire_model.runtime.backends.tensorrt_build import check_tensorrt_version, make_logger, network_flags
from guidewire_model.runtime.model_info import ModelFileError
from tiny_model import export_tiny_model

SIZE = 64
VERSIONS = ["10.3.0", "11.1.0"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return export_tiny_model(tmp_path_factory.mktemp("trt_model"), size=SIZE)


@pytest.fixture(scope="module")
def frames(model):
    with OnnxRuntimeBackend(model) as ort_backend:
        batch, _ = parity_frames(ort_backend.info, 3, seed=11)
        return batch, ort_backend.infer(batch)


@pytest.fixture(params=VERSIONS)
def trt(request, monkeypatch):
    return fake_tensorrt.install(monkeypatch, fake_tensorrt.make_fake_tensorrt(request.param))


@pytest.fixture
def cuda(monkeypatch):
    return fake_cuda.install(monkeypatch, fake_cuda.FakeCudart())


def test_builds_a_strongly_typed_batch1_engine_that_matches_onnxruntime(trt, cuda, model, frames, tmp_path):
    batch, expected = frames
    with TensorRTBackend(model, fp16=False, engine_cache_dir=tmp_path) as backend:
        got = backend.infer(batch)  # 3 frames through a batch-1 engine: run one by one
        assert backend.built and backend.report["passed"] and backend.engine_path.is_file()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    (net,), (config,) = trt.networks, trt.configs
    assert net.strongly_typed
    assert list(config.profiles[0].shapes.values()) == [((1, 1, SIZE, SIZE),) * 3]  # min = opt = max
    assert not any(flag.name == "FP16" for flag in config.flags)
    assert config.pools[trt.MemoryPoolType.WORKSPACE] == 1024 << 20
    assert cuda.live() == 0  # close() freed every buffer and the stream


def test_fp16_comes_from_an_fp16_graph_not_a_builder_flag(trt, cuda, model, frames, tmp_path):
    batch, expected = frames
    with TensorRTBackend(model, fp16=True, engine_cache_dir=tmp_path) as backend:
        got = backend.infer(batch)
        header = backend._engine.header
        assert backend.key.precision == "fp16" and "float16" in backend.key.fp16_converter
    assert "HALF" in header["weights"] and header["input_dtype"] == header["output_dtype"] == "FLOAT"
    assert not any(flag.name == "FP16" for flag in trt.configs[0].flags)
    assert np.abs(got - expected).max() < 0.01


def test_version_flavours(monkeypatch):
    ten, eleven = fake_tensorrt.make_fake_tensorrt("10.3.0"), fake_tensorrt.make_fake_tensorrt("11.1.0")
    assert hasattr(ten.BuilderFlag, "FP16") and not hasattr(eleven.BuilderFlag, "FP16")
    assert network_flags(ten) == 1 << int(ten.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert network_flags(fake_tensorrt.make_fake_tensorrt("11.1.0", strongly_typed_flag=False)) == 0
    with pytest.raises(BackendError, match="strongly typed"):
        network_flags(fake_tensorrt.make_fake_tensorrt("10.3.0", strongly_typed_flag=False))
    for bad in ("8.6.1", "9.3.0", "12.0.0"):
        with pytest.raises(BackendError, match=rf"TensorRT {bad} is not supported.*10\.0 to 11\.x"):
            check_tensorrt_version(bad)
    assert check_tensorrt_version("10.13.3.9") == (10, 13, 3)


def test_buffers_are_allocated_once_and_the_shape_set_once(trt, cuda, model, frames, tmp_path):
    batch, _ = frames
    with TensorRTBackend(model, engine_cache_dir=tmp_path) as backend:
        backend.warmup(runs=3)
        for _ in range(5):
            backend.infer(batch[:1])
        s = SIZE * SIZE
        assert cuda.malloc_sizes == [4 * s, 4 * s] and cuda.host_malloc_sizes == [4 * s, 4 * s]
        assert trt.set_input_shape_calls == [(backend._runner.input, (1, 1, SIZE, SIZE))]
        assert len(cuda.streams) == 1


def test_larger_batches_get_a_profile_and_run_in_chunks(trt, cuda, model, frames, tmp_path):
    batch, expected = frames
    with TensorRTBackend(model, engine_cache_dir=tmp_path, max_batch=2) as backend:
        np.testing.assert_allclose(backend.infer(batch), expected, atol=1e-6)
        assert backend.key.min_batch == 1 and backend.key.opt_batch == backend.key.max_batch == 2
    shapes = [shape[0] for _, shape in trt.set_input_shape_calls]
    assert shapes[0] == 2 and 1 in shapes  # 3 frames: a chunk of 2, then 1
    assert cuda.malloc_sizes == [2 * 4 * SIZE * SIZE] * 2  # sized once for the largest batch


def test_output_buffer_follows_the_engines_output_dtype(trt, cuda, model, frames, tmp_path):
    trt.output_dtype = trt.DataType.HALF
    batch, expected = frames
    with TensorRTBackend(model, engine_cache_dir=tmp_path) as backend:
        got = backend.infer(batch)
    assert got.dtype == np.float32 and np.abs(got - expected).max() < 1e-3
    assert cuda.malloc_sizes == [4 * SIZE * SIZE, 2 * SIZE * SIZE]  # input float32, output float16


def test_an_engine_output_shape_that_does_not_fit_is_refused(trt, cuda, model, tmp_path):
    trt.output_shape_fn = lambda shape: (shape[0], 1, shape[2] // 2, shape[3] // 2)
    with pytest.raises(BackendError, match=r"output .* has shape \(1, 1, 32, 32\)"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    assert cuda.live() == 0 and not any(tmp_path.glob("*.engine"))


def test_a_refused_input_shape_is_an_error(trt, cuda, model, tmp_path):
    trt.reject_input_shapes = True
    with pytest.raises(BackendError, match="refused input shape"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    assert cuda.live() == 0


def test_an_engine_that_disagrees_with_onnx_is_refused_and_not_cached(trt, cuda, model, tmp_path):
    trt.perturb = 0.3
    with pytest.raises(EngineParityError, match=r"disagrees with the ONNX model.*max \|dp\| 0\.3.*not cached"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    assert not any(tmp_path.glob("*.engine")) and cuda.live() == 0
    trt.perturb = 0.0
    with TensorRTBackend(model, engine_cache_dir=tmp_path) as backend:
        assert backend.built and backend.report["max_prob_diff"] < 1e-6
    assert trt.builds == 2


def test_cache_key_covers_precision_batch_version_and_gpu(trt, cuda, model, tmp_path, monkeypatch):
    def engines():
        return sorted(p.name for p in tmp_path.glob("*.engine"))

    for fp16 in (False, True):
        with TensorRTBackend(model, fp16=fp16, engine_cache_dir=tmp_path) as backend:
            assert backend.built
    with TensorRTBackend(model, fp16=True, engine_cache_dir=tmp_path) as again:
        assert not again.built and again.report["passed"]
    assert trt.builds == 2 and len(engines()) == 2
    with TensorRTBackend(model, engine_cache_dir=tmp_path, max_batch=4) as batch4:
        assert batch4.built
    cuda.gpu_name = "Other GPU"
    with TensorRTBackend(model, engine_cache_dir=tmp_path) as other_gpu:
        assert other_gpu.built
    newer = fake_tensorrt.install(monkeypatch, fake_tensorrt.make_fake_tensorrt(trt.__version__ + ".1"))
    with TensorRTBackend(model, engine_cache_dir=tmp_path) as other_version:
        assert other_version.built and newer.builds == 1
    assert len(engines()) == 5


def test_trt_log_goes_to_python_logging(trt, cuda, model, tmp_path, caplog):
    logger = make_logger(trt)
    with caplog.at_level(logging.DEBUG, logger="guidewire_model.tensorrt"):
        logger.log(trt.ILogger.Severity.WARNING, "tactic skipped")
        logger.log(trt.ILogger.Severity.ERROR, "bad thing")
        logger.log(trt.ILogger.Severity.VERBOSE, "detail")
        TensorRTBackend(model, engine_cache_dir=tmp_path).close()
    got = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name == "guidewire_model.tensorrt"]
    assert ("guidewire_model.tensorrt", logging.WARNING, "TensorRT: tactic skipped") in got
    assert ("guidewire_model.tensorrt", logging.DEBUG, "TensorRT: detail") in got
    assert any(msg.startswith("TensorRT: fake TensorRT") and level == logging.INFO for _, level, msg in got)
    assert list(logger.errors) == ["bad thing"]


@pytest.mark.parametrize("knob, value, message", [
    ("fail_build", True, r"failed to build a fp32 engine \(Error Code 2: Internal Error \(out of memory"),
    ("fail_parse", True, r"cannot parse the ONNX graph: In node 0: Unsupported ONNX operator 'FancyOp'"),
    ("raise_in_context", TypeError("boom"), r"TensorRT engine setup failed \(TypeError: boom\); run guidewire-build-engine"),
])
def test_build_and_load_failures_become_backend_errors(trt, cuda, model, tmp_path, knob, value, message):
    setattr(trt, knob, value)
    with pytest.raises(BackendError, match=message) as info:
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    # The node's start-up handler catches RuntimeError (BackendError) and names the model file.
    assert isinstance(info.value, RuntimeError) and str(model) in str(info.value)
    assert cuda.live() == 0


def test_missing_runtime_pieces_are_clear_errors(monkeypatch, model, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # "not installed"
    with pytest.raises(BackendError, match=r"tensorrt Python module .*guidewire-seg\[tensorrt\]"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    fake_tensorrt.install(monkeypatch, fake_tensorrt.make_fake_tensorrt("9.2.0"))
    with pytest.raises(BackendError, match="TensorRT 9.2.0 is not supported"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    fake_tensorrt.install(monkeypatch, fake_tensorrt.make_fake_tensorrt("10.3.0"))
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(BackendError, match="cuda-python"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    fake_cuda.install(monkeypatch, fake_cuda.FakeCudart(devices=0))
    with pytest.raises(BackendError, match=r"needs CUDA GPU 0, and cuda-python sees 0 GPU\(s\) \(cudaErrorNoDevice\)"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    small = fake_cuda.install(monkeypatch, fake_cuda.FakeCudart(memory_limit=1024))
    with pytest.raises(BackendError, match=r"CUDA cudaMallocHost\(\d+\) failed: cudaErrorMemoryAllocation"):
        TensorRTBackend(model, engine_cache_dir=tmp_path)
    assert small.live() == 0
    with pytest.raises(ModelFileError, match="missing.onnx"):
        TensorRTBackend(tmp_path / "missing.onnx", engine_cache_dir=tmp_path)


def test_build_engine_command(trt, cuda, model, tmp_path, capsys):
    args = ["--model", str(model), "--cache-dir", str(tmp_path), "--fp16"]
    assert build_engine_main(args) == 0
    out = capsys.readouterr().out
    assert f"engine: {tmp_path}" in out and "(built now)" in out and "fp16" in out
    assert "parity vs ONNX Runtime (CPU), 4 synthetic frames: passed" in out
    assert f"engine_cache_dir: {tmp_path}" in out
    assert build_engine_main(args) == 0 and "(already cached)" in capsys.readouterr().out
    trt.perturb = 0.2
    assert build_engine_main(args + ["--force"]) == 1
    assert "disagrees" in capsys.readouterr().err
    assert build_engine_main(["--model", str(tmp_path / "nope.onnx")]) == 2


def test_a_second_gpu_is_made_current_on_the_inference_thread(trt, monkeypatch, model, frames, tmp_path):
    cuda = fake_cuda.install(monkeypatch, fake_cuda.FakeCudart(devices=2))
    batch, expected = frames
    results = []
    with TensorRTBackend(model, engine_cache_dir=tmp_path, device_index=1) as backend:
        # The node infers on a worker thread, whose current CUDA device starts at 0.
        worker = threading.Thread(target=lambda: results.append(backend.infer(batch[:1])))
        worker.start()
        worker.join(60)
    assert set(cuda.alloc_device.values()) == {1}
    np.testing.assert_allclose(results[0], expected[:1], atol=1e-6)


def test_the_tensorrt_path_never_imports_torch(model, tmp_path):
    """Build, parity check and inference in a fresh process (fakes for the GPU pieces only): no torch."""
    import subprocess

    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import numpy as np
import fake_cuda, fake_tensorrt
sys.modules["tensorrt"] = fake_tensorrt.make_fake_tensorrt("11.1.0")
cudart = fake_cuda.FakeCudart()
for name, module in (("cuda", type(sys)("cuda")), ("cuda.bindings", type(sys)("cuda.bindings"))):
    sys.modules[name] = module
sys.modules["cuda"].bindings = sys.modules["cuda.bindings"]
sys.modules["cuda.bindings"].runtime = sys.modules["cuda.bindings.runtime"] = cudart
from guidewire_model.runtime.backends.tensorrt_backend import TensorRTBackend
with TensorRTBackend({str(model)!r}, fp16=True, engine_cache_dir={str(tmp_path)!r}) as backend:
    backend.infer(np.zeros((1, 1, {SIZE}, {SIZE}), np.float32))
    print(backend.report["passed"], "torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["True", "False"], result.stdout
