"""Inference backends: selection, ONNX Runtime vs PyTorch agreement, TensorRT engine-cache logic."""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from guidewire_model.backends import BackendError, choose_backend, create_backend
from guidewire_model.backends.onnxruntime_backend import OnnxRuntimeBackend
from guidewire_model.backends.tensorrt_backend import EngineCache, EngineKey, cache_decision
from guidewire_model.backends.torch_backend import TorchBackend
from guidewire_model.checkpoint import save_checkpoint
from guidewire_model.config import load_train_config, to_dict
from guidewire_model.export import check_frames, export_onnx
from guidewire_model.model_info import ModelFileError
from guidewire_model.network import build_model

SIZE = 64
HAVE_CUDA = torch.cuda.is_available()
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint .pt, exported .onnx) of a tiny random LinkNet."""
    cfg = load_train_config(overrides={"model.encoder": "resnet18", "model.encoder_width": 8,
                                       "model.pretrained": False, "model.input_size": SIZE})
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("models")
    ckpt = save_checkpoint(folder / "best.pt", {"model": build_model(cfg.model).state_dict(), "config": to_dict(cfg)})
    onnx_path = folder / "model.onnx"
    export_onnx(ckpt, onnx_path, n_check_frames=1)
    return ckpt, onnx_path


# --------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    "kind, path, device, cuda, trt, expected",
    [
        ("auto", "m.onnx", "cpu", True, True, "onnxruntime"),
        ("auto", "m.onnx", "cuda", False, True, "onnxruntime"),
        ("auto", "m.onnx", "cuda", True, False, "onnxruntime"),
        ("auto", "m.onnx", "cuda", True, True, "tensorrt"),
        ("auto", "best.pt", "cuda", True, True, "torch"),
        ("onnxruntime", "m.onnx", "cuda", True, True, "onnxruntime"),
        ("tensorrt", "m.onnx", "cpu", False, False, "tensorrt"),
    ],
)
def test_choose_backend(kind, path, device, cuda, trt, expected):
    chosen, reason = choose_backend(kind, path, device, cuda, trt)
    assert chosen == expected and reason


def test_choose_backend_rejects_unknown_names():
    with pytest.raises(ValueError, match="onnxruntime"):
        choose_backend("openvino", "m.onnx", "cpu", False, False)
    with pytest.raises(ValueError, match="device"):
        choose_backend("auto", "m.onnx", "gpu", False, False)


@pytest.mark.skipif(HAVE_CUDA and HAVE_TRT, reason="this machine would pick TensorRT")
def test_auto_picks_onnxruntime_here(model_files, caplog):
    _, onnx_path = model_files
    with caplog.at_level(logging.INFO, logger="guidewire_model.backends"):
        for device in ("cpu", "cuda"):
            with create_backend("auto", onnx_path, device=device) as backend:
                assert isinstance(backend, OnnxRuntimeBackend) and backend.name == "onnxruntime"
    assert "onnxruntime" in caplog.text and str(onnx_path) in caplog.text


@pytest.mark.skipif(HAVE_CUDA and HAVE_TRT, reason="TensorRT is available here")
def test_tensorrt_unavailable_is_a_clear_error(model_files):
    with pytest.raises(BackendError, match="tensorrt|CUDA"):
        create_backend("tensorrt", model_files[1], device="cuda")


def _run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


def test_onnx_backends_never_import_torch(model_files):
    """Choosing and running an ONNX model (auto on cpu and cuda: the GPU probe included) leaves torch
    unimported; the control shows the check sees an import that does happen."""
    code = f"""
import sys
from guidewire_model.backends import create_backend, resolve_device
import numpy as np
for device in ("cpu", "cuda", resolve_device("auto")):
    with create_backend("auto", {str(model_files[1])!r}, device=device) as b:
        b.infer(np.zeros((1, 1, {SIZE}, {SIZE}), np.float32))
print("torch" in sys.modules, "onnxruntime" in sys.modules)
"""
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["False", "True"], result.stdout


def test_checkpoint_without_torch_is_a_clear_error_naming_the_file_and_the_fix(tmp_path):
    ckpt = tmp_path / "best.pt"
    code = f"""
import sys
sys.modules["torch"] = None  # as on a robot computer installed with .[runtime]: import torch fails
from guidewire_model.backends import BackendError, create_backend
try:
    create_backend("auto", {str(ckpt)!r})
except BackendError as exc:
    print("ERROR:", exc)
"""
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "ERROR:" in text and str(ckpt) in text and "PyTorch is not installed" in text
    assert "pip install .[train]" in text and "guidewire-export --checkpoint" in text


class _FakeDriver:
    def __init__(self, init_status: int, count: int) -> None:
        self.init_status, self.count = init_status, count

    def cuInit(self, flags):  # noqa: N802 - the CUDA driver API's name
        return self.init_status

    def cuDeviceGetCount(self, ref):  # noqa: N802
        ref._obj.value = self.count
        return 0


@pytest.mark.parametrize("driver, expected", [(None, 0), (_FakeDriver(0, 2), 2), (_FakeDriver(100, 1), 0)])
def test_gpu_probe_asks_the_cuda_driver(monkeypatch, driver, expected):
    from guidewire_model.backends import gpu_probe, resolve_device

    def fake_cdll(name):
        if driver is None:
            raise OSError(f"{name}: cannot open shared object file")
        return driver

    monkeypatch.setattr(gpu_probe.ctypes, "CDLL", fake_cdll)
    gpu_probe.cuda_device_count.cache_clear()
    try:
        assert gpu_probe.cuda_device_count() == expected
        assert resolve_device("auto") == ("cuda" if expected else "cpu")
        assert resolve_device("cpu") == "cpu"
    finally:
        gpu_probe.cuda_device_count.cache_clear()


# --------------------------------------------------------------------------- running


def test_onnxruntime_and_torch_backends_agree(model_files):
    ckpt, onnx_path = model_files
    ort_backend = create_backend("onnxruntime", onnx_path, threads=1)
    torch_backend = create_backend("auto", ckpt)
    assert isinstance(torch_backend, TorchBackend)
    assert ort_backend.info.input_size == torch_backend.info.input_size == SIZE
    assert ort_backend.info.config_sha256 == torch_backend.info.config_sha256
    frames, _ = check_frames(ort_backend.info, 3, seed=3)
    ort_backend.warmup()
    a, b = ort_backend.infer(frames), torch_backend.infer(frames)
    assert a.shape == b.shape == (3, 1, SIZE, SIZE) and a.dtype == b.dtype == np.float32
    assert np.all((a >= 0) & (a <= 1))
    assert np.max(np.abs(a - b)) < 1e-4
    # Frames are independent: one frame alone gives the same map as inside the batch.
    assert np.max(np.abs(ort_backend.infer(frames[1:2]) - a[1:2])) < 1e-5
    ort_backend.close()
    torch_backend.close()
    with pytest.raises(RuntimeError, match="close"):
        ort_backend.infer(frames)


def test_infer_validates_the_batch(model_files):
    backend = OnnxRuntimeBackend(model_files[1], threads=1)
    with pytest.raises(ValueError, match="float32"):
        backend.infer(np.zeros((1, 1, SIZE, SIZE), dtype=np.float64))
    with pytest.raises(ValueError, match=rf"\(N, 1, {SIZE}, {SIZE}\)"):
        backend.infer(np.zeros((1, 1, SIZE, SIZE + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        backend.infer(np.zeros((SIZE, SIZE), dtype=np.float32))


def test_onnxruntime_backend_fails_at_start_naming_the_file(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"not a model")
    for path in (bad, tmp_path / "missing.onnx"):
        with pytest.raises(ModelFileError, match=str(path)):
            create_backend("onnxruntime", path)


def test_torch_backend_refuses_onnx_files(model_files):
    with pytest.raises(BackendError, match="checkpoint"):
        create_backend("torch", model_files[1])


# --------------------------------------------------------------------------- TensorRT engine cache

KEY = EngineKey(gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0", tensorrt_version="10.3.0",
                fp16=True, onnx_sha256="ab" * 32, input_size=512, max_batch=8)


class FakeRuntime:
    """Stands in for build/deserialize: an 'engine' is valid iff its bytes start with ENGINE."""

    def __init__(self) -> None:
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return b"ENGINE" + str(self.builds).encode()

    @staticmethod
    def deserialize(blob: bytes):
        if not blob.startswith(b"ENGINE"):
            raise RuntimeError("bad magic")
        return ("engine", blob)


def test_engine_key_changes_with_every_field_and_names_are_safe():
    import dataclasses

    changes = {"gpu_name": "RTX 4090", "compute_capability": "8.9", "tensorrt_version": "10.4.0", "fp16": False,
               "onnx_sha256": "cd" * 32, "input_size": 256, "max_batch": 4}
    stems = {KEY.file_stem()}
    for field, value in changes.items():
        stems.add(dataclasses.replace(KEY, **{field: value}).file_stem())
    assert len(stems) == 1 + len(changes)
    evil = dataclasses.replace(KEY, gpu_name="../../etc/passwd", compute_capability="../9.0")
    stem = evil.file_stem()
    assert "/" not in stem and ".." not in stem and stem.endswith(evil.digest()[:16])
    assert KEY.file_stem().startswith("NVIDIA-H100-80GB-HBM3-sm90-fp16-")


def test_cache_decision(tmp_path):
    import dataclasses

    cache = EngineCache(tmp_path)
    engine, sidecar = cache.paths(KEY)
    assert cache_decision(engine, sidecar, KEY)[0] == "build"
    engine.write_bytes(b"ENGINE")
    action, reason = cache_decision(engine, sidecar, KEY)
    assert action == "build" and "sidecar" in reason
    sidecar.write_text("{ not json")
    assert cache_decision(engine, sidecar, KEY)[0] == "build"
    sidecar.write_text(json.dumps(KEY.to_sidecar()))
    assert cache_decision(engine, sidecar, KEY) == ("load", "cached engine matches")
    other = dataclasses.replace(KEY, tensorrt_version="10.5.0")
    action, reason = cache_decision(engine, sidecar, other)
    assert action == "build" and "tensorrt_version" in reason and "10.5.0" in reason
    sidecar.write_text(json.dumps({"format": 99, "key": {}}))
    assert cache_decision(engine, sidecar, KEY)[0] == "build"


def test_engine_cache_builds_once_then_loads(tmp_path):
    rt = FakeRuntime()
    cache = EngineCache(tmp_path / "engines")
    first = cache.load_or_build(KEY, rt.build, rt.deserialize)
    second = cache.load_or_build(KEY, rt.build, rt.deserialize)
    assert first == second == ("engine", b"ENGINE1") and rt.builds == 1
    engine, sidecar = cache.paths(KEY)
    assert json.loads(sidecar.read_text())["key"]["onnx_sha256"] == KEY.onnx_sha256
    # Everything written lies inside the cache folder, with no temporary files left over.
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sorted(written) == sorted([engine, sidecar])


def test_corrupt_or_mismatched_engine_is_rebuilt_with_a_warning(tmp_path, caplog):
    rt = FakeRuntime()
    cache = EngineCache(tmp_path)
    cache.load_or_build(KEY, rt.build, rt.deserialize)
    engine, sidecar = cache.paths(KEY)
    engine.write_bytes(b"\x00torn write")
    with caplog.at_level(logging.WARNING):
        assert cache.load_or_build(KEY, rt.build, rt.deserialize) == ("engine", b"ENGINE2")
    assert "failed to deserialize" in caplog.text and "rebuilding" in caplog.text
    assert engine.read_bytes() == b"ENGINE2"

    # Deserialize returning None (TensorRT's way of failing) is treated the same.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        got = cache.load_or_build(KEY, rt.build, lambda b: None if b == b"ENGINE2" else rt.deserialize(b))
    assert got == ("engine", b"ENGINE3") and "rebuilding" in caplog.text

    # A sidecar from another setup (same file name, e.g. edited by hand) forces a rebuild.
    stored = json.loads(sidecar.read_text())
    stored["key"]["fp16"] = False
    sidecar.write_text(json.dumps(stored))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert cache.load_or_build(KEY, rt.build, rt.deserialize) == ("engine", b"ENGINE4")
    assert "fp16" in caplog.text
    assert json.loads(sidecar.read_text())["key"]["fp16"] is True


def test_timing_cache_round_trip(tmp_path):
    cache = EngineCache(tmp_path)
    assert cache.read_timing_cache(KEY) == b""
    cache.write_timing_cache(KEY, b"timings")
    assert cache.read_timing_cache(KEY) == b"timings"
    assert cache.timing_cache_path(KEY).parent == tmp_path


@pytest.mark.skipif(not (HAVE_CUDA and HAVE_TRT), reason="needs a CUDA GPU and the tensorrt module")
def test_tensorrt_backend_matches_onnxruntime_and_reuses_its_engine(model_files, tmp_path):
    from guidewire_model.backends.tensorrt_backend import TensorRTBackend

    _, onnx_path = model_files
    ort_backend = create_backend("onnxruntime", onnx_path)
    frames, _ = check_frames(ort_backend.info, 3, seed=5)
    with TensorRTBackend(onnx_path, fp16=False, engine_cache_dir=tmp_path, max_batch=2) as trt_backend:
        out = trt_backend.infer(frames)  # 3 frames > max_batch: run in chunks
    assert np.max(np.abs(out - ort_backend.infer(frames))) < 1e-3
    engines = sorted(tmp_path.glob("*.engine"))
    assert len(engines) == 1 and sorted(tmp_path.glob("timing-*.cache"))
    stamp = engines[0].stat().st_mtime_ns
    with TensorRTBackend(onnx_path, fp16=False, engine_cache_dir=tmp_path, max_batch=2) as again:
        assert np.max(np.abs(again.infer(frames) - out)) < 1e-5
    assert sorted(tmp_path.glob("*.engine")) == engines and engines[0].stat().st_mtime_ns == stamp
    with create_backend("tensorrt", onnx_path, device="cuda", engine_cache_dir=tmp_path) as other_batch:
        other_batch.warmup()
    assert len(list(tmp_path.glob("*.engine"))) == 2  # max_batch is part of the key
