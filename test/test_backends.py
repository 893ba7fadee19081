"""Inference backends: selection, ONNX Runtime vs PyTorch agreement, TensorRT engine-cache logic."""

from __future__ import annotations

import importlib.util
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import fake_cuda
import fake_tensorrt
from guidewire_model.runtime.backends import BackendError, choose_backend, create_backend
from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from guidewire_model.training.torch_backend import TorchBackend
from guidewire_model.training.checkpoint import load_checkpoint, save_checkpoint
from guidewire_model.training.config import load_train_config, to_dict
from guidewire_model.training.export import check_frames, export_onnx
from guidewire_model.runtime.model_info import ModelFileError
from guidewire_model.training.network import build_model

SIZE = 64
HAVE_CUDA = torch.cuda.is_available()
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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
    with caplog.at_level(logging.INFO, logger="guidewire_model.runtime.backends"):
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
from guidewire_model.runtime.backends import create_backend, resolve_device
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
from guidewire_model.runtime.backends import BackendError, create_backend
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
    from guidewire_model.runtime.backends import gpu_probe, resolve_device

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


# --------------------------------------------------------------------------- auto falls back from TensorRT


@pytest.fixture
def gpu_with_tensorrt(monkeypatch):
    """What backend auto sees on a robot's GPU: the driver reports one GPU (faked as in
    test_gpu_probe_asks_the_cuda_driver), a TensorRT 10 module and cuda-python (test/fake_*.py)."""
    from guidewire_model.runtime.backends import gpu_probe

    monkeypatch.setattr(gpu_probe.ctypes, "CDLL", lambda name: _FakeDriver(0, 1))
    gpu_probe.cuda_device_count.cache_clear()
    trt = fake_tensorrt.install(monkeypatch, fake_tensorrt.make_fake_tensorrt("10.3.0"))
    fake_cuda.install(monkeypatch, fake_cuda.FakeCudart())
    yield trt
    gpu_probe.cuda_device_count.cache_clear()


def _no_cuda_python(monkeypatch, trt):
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize("break_it, reason", [
    (_no_cuda_python, r"cuda-python"),
    (lambda monkeypatch, trt: setattr(trt, "fail_build", True), r"failed to build a fp32 engine"),
    (lambda monkeypatch, trt: setattr(trt, "perturb", 0.3), r"disagrees with the ONNX model.*not cached"),
], ids=["no-cuda-python", "build-fails", "parity-refused"])
def test_auto_falls_back_to_onnxruntime_when_tensorrt_cannot_start(gpu_with_tensorrt, monkeypatch, model_files,
                                                                   tmp_path, caplog, break_it, reason):
    trt, onnx_path = gpu_with_tensorrt, model_files[1]
    # Control: with nothing broken, auto really takes TensorRT here.
    with create_backend("auto", onnx_path, device="cuda", engine_cache_dir=tmp_path / "ok") as backend:
        assert backend.name == "tensorrt" and backend.built
    break_it(monkeypatch, trt)
    with caplog.at_level(logging.INFO, logger="guidewire_model.runtime.backends"):
        with create_backend("auto", onnx_path, device="cuda", engine_cache_dir=tmp_path / "broken") as backend:
            assert isinstance(backend, OnnxRuntimeBackend)
            assert backend.infer(np.zeros((1, 1, SIZE, SIZE), np.float32)).shape == (1, 1, SIZE, SIZE)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == "guidewire_model.runtime.backends" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    assert f"TensorRT could not start for {onnx_path}, falling back to onnxruntime" in warnings[0]
    assert re.search(reason, warnings[0]), warnings[0]
    # Asked for by name, TensorRT fails with the same clear error instead.
    with pytest.raises(BackendError, match=reason):
        create_backend("tensorrt", onnx_path, device="cuda", engine_cache_dir=tmp_path / "explicit")


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


def test_a_checkpoint_runs_at_the_threshold_its_export_ships(model_files, tmp_path):
    # The centreline bench, the bag evaluator and guidewire-eval all threshold a checkpoint's maps:
    # each must publish the masks the exported model would, not the config's fixed threshold.
    payload = load_checkpoint(model_files[0])
    history = [{"epoch": 1, "val_best_threshold": 0.64}, {"epoch": 2, "val_best_threshold": 0.71}]
    ckpt = save_checkpoint(tmp_path / "best.pt", {**payload, "epoch": 2, "history": history})
    onnx_path = tmp_path / "model.onnx"
    export_onnx(ckpt, onnx_path, n_check_frames=1)
    exported = create_backend("onnxruntime", onnx_path, threads=1).info.threshold
    assert create_backend("auto", ckpt).info.threshold == pytest.approx(exported) == pytest.approx(0.71)
    # Without a validation record the config's threshold applies, in both.
    untrained = create_backend("auto", model_files[0]).info.threshold
    config_threshold = load_train_config().threshold
    assert untrained == create_backend("onnxruntime", model_files[1], threads=1).info.threshold == config_threshold


def test_torch_backend_refuses_onnx_files(model_files):
    with pytest.raises(BackendError, match="checkpoint"):
        create_backend("torch", model_files[1])
