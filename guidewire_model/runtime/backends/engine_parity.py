"""Check a built engine against the FP32 ONNX model it came from, before it is cached or served.

A TensorRT engine is a different program from the ONNX graph: kernels are chosen per GPU, FP32
layers may run in TF32, and an FP16 engine runs an FP16 copy of the graph. So after each build the
engine and ONNX Runtime (CPU, the reference) segment the same deterministic frames, and the engine
is refused unless both figures stay within a stated bound:

* ``max_prob_diff``: the largest |p_engine - p_onnx| over all pixels of the probability maps;
* ``mask_disagreement``: pixels whose mask (p > the model's threshold) differs, divided by the
  wire pixels of the union of both masks, floored at 1 % of the image so that a near-empty mask
  (an untrained model) is not judged by a handful of pixels.

Bounds (:data:`TOLERANCES`): fp32 0.02 / 1 %, fp16 0.05 / 2 %. They leave room for TF32 (10-bit
mantissa, like FP16) and for FP16 accumulation while still refusing a broken build, whose maps are
far off. They have not yet been measured on a GPU for our models (docs/tensorrt.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from guidewire_model.runtime.model_info import ModelInfo
from guidewire_model.runtime.backends.base import BackendError

__all__ = ["EngineParityError", "ParityReport", "ParityTolerance", "TOLERANCES", "compare_maps", "parity_frames"]

#: Union of the masks is floored at this fraction of the pixels (see the module docstring).
MIN_UNION_FRACTION = 0.01


class EngineParityError(BackendError):
    """A built engine disagrees with the ONNX model beyond the tolerance; it was not cached."""


@dataclass(frozen=True)
class ParityTolerance:
    """Largest accepted ``max_prob_diff`` and ``mask_disagreement``."""

    max_prob_diff: float
    max_mask_disagreement: float


TOLERANCES = {"fp32": ParityTolerance(0.02, 0.01), "fp16": ParityTolerance(0.05, 0.02)}


@dataclass(frozen=True)
class ParityReport:
    """Figures of one parity check (stored in the engine cache's sidecar)."""

    frames: int
    frames_kind: str
    threshold: float
    max_prob_diff: float
    mean_prob_diff: float
    mask_disagreement: float
    differing_pixels: int
    union_pixels: int
    tolerance_prob: float
    tolerance_mask: float
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"parity vs ONNX Runtime (CPU) on {self.frames} {self.frames_kind} frames {verdict}: "
                f"max |dp| {self.max_prob_diff:.3g} (limit {self.tolerance_prob:g}), mask disagreement "
                f"{self.mask_disagreement:.2%} of wire pixels (limit {self.tolerance_mask:.0%}, "
                f"{self.differing_pixels} of {self.union_pixels} px, threshold {self.threshold:.3f})")


def parity_frames(info: ModelInfo, n_frames: int = 4, seed: int = 0) -> tuple[np.ndarray, str]:
    """Deterministic normalised frames (N, C_in, S, S) for a parity check, and their kind.

    Synthetic fluoroscopy frames (the ``medium`` preset, seeds ``seed..seed+N-1``) preprocessed as
    at run time, so wires, background and crossings exercise the network as real input does; for a
    motion-input model the last N frames of one run (seed ``seed``) with their motion channels. If
    the synthetic generator cannot be imported, seeded standard-normal noise (kind ``"random"``).
    """
    try:
        from guidewire_model.runtime.motion import MOTION_LAG, MotionHistory
        from guidewire_model.runtime.preprocess import prepare_batch
        from guidewire_model.synthetic import SyntheticConfig, generate_frame, generate_sequence
    except ImportError:
        rng = np.random.default_rng(seed)
        shape = (n_frames, info.input_channels, info.input_size, info.input_size)
        return rng.standard_normal(shape).astype(np.float32), "random"
    cfg = SyntheticConfig.preset("medium", size=info.input_size)
    if not info.motion_input:
        images = [generate_frame(cfg, seed + i).image for i in range(n_frames)]
        batch = prepare_batch(images, info.input_size, info.input_mean, info.input_std)
        return np.ascontiguousarray(batch, dtype=np.float32), "synthetic"
    history = MotionHistory()
    stacked = [history.stack(prepare_batch([frame.image], info.input_size, info.input_mean, info.input_std))
               for frame in generate_sequence(cfg, seed, n_frames + MOTION_LAG)]
    return np.ascontiguousarray(np.concatenate(stacked[-n_frames:]), dtype=np.float32), "synthetic"


def compare_maps(reference: np.ndarray, candidate: np.ndarray, threshold: float, tolerance: ParityTolerance,
                 frames_kind: str = "given") -> ParityReport:
    """Compare two probability maps (N, 1, S, S) and their masks at ``threshold``.

    Raises
    ------
    ValueError
        If the shapes differ.
    """
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if reference.shape != candidate.shape:
        raise ValueError(f"parity check: shapes differ, reference {reference.shape} vs engine {candidate.shape}")
    diff = np.abs(reference - candidate)
    # NaN anywhere must fail: nan_to_num(inf) makes it the largest difference.
    max_diff = float(np.nan_to_num(diff, nan=np.inf).max())
    mean_diff = float(np.nan_to_num(diff, nan=np.inf).mean())
    a, b = reference > threshold, candidate > threshold
    differing = int(np.count_nonzero(a ^ b))
    union = int(np.count_nonzero(a | b))
    denominator = max(union, MIN_UNION_FRACTION * a.size, 1.0)
    disagreement = differing / denominator
    passed = max_diff <= tolerance.max_prob_diff and disagreement <= tolerance.max_mask_disagreement
    return ParityReport(frames=int(reference.shape[0]), frames_kind=frames_kind, threshold=float(threshold),
                        max_prob_diff=max_diff, mean_prob_diff=mean_diff, mask_disagreement=float(disagreement),
                        differing_pixels=differing, union_pixels=union, tolerance_prob=tolerance.max_prob_diff,
                        tolerance_mask=tolerance.max_mask_disagreement, passed=bool(passed))
