"""ONNX export: metadata round trip, ORT/PyTorch parity, failure modes, read_onnx_info errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from guidewire_model.training.checkpoint import save_checkpoint
from guidewire_model.training.config import describe_model, load_train_config, to_dict
from guidewire_model.training.export import ExportError, check_frames, export_model, export_onnx, main
from guidewire_model.runtime.model_info import (
    METADATA_PREFIX,
    ModelFileError,
    ModelInfo,
    config_sha256,
    file_sha256,
    read_onnx_info,
)
from guidewire_model.training.network import build_model

SIZE = 64
TINY = {
    "model.encoder": "resnet18",
    "model.encoder_width": 8,
    "model.pretrained": False,
    "model.input_size": SIZE,
    "threshold": 0.35,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cfg():
    return load_train_config(overrides=TINY)


@pytest.fixture(scope="module")
def checkpoint(cfg, tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_model(cfg.model)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(cfg)})
    return path


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    return export_onnx(checkpoint, out)


def _expected_frame_kind() -> str:
    try:
        from guidewire_model.runtime.preprocess import prepare_batch  # noqa: F401
        from guidewire_model.synthetic import SyntheticConfig, generate_frame  # noqa: F401
    except ImportError:
        return "random"
    return "synthetic"


def test_metadata_reads_back_equal_to_model_info(exported, cfg):
    path = Path(exported["path"])
    info = read_onnx_info(path)
    assert info == exported["info"]
    assert info == describe_model(cfg, opset=17)
    assert info.threshold == 0.35 and info.input_size == SIZE and info.encoder_width == 8
    assert info.input_mean == cfg.model.input_mean and info.input_std == cfg.model.input_std
    assert info.config_sha256 == config_sha256(to_dict(cfg))
    assert exported["sha256"] == file_sha256(path)
    assert exported["file_size"] == path.stat().st_size
    # Batch axis is symbolic, spatial axes fixed.
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, SIZE, SIZE]


def test_metadata_round_trip_is_exact():
    info = ModelInfo(input_size=512, input_mean=0.449, input_std=0.226, threshold=0.1 + 0.2,
                     architecture="linknet", encoder="resnet50", encoder_width=64, output="probability",
                     config_sha256="ab" * 32, version="0.1.0", opset=18)
    assert ModelInfo.from_metadata(info.to_metadata(), "x.onnx") == info
    with pytest.raises(ValueError, match="opset"):
        info.__class__(**{**info.__dict__, "opset": None}).to_metadata()


def test_parity_onnxruntime_vs_pytorch(exported, checkpoint):
    from guidewire_model.training.checkpoint import load_model

    assert exported["max_abs_diff"] < 1e-4
    assert exported["check_frames"] == _expected_frame_kind()
    info = exported["info"]
    frames, _ = check_frames(info, 3, seed=7)
    session = ort.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: frames})[0]
    model, _ = load_model(checkpoint)
    with torch.inference_mode():
        want = torch.sigmoid(model(torch.from_numpy(frames))).numpy()
    assert got.shape == (3, 1, SIZE, SIZE) and got.dtype == np.float32
    assert np.all((got >= 0) & (got <= 1))
    assert np.max(np.abs(got - want)) < 1e-4
    # By default the file keeps the network's transposed convolutions, with static sizes.
    ops = {node.op_type for node in onnx.load(exported["path"]).graph.node}
    assert "ConvTranspose" in ops and "DepthToSpace" not in ops
    assert "Shape" not in ops


def test_the_rewritten_form_computes_the_same_map(exported, checkpoint, tmp_path):
    rewritten = tmp_path / "rewritten.onnx"
    assert main(["--checkpoint", str(checkpoint), "--out", str(rewritten), "--frames", "2",
                 "--rewrite-transposed-convolutions"]) == 0
    ops = {node.op_type for node in onnx.load(rewritten).graph.node}
    assert "ConvTranspose" not in ops and "DepthToSpace" in ops and "Shape" not in ops
    assert read_onnx_info(rewritten) == exported["info"]
    frames, _ = check_frames(exported["info"], 2, seed=3)
    maps = []
    for path in (exported["path"], rewritten):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        maps.append(session.run(None, {session.get_inputs()[0].name: frames})[0])
    assert np.max(np.abs(maps[0] - maps[1])) < 1e-5


def test_a_half_resolution_head_exports_with_the_same_contract(tmp_path):
    sub_cfg = load_train_config(overrides={**TINY, "model.stem_skip": True, "model.subpixel_head": True})
    torch.manual_seed(0)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": build_model(sub_cfg.model).state_dict(), "config": to_dict(sub_cfg)})
    # The form the rewrite was made for; parity with torch is checked inside.
    out = export_onnx(path, tmp_path / "sub.onnx", n_check_frames=2, rewrite_transposed=True)
    assert out["max_abs_diff"] < 1e-4
    assert read_onnx_info(out["path"]).input_size == SIZE


def test_a_bottleneck_context_exports_and_agrees(tmp_path):
    ctx_cfg = load_train_config(overrides={**TINY, "model.stem_skip": True, "model.bottleneck_context": True})
    torch.manual_seed(0)
    model = build_model(ctx_cfg.model)
    nn.init.uniform_(model.context.norm.weight, 0.5, 1.5)  # an opened block, as after training
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(ctx_cfg)})
    out = export_onnx(path, tmp_path / "ctx.onnx", n_check_frames=2)  # parity with torch is checked inside
    assert out["max_abs_diff"] < 1e-4
    assert read_onnx_info(out["path"]).input_size == SIZE


def test_a_deep_supervised_network_exports_its_guidewire_channel_alone(tmp_path):
    ds_cfg = load_train_config(overrides={**TINY, "model.stem_skip": True, "model.deep_supervision": True})
    torch.manual_seed(0)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": build_model(ds_cfg.model).state_dict(), "config": to_dict(ds_cfg)})
    out = export_onnx(path, tmp_path / "ds.onnx", n_check_frames=2)  # parity with torch is checked inside
    assert out["max_abs_diff"] < 1e-4
    assert read_onnx_info(out["path"]).output == "probability"


class _DriftsOutsideExport(nn.Module):
    """Agrees with its ONNX export only while being traced: a deliberate parity failure."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x):
        out = self.inner(x)
        return out if torch.jit.is_tracing() else out + 0.5


def test_export_fails_above_tolerance_and_leaves_no_file(cfg, tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous good file")
    model = _DriftsOutsideExport(build_model(cfg.model))
    with pytest.raises(ExportError, match="tolerance"):
        export_model(model, cfg, target, n_check_frames=2)
    assert target.read_bytes() == b"previous good file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no temp file left


def test_cli_exit_status_and_no_file_on_failure(checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    assert main(["--checkpoint", str(checkpoint), "--out", str(bad), "--tolerance", "-1", "--frames", "1"]) == 1
    assert not bad.exists() and list(tmp_path.iterdir()) == []
    assert "tolerance" in capsys.readouterr().err

    good = tmp_path / "good.onnx"
    assert main(["--checkpoint", str(checkpoint), "--out", str(good), "--frames", "1", "--threshold", "0.6"]) == 0
    assert read_onnx_info(good).threshold == 0.6
    assert "max |diff|" in capsys.readouterr().out

    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_export_stores_the_validation_threshold_of_the_checkpoint_epoch(cfg, tmp_path):
    # guidewire-eval scores a checkpoint at this threshold; the exported model must publish the same.
    torch.manual_seed(0)
    model = build_model(cfg.model)
    history = [{"epoch": 1, "val_best_threshold": 0.61}, {"epoch": 2, "val_best_threshold": 0.77}]
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(cfg), "epoch": 2, "history": history})
    assert export_onnx(path, tmp_path / "a.onnx", n_check_frames=1)["info"].threshold == pytest.approx(0.77)
    assert export_onnx(path, tmp_path / "b.onnx", n_check_frames=1, threshold=0.4)["info"].threshold == 0.4


def test_a_device_head_network_exports_its_guidewire_channel_only(tmp_path):
    dev_cfg = load_train_config(overrides={**TINY, "model.device_head": True})
    torch.manual_seed(0)
    model = build_model(dev_cfg.model)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(dev_cfg)})
    out = export_onnx(path, tmp_path / "dev.onnx", n_check_frames=1)  # parity with torch is checked inside
    sess = ort.InferenceSession(str(out["path"]), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 1, SIZE, SIZE)).astype(np.float32)
    (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
    assert y.shape == (1, 1, SIZE, SIZE)
    model.eval()
    with torch.no_grad():  # both channels of the same weights; the file gives probabilities
        both = torch.sigmoid(model.all_logits(torch.from_numpy(x))).numpy()
    assert np.allclose(y[0, 0], both[0, 0], atol=1e-4) and not np.allclose(y[0, 0], both[0, 1], atol=1e-3)


def test_a_tip_head_network_exports_the_guidewire_and_tip_channels(tmp_path):
    import onnx

    from guidewire_model.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    tip_cfg = load_train_config(overrides={**TINY, "model.tip_head": True, "model.device_head": True})
    torch.manual_seed(0)
    model = build_model(tip_cfg.model)
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(tip_cfg)})
    out = export_onnx(path, tmp_path / "tip.onnx", n_check_frames=1)  # parity with torch is checked inside
    info = read_onnx_info(out["path"])
    assert info.output == "probability+tip" and info.channels == 2 and info.has_tips
    x = np.random.default_rng(0).standard_normal((1, 1, SIZE, SIZE)).astype(np.float32)
    with OnnxRuntimeBackend(out["path"]) as backend:
        y = backend.infer(x)
    assert y.shape == (1, 2, SIZE, SIZE)
    model.eval()
    with torch.no_grad():  # wire, device, tip: the file has the first and the last
        every = torch.sigmoid(model.all_logits(torch.from_numpy(x))).numpy()
    assert np.allclose(y[0, 0], every[0, 0], atol=1e-4) and np.allclose(y[0, 1], every[0, 2], atol=1e-4)
    # Metadata that promises a tip channel the graph does not have is refused, naming both.
    proto = onnx.load(str(out["path"]))
    for prop in proto.metadata_props:
        if prop.key == "guidewire.output":
            prop.value = "probability"
    onnx.save(proto, str(tmp_path / "lies.onnx"))
    with pytest.raises(ModelFileError, match=r"expected FLOAT \[N, 1, 64, 64\]"):
        read_onnx_info(tmp_path / "lies.onnx")
    for prop in proto.metadata_props:
        if prop.key == "guidewire.output":
            prop.value = "logits"
    onnx.save(proto, str(tmp_path / "unknown.onnx"))
    with pytest.raises(ModelFileError, match="'probability' or 'probability\\+tip'"):
        read_onnx_info(tmp_path / "unknown.onnx")


def test_export_rejects_old_opset(cfg, tmp_path):
    with pytest.raises(ExportError, match="opset"):
        export_model(build_model(cfg.model), cfg, tmp_path / "m.onnx", opset=13)
    assert not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------- read_onnx_info errors


def _assert_error(path: Path, *fragments: str) -> None:
    with pytest.raises(ModelFileError) as err:
        read_onnx_info(path)
    message = str(err.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_read_missing_file(tmp_path):
    _assert_error(tmp_path / "nope.onnx", "not found")


def test_read_truncated_file(exported, tmp_path):
    data = Path(exported["path"]).read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        _assert_error(path, "guidewire-export")


@pytest.mark.parametrize("content", [b"", b"hello, I am not a model\n", b"\x89PNG\r\n\x1a\n" + bytes(range(256))])
def test_read_non_onnx_file(tmp_path, content):
    path = tmp_path / "fake.onnx"
    path.write_bytes(content)
    _assert_error(path, "guidewire-export")


def test_read_without_metadata(exported, tmp_path):
    proto = onnx.load(exported["path"])
    del proto.metadata_props[:]
    path = tmp_path / "nometa.onnx"
    onnx.save(proto, str(path))
    _assert_error(path, "missing key", METADATA_PREFIX + "input_size")


def test_read_bad_metadata_value(exported, tmp_path):
    proto = onnx.load(exported["path"])
    for prop in proto.metadata_props:
        if prop.key == METADATA_PREFIX + "threshold":
            prop.value = "1.7"
    path = tmp_path / "badthr.onnx"
    onnx.save(proto, str(path))
    _assert_error(path, METADATA_PREFIX + "threshold", "'1.7'")


def test_read_wrong_input_shape(exported, tmp_path):
    proto = onnx.load(exported["path"])
    proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value = SIZE // 2
    path = tmp_path / "shape.onnx"
    onnx.save(proto, str(path))
    _assert_error(path, "input", f"[N, 1, {SIZE}, {SIZE}]")


def test_read_wrong_output_shape(exported, tmp_path):
    proto = onnx.load(exported["path"])
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 2
    path = tmp_path / "outshape.onnx"
    onnx.save(proto, str(path))
    _assert_error(path, "output")
