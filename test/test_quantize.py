"""guidewire-quantize: an INT8 copy that keeps the model's metadata, agrees with it, or is not written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from guidewire_model.runtime.backends.engine_parity import ParityTolerance
from guidewire_model.runtime.model_info import read_onnx_info
from guidewire_model.training.quantize import QuantizationError, calibration_frames, main, quantize_model
from guidewire_model.synthetic import SyntheticConfig, generate_frame

from tiny_model import export_tiny_model


@pytest.fixture(scope="module")
def fp32(tmp_path_factory) -> Path:
    return export_tiny_model(tmp_path_factory.mktemp("fp32"), width=8, size=128)


def _ops(path: Path) -> set[str]:
    return {n.op_type for n in onnx.load(str(path)).graph.node}


def test_int8_copy_keeps_metadata_runs_and_agrees(fp32, tmp_path):
    out = tmp_path / "int8.onnx"
    result = quantize_model(fp32, out, n_calibration=4, n_check=3)
    assert result.parity.passed and result.path == out
    assert read_onnx_info(out) == read_onnx_info(fp32)  # the node needs no config for the copy
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["guidewire.int8.source_sha256"] == result.source_sha256
    assert "seeds 5000000..5000003" in props["guidewire.int8.calibration"]
    assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(out)
    assert "QuantizeLinear" not in _ops(fp32)
    assert result.bytes_int8 < result.bytes_fp32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]
    with pytest.raises(QuantizationError, match="already quantised"):
        quantize_model(out, tmp_path / "again.onnx", n_calibration=2, n_check=2)


def test_a_copy_outside_the_tolerance_is_refused_and_nothing_is_written(fp32, tmp_path):
    out = tmp_path / "int8.onnx"
    with pytest.raises(QuantizationError, match="disagrees") as info:
        quantize_model(fp32, out, n_calibration=2, n_check=2, tolerance=ParityTolerance(0.0, 0.0))
    assert str(out) in str(info.value) and "nothing was written" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_calibration_from_a_folder_of_frames(fp32, tmp_path):
    folder = tmp_path / "frames" / "run1"
    folder.mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), generate_frame(SyntheticConfig.preset("medium", size=200), i).image)
    info = read_onnx_info(fp32)
    frames, kind = calibration_frames(info, 8, tmp_path / "frames")
    assert frames.shape == (3, 1, 128, 128) and frames.dtype == np.float32 and "image files from" in kind
    result = quantize_model(fp32, tmp_path / "int8.onnx", calibration=tmp_path / "frames", n_check=2)
    assert result.calibration.startswith("3 image files from")
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuantizationError, match="no image files"):
        calibration_frames(info, 4, tmp_path / "empty")


def test_bad_inputs_name_the_file(fp32, tmp_path, capsys):
    with pytest.raises(QuantizationError, match="cannot replace its FP32 source"):
        quantize_model(fp32, fp32)
    not_ours = tmp_path / "plain.onnx"
    model = onnx.load(str(fp32))
    del model.metadata_props[:]
    onnx.save(model, str(not_ours))
    with pytest.raises(QuantizationError, match="plain.onnx"):
        quantize_model(not_ours, tmp_path / "x.onnx")
    assert main(["--model", str(tmp_path / "missing.onnx"), "--out", str(tmp_path / "y.onnx")]) == 1
    assert "missing.onnx: no such model file" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()
