"""``guidewire-quantize``: an INT8 copy of an exported model for CPU inference, checked against it.

ONNX Runtime runs a QDQ-quantised convolution network with 8-bit integer kernels (VNNI / AVX-512
on x86, dot-product instructions on ARM), which is what lets a CPU robot computer run the network
at fluoroscopy rates. Static quantisation needs the range of every activation, so the FP32 model
is first run on calibration frames:

* by default synthetic frames of the ``medium``, ``hard`` and ``varied`` presets from a seed range
  (:data:`CALIBRATION_SEED`) that no training, validation or test scene of this repository uses;
* with ``--calibration DIR``, the image files under ``DIR`` (a hospital's own runs; any size, 8- or
  16-bit) — never the frames the model will be evaluated on.

Weights are quantised per output channel (signed 8 bit), activations per tensor (unsigned 8 bit,
min/max calibration). The copy is then compared with the FP32 model on other frames
(:func:`~guidewire_model.runtime.backends.engine_parity.compare_maps`: the largest probability difference
and the share of wire pixels whose mask differs) and written only if both stay within
:data:`INT8_TOLERANCE`. The file keeps the model's metadata (input size, normalisation, threshold), so
the node needs no configuration, and records how it was made under ``guidewire.int8.*``.

Only ``onnx`` and ``onnxruntime`` are needed (no PyTorch).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guidewire_model.core.atomic_io import atomic_path
from guidewire_model.runtime.backends.engine_parity import ParityReport, ParityTolerance, compare_maps
from guidewire_model.metrics.pixels import accuracy_counts
from guidewire_model.runtime.model_info import ModelFileError, ModelInfo, file_sha256, read_onnx_info

__all__ = ["CALIBRATION_SEED", "INT8_TOLERANCE", "MAX_F1_LOSS", "QuantizationError", "QuantizationResult", "calibration_frames",
           "main", "quantize_model"]

#: First seed of the default synthetic calibration frames (training uses seeds >= 2**31, validation
#: 1,000,000 and up to a few thousand more, the fixed test sets below 110,000).
CALIBRATION_SEED = 5_000_000
#: Seed of the check frames, apart from the calibration frames.
CHECK_SEED = 6_000_000
#: Sanity bounds of the INT8-vs-FP32 comparison. A thin-structure model has many pixels near its
#: threshold, so a few per cent of the mask flips either way with 8-bit activations; a broken
#: quantisation is far outside these.
INT8_TOLERANCE = ParityTolerance(max_prob_diff=0.3, max_mask_disagreement=0.10)
#: The bound that matters: the INT8 copy's F1 and F1@2 against the check frames' ground truth may
#: fall at most this far below the FP32 model's.
MAX_F1_LOSS = 0.02
_PRESETS = ("medium", "hard", "varied")
_META = "guidewire.int8."


class QuantizationError(ValueError):
    """The model cannot be quantised, or its INT8 copy disagrees with it; nothing was written."""


@dataclass(frozen=True)
class QuantizationResult:
    """What :func:`quantize_model` wrote and how close the copy is to its source."""

    path: Path
    source_sha256: str
    calibration: str
    parity: ParityReport
    f1_fp32: float
    f1_int8: float
    f1_at_2_fp32: float
    f1_at_2_int8: float
    bytes_fp32: int
    bytes_int8: int


def calibration_frames(info: ModelInfo, n_frames: int, folder: str | Path | None = None,
                       seed: int = CALIBRATION_SEED) -> tuple[np.ndarray, str]:
    """Normalised frames (N, 1, S, S) to calibrate (or check) a model, and what kind they are.

    Parameters
    ----------
    info : ModelInfo
        The model's input size and normalisation.
    n_frames : int
        How many frames (synthetic: cycling through the presets; folder: the first ``n_frames``
        image files in natural name order, as the other folder readers take them, or all if fewer).
    folder : path-like, optional
        A folder of image files (searched recursively); synthetic frames when None.
    seed : int
        First synthetic seed.

    Raises
    ------
    QuantizationError
        If the folder holds no readable image file.
    """
    from guidewire_model.runtime.preprocess import prepare_batch

    if n_frames < 1:
        raise QuantizationError(f"the number of calibration frames must be >= 1, got {n_frames}")
    if folder is None:
        made, kind = _synthetic_frames(info, n_frames, seed)
        images = [f.image for f in made]
    else:
        from guidewire_model.data.frame_folder import IMAGE_SUFFIXES, FolderError, natural_key, read_gray

        root = Path(folder)
        files = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: natural_key(str(p)))[:n_frames]
        if not files:
            raise QuantizationError(f"{root}: no image files ({', '.join(IMAGE_SUFFIXES)}) to calibrate "
                                    "on; point --calibration at a folder of frames")
        try:
            images = [read_gray(p) for p in files]
        except FolderError as exc:
            raise QuantizationError(str(exc)) from exc
        kind = f"image files from {root}"
    batch = prepare_batch(images, info.input_size, info.input_mean, info.input_std)
    return np.ascontiguousarray(batch, dtype=np.float32), kind


def _synthetic_frames(info: ModelInfo, n_frames: int, seed: int) -> tuple[list, str]:
    """Generator frames at the model's input size, cycling through the presets, and what they are."""
    from guidewire_model.synthetic import SyntheticConfig, generate_frame

    made = [generate_frame(SyntheticConfig.preset(_PRESETS[i % len(_PRESETS)], size=info.input_size), seed + i)
            for i in range(n_frames)]
    return made, f"synthetic ({', '.join(_PRESETS)}; seeds {seed}..{seed + n_frames - 1})"


def _check_set(info: ModelInfo, n_frames: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Synthetic check frames (N, 1, S, S), their true masks (N, S, S), and what they are."""
    from guidewire_model.runtime.preprocess import prepare_batch

    made, kind = _synthetic_frames(info, n_frames, CHECK_SEED)
    frames = prepare_batch([f.image for f in made], info.input_size, info.input_mean, info.input_std)
    return np.ascontiguousarray(frames, dtype=np.float32), np.stack([f.mask > 0 for f in made]), kind


def _probabilities(path: Path, frames: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: frames[i:i + 1]})[0] for i in range(len(frames))])


class _Reader:
    """The calibration frames, one at a time, as ONNX Runtime's CalibrationDataReader expects."""

    def __init__(self, name: str, frames: np.ndarray) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter({name: frames[i:i + 1]} for i in range(len(frames)))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)


def quantize_model(source: str | Path, out: str | Path, calibration: str | Path | None = None,
                   n_calibration: int = 24, n_check: int = 12,
                   tolerance: ParityTolerance = INT8_TOLERANCE) -> QuantizationResult:
    """Write an INT8 (QDQ) copy of ``source`` to ``out`` if it agrees with ``source``.

    Parameters
    ----------
    source : path-like
        An FP32 ONNX model written by ``guidewire-export``.
    out : path-like
        The INT8 model; written atomically, only if the check passes.
    calibration : path-like, optional
        A folder of frames to calibrate on; synthetic frames when None (see the module docstring).
    n_calibration, n_check : int
        Calibration frames, and check frames (always synthetic, with ground truth, seeds apart).
    tolerance : ParityTolerance
        Bounds of the check.

    Raises
    ------
    QuantizationError
        If the source is not a model of ours, ``out`` is the source, or the copy disagrees.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, out = Path(source), Path(out)
    if not source.is_file():
        raise QuantizationError(f"{source}: no such model file; export one with guidewire-export")
    if out.resolve() == source.resolve():
        raise QuantizationError(f"{out}: the INT8 copy cannot replace its FP32 source; choose another --out")
    try:
        info = read_onnx_info(source)
    except ModelFileError as exc:
        raise QuantizationError(str(exc)) from exc
    if info.motion_input:
        raise QuantizationError(f"{source}: a motion-input model; its INT8 copy would need calibration frames of "
                                "runs with their motion channels, which guidewire-quantize does not draw: run the "
                                "FP32 model")
    proto = onnx.load(str(source))
    if any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in proto.graph.node):
        raise QuantizationError(f"{source}: already quantised; quantise the FP32 model it came from")
    metadata = {p.key: p.value for p in proto.metadata_props}
    input_name = proto.graph.input[0].name

    frames, kind = calibration_frames(info, n_calibration, calibration)
    kind = f"{len(frames)} {kind} frames"
    check, truth, check_kind = _check_set(info, n_check)
    with tempfile.TemporaryDirectory(prefix="guidewire-quantize-") as work, atomic_path(out) as tmp:
        # Shape inference and graph optimisation first, as ONNX Runtime recommends for static
        # quantisation.
        pre = Path(work) / "preprocessed.onnx"
        quant_pre_process(str(source), str(pre))
        quantize_static(str(pre), str(tmp), _Reader(input_name, frames), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        quantised = onnx.load(str(tmp))
        del quantised.metadata_props[:]
        source_sha = file_sha256(source)
        onnx.helper.set_model_props(quantised, {
            **metadata, _META + "format": "QDQ, weights int8 per channel, activations uint8 per tensor (min/max)",
            _META + "calibration": kind, _META + "source_sha256": source_sha})
        onnx.save(quantised, str(tmp))
        fp32, int8 = _probabilities(source, check), _probabilities(tmp, check)
        report = compare_maps(fp32, int8, info.threshold, tolerance, frames_kind=check_kind)
        acc32 = accuracy_counts(fp32[:, 0] > info.threshold, truth)
        acc8 = accuracy_counts(int8[:, 0] > info.threshold, truth)
        losses = (acc32.pixel.f1 - acc8.pixel.f1, acc32.tolerance.f1 - acc8.tolerance.f1)
        if not report.passed or max(losses) > MAX_F1_LOSS:
            raise QuantizationError(
                f"{out}: the INT8 copy disagrees with {source}: {report.summary()}; F1 {acc8.pixel.f1:.3f} "
                f"(FP32 {acc32.pixel.f1:.3f}), F1@2 {acc8.tolerance.f1:.3f} (FP32 {acc32.tolerance.f1:.3f}), "
                f"at most {MAX_F1_LOSS} lower allowed; nothing was written. Calibrate on frames like the ones "
                "it will see (--calibration DIR), or serve the FP32 model")
    return QuantizationResult(out, source_sha, kind, report, acc32.pixel.f1, acc8.pixel.f1, acc32.tolerance.f1,
                              acc8.tolerance.f1, source.stat().st_size, out.stat().st_size)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="guidewire-quantize",
        description="Write an INT8 (QDQ) copy of an exported ONNX model for CPU inference with ONNX Runtime, "
                    "calibrated on synthetic frames or a folder of frames, and written only if it agrees "
                    "with the FP32 model.")
    p.add_argument("--model", required=True, type=Path, help="FP32 ONNX model from guidewire-export")
    p.add_argument("--out", required=True, type=Path, help="INT8 ONNX model to write")
    p.add_argument("--calibration", type=Path, help="folder of frames to calibrate on (default: synthetic frames)")
    p.add_argument("--frames", type=int, default=24, help="calibration frames (default 24)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = quantize_model(args.model, args.out, args.calibration, args.frames)
    except QuantizationError as exc:
        print(f"guidewire-quantize: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.path} ({result.bytes_int8 / 1e6:.1f} MB, FP32 {result.bytes_fp32 / 1e6:.1f} MB), "
          f"calibrated on {result.calibration}")
    print(result.parity.summary())
    print(f"against the check frames' ground truth: F1 {result.f1_int8:.3f} (FP32 {result.f1_fp32:.3f}), "
          f"F1@2 {result.f1_at_2_int8:.3f} (FP32 {result.f1_at_2_fp32:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
