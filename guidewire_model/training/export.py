"""Export a trained checkpoint to ONNX, with metadata and a numerical parity check.

The exported graph ends in the sigmoid, so its single output is the wire *probability* map
(N, 1, S, S), or (N, 2, S, S) with the tip probability as channel 1 for a network with a tip head;
the batch axis is dynamic, the spatial size is fixed to the training input size.
A :class:`~guidewire_model.runtime.model_info.ModelInfo` (input size, normalisation, threshold, ...) is
written into ``metadata_props``. Before the file appears under its final name, ONNX Runtime
(CPU) and PyTorch are run on the same preprocessed frames; if their probability maps differ by
more than the tolerance, the export fails and no ``.onnx`` is left behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from guidewire_model.core.atomic_io import atomic_path
from guidewire_model.runtime.backends.engine_parity import parity_frames
from guidewire_model.runtime.model_info import MIN_OPSET, ModelFileError, ModelInfo, file_sha256, read_onnx_info
from guidewire_model.training.config import describe_model
from guidewire_model.training.network import output_logits
from guidewire_model.training.subpixel_deconv import without_transposed_convolutions

__all__ = ["ExportError", "ProbabilityModel", "check_frames", "export_model", "export_onnx", "main"]


INPUT_NAME = "image"
OUTPUT_NAME = "probability"


class ExportError(RuntimeError):
    """Export failed (bad opset, invalid graph, or ONNX Runtime disagrees with PyTorch)."""


class ProbabilityModel(nn.Module):
    """Wrap a logits network so its output is the sigmoid probability, as in the exported file.

    A network with a tip branch (``model.tip_head``) gives the wire channel and the tip channel
    (``network.output_logits``).
    """

    def __init__(self, logits_model: nn.Module) -> None:
        super().__init__()
        self.logits_model = logits_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output_logits(self.logits_model, x))


def check_frames(info: ModelInfo, n_frames: int, seed: int = 0) -> tuple[np.ndarray, str]:
    """Normalised input frames for a parity check: the engine parity check's frames.

    See :func:`guidewire_model.runtime.backends.engine_parity.parity_frames` (synthetic ``medium`` frames
    preprocessed as at run time, or seeded noise if the generator cannot be imported).

    Returns
    -------
    (frames, kind)
        ``frames`` float32 (n_frames, C_in, S, S); ``kind`` is ``"synthetic"`` or ``"random"``.
    """
    return parity_frames(info, n_frames, seed)


def export_model(
    model: nn.Module,
    cfg: Any,
    onnx_path: str | os.PathLike,
    opset: int = MIN_OPSET,
    tolerance: float = 1e-4,
    n_check_frames: int = 4,
    threshold: float | None = None,
    rewrite_transposed: bool = False,
) -> dict[str, Any]:
    """Export a logits network to ONNX with metadata, checking parity against PyTorch.

    Parameters
    ----------
    model : nn.Module
        Network from ``network.build_model``: (N, 1, S, S) normalised float32 -> logits. It is
        moved to the CPU and put in eval mode.
    cfg : TrainConfig
        Its training config (input size, normalisation, threshold go into the metadata).
    onnx_path : path-like
        Output file; written only if the parity check passes (atomically, via a temporary file
        in the same folder).
    opset : int
        ONNX opset, at least 17.
    tolerance : float
        Largest allowed absolute difference of the probability maps, ONNX Runtime vs PyTorch.
    n_check_frames : int
        Frames in the parity batch (a single frame is checked too, to exercise the dynamic batch).
    threshold : float, optional
        Decision threshold to store instead of ``cfg.threshold``.
    rewrite_transposed : bool
        Write each transposed convolution as a convolution followed by a pixel shuffle
        (:mod:`~guidewire_model.training.subpixel_deconv`): the same function, faster in ONNX
        Runtime for some networks and slower for others (a full-resolution head's pixel shuffle
        at 512² costs more than the transposed convolution it replaces); measure with
        ``guidewire-bench`` before choosing it (docs/benchmarks.md).

    Returns
    -------
    dict
        ``path``, ``max_abs_diff``, ``tolerance``, ``check_frames`` ("synthetic"/"random"),
        ``file_size`` (bytes), ``sha256``, ``info`` (:class:`ModelInfo`).

    Raises
    ------
    ExportError
        If ``opset`` < 17, the ONNX checker rejects the graph, or the max difference exceeds
        ``tolerance``. ``onnx_path`` is then not created (an existing file there is kept).
    """
    import onnx

    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset} is too old; use --opset {MIN_OPSET} or newer")
    if n_check_frames < 1:
        raise ExportError(f"n_check_frames must be >= 1, got {n_check_frames}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ExportError(f"threshold must be in [0, 1], got {threshold}")
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    info = describe_model(cfg, opset=opset, threshold=threshold)
    wrapped = ProbabilityModel(model).cpu().eval()
    size = info.input_size

    # Every check runs on the temporary file; the target appears only when all pass.
    with atomic_path(onnx_path) as tmp:
        # The parity check below compares the file with the network as trained, in either form.
        graph_model = without_transposed_convolutions(wrapped) if rewrite_transposed else wrapped
        _torch_export(graph_model, tmp, size, opset, info.input_channels)
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        onnx.helper.set_model_props(proto, info.to_metadata())
        try:
            onnx.checker.check_model(proto, full_check=True)
        except onnx.checker.ValidationError as exc:
            raise ExportError(f"{onnx_path}: the exported graph is invalid: {exc}") from exc
        onnx.save(proto, str(tmp))
        read_back = read_onnx_info(tmp)
        if read_back != info:
            raise ExportError(f"{onnx_path}: metadata did not read back intact ({read_back} != {info})")

        frames, kind = check_frames(info, n_check_frames)
        max_diff = _max_parity_diff(wrapped, tmp, frames)
        print(f"parity ONNX Runtime vs PyTorch on {len(frames)} {kind} frames at {size}x{size}: "
              f"max |diff| of probability = {max_diff:.3g} (tolerance {tolerance:g})")
        if not max_diff <= tolerance:  # also catches NaN
            raise ExportError(
                f"{onnx_path}: ONNX Runtime and PyTorch disagree: max |diff| of the probability map "
                f"{max_diff:.3g} > tolerance {tolerance:g}; the file was not written. Try another --opset, "
                "or raise --tolerance if the difference is understood"
            )
    return {
        "path": str(onnx_path),
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
        "check_frames": kind,
        "file_size": onnx_path.stat().st_size,
        "sha256": file_sha256(onnx_path),
        "info": info,
    }


def export_onnx(
    checkpoint: str | os.PathLike,
    onnx_path: str | os.PathLike,
    opset: int = MIN_OPSET,
    tolerance: float = 1e-4,
    n_check_frames: int = 4,
    threshold: float | None = None,
    rewrite_transposed: bool = False,
) -> dict[str, Any]:
    """Export a training checkpoint (``last.pt``/``best.pt``) to ONNX; see :func:`export_model`.

    ``threshold`` defaults to the F1-best validation threshold of the checkpoint's epoch, the one
    ``guidewire-eval`` scores a checkpoint at (the config's only for a checkpoint without
    validation history), so the exported model publishes what was evaluated.

    Raises
    ------
    checkpoint.CheckpointError
        If the checkpoint cannot be read or does not fit its stored architecture.
    ExportError
        As :func:`export_model`.
    """
    from guidewire_model.training.checkpoint import load_checkpoint, model_from_payload, recorded_threshold

    payload = load_checkpoint(checkpoint, map_location="cpu")
    model, cfg = model_from_payload(payload, checkpoint, "cpu")
    if threshold is None:
        threshold = recorded_threshold(payload)  # None: export_model stores the config's threshold
    return export_model(model, cfg, onnx_path, opset, tolerance, n_check_frames, threshold, rewrite_transposed)


def _torch_export(model: nn.Module, path: Path, size: int, opset: int, channels: int = 1) -> None:
    dummy = torch.zeros(1, channels, size, size)
    with warnings.catch_warnings():
        # The TorchScript exporter (dynamo=False) warns that it is deprecated. We use it on
        # purpose: the torch.export-based exporter needs onnxscript, which is not a dependency,
        # and the TorchScript path handles this plain conv net fine. Parity below guards it.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        with torch.no_grad():
            torch.onnx.export(
                model,
                (dummy,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )


def _max_parity_diff(model: nn.Module, onnx_file: Path, frames: np.ndarray) -> float:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = model(torch.from_numpy(frames)).numpy()
    got = session.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    # A second, smaller batch proves the batch axis really is dynamic.
    got_single = session.run([OUTPUT_NAME], {INPUT_NAME: frames[:1]})[0]
    if got.shape != expected.shape or got_single.shape != expected[:1].shape:
        raise ExportError(
            f"{onnx_file}: ONNX output shape {got.shape}/{got_single.shape} differs from PyTorch {expected.shape}"
        )
    return float(max(np.max(np.abs(got - expected)), np.max(np.abs(got_single - expected[:1]))))


def main(argv: Sequence[str] | None = None) -> int:
    """``guidewire-export``: checkpoint -> ONNX with metadata and a parity check.

    Exit status 0 on success, 1 if the export or parity check fails, 2 on unreadable input.
    """
    parser = argparse.ArgumentParser(
        prog="guidewire-export",
        description="Export a training checkpoint to ONNX (probability output, dynamic batch, metadata) "
        "and check ONNX Runtime against PyTorch on the same frames.",
    )
    parser.add_argument("--checkpoint", required=True, help="training checkpoint (last.pt / best.pt)")
    parser.add_argument("--out", required=True, help="output .onnx file (written only if the parity check passes)")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset (>= {MIN_OPSET}; default %(default)s)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="max allowed |ONNX Runtime - PyTorch| of the probability map (default %(default)s)")
    parser.add_argument("--frames", type=int, default=4, help="frames in the parity check (default %(default)s)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="decision threshold to store (default: the F1-best validation threshold of the "
                             "checkpoint's epoch, as guidewire-eval uses; the config's without validation history)")
    parser.add_argument("--rewrite-transposed-convolutions", action="store_true",
                        help="write transposed convolutions as convolution + pixel shuffle (the same function; "
                             "faster in ONNX Runtime for some networks, slower for a full-resolution head: "
                             "time both files with guidewire-bench)")
    args = parser.parse_args(argv)

    from guidewire_model.training.checkpoint import CheckpointError

    try:
        report = export_onnx(args.checkpoint, args.out, args.opset, args.tolerance, args.frames, args.threshold,
                             args.rewrite_transposed_convolutions)
    except (CheckpointError, ModelFileError) as exc:
        print(f"guidewire-export: error: {exc}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"guidewire-export: error: {exc}", file=sys.stderr)
        return 1
    info = report["info"]
    print(f"wrote {report['path']} ({report['file_size'] / 1e6:.1f} MB, sha256 {report['sha256']})")
    print(f"  {info.architecture}/{info.encoder} width {info.encoder_width}, input {info.input_size}x{info.input_size}, "
          f"mean {info.input_mean}, std {info.input_std}, threshold {info.threshold}, opset {info.opset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
