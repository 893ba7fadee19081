"""A real ONNX model that marks dark thin lines: wires the pipeline can trace, without training.

``probability = sigmoid(gain * (local_mean - x))``: a pixel darker than its 9x9 neighbourhood mean
(an AveragePool of the input) is wire. Built with onnx.helper and carrying the metadata
``guidewire-export`` writes, so the node's ONNX Runtime backend loads it like any exported model.
Frames of dark curves on a bright background then give exact masks and centrelines, which tests of
the CVAT round trip need (an untrained network traces nothing reliable).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from guidewire_model import __version__
from guidewire_model.runtime.model_info import OUTPUT_PROBABILITY, ModelInfo


def export_line_model(folder: Path, size: int = 128, gain: float = 40.0, name: str = "lines.onnx") -> Path:
    """Write the model for ``size`` x ``size`` input to ``folder/name``; threshold 0.5."""
    info = ModelInfo(input_size=size, input_mean=0.0, input_std=1.0, threshold=0.5, architecture="test-lines",
                     encoder="none", encoder_width=1, output=OUTPUT_PROBABILITY, config_sha256="0" * 64,
                     version=__version__, opset=17)
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])
    y = helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1, size, size])
    gain_t = helper.make_tensor("gain", TensorProto.FLOAT, [], [gain])
    margin = helper.make_tensor("margin", TensorProto.FLOAT, [], [0.05])
    nodes = [
        helper.make_node("AveragePool", ["image"], ["mean"], kernel_shape=[9, 9], pads=[4, 4, 4, 4],
                         count_include_pad=0),
        helper.make_node("Sub", ["mean", "image"], ["darker"]),
        helper.make_node("Sub", ["darker", "margin"], ["above"]),
        helper.make_node("Mul", ["above", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["probability"]),
    ]
    graph = helper.make_graph(nodes, "lines", [x], [y], initializer=[gain_t, margin])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_model_props(model, info.to_metadata())
    onnx.checker.check_model(model)
    path = Path(folder) / name
    onnx.save(model, path)
    return path


def dark_curves(shape: tuple[int, int], curves: list[np.ndarray], width: int = 3, seed: int = 0) -> np.ndarray:
    """An 8-bit X-ray-like frame (smooth shading plus noise) with each (N, 2) curve drawn dark.

    A flat background would read as a closed shutter to the pipeline's field-of-view estimate.
    """
    import cv2

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(seed).normal(0.0, 4.0, shape)
    image = np.clip(110 + 50 * np.sin(xx / 40.0) * np.cos(yy / 55.0) + noise, 0, 255).astype(np.uint8)
    for curve in curves:
        cv2.polylines(image, [np.round(np.asarray(curve) * 16).astype(np.int32).reshape(-1, 1, 2)], False, 30, width,
                      cv2.LINE_AA, shift=4)
    return image


def one_curve_frame(size: int = 128) -> np.ndarray:
    """A ``size``² frame with one gently bending dark curve, which the line model traces as one wire."""
    t = np.linspace(0.0, 1.0, 50)
    return dark_curves((size, size), [np.c_[30 + 10 * np.sin(3 * t), 10 + 100 * t]])
