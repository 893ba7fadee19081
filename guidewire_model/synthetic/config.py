"""Difficulty knobs of the synthetic fluoroscopy generator.

All lengths (widths, motion amplitudes, blur) are given in pixels *at 512 x 512* and are scaled
by ``size / 512`` when a scene is built, so a config describes the same scene at any size.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "SyntheticConfig"]

_DISPLAYS = ("log", "linear", "gamma")


@dataclass(frozen=True)
class SyntheticConfig:
    """Validated settings of :func:`guidewire_model.synthetic.generate_sequence`.

    Raises
    ------
    ValueError
        On construction, naming the field and its allowed range, if a value is out of range.
    """

    #: Side of the square frame in pixels.
    size: int = 512
    #: 8 or 16 bit output (16 bit uses the full 0..65535 range).
    bit_depth: int = 8
    #: Frame rate of a sequence; fluoroscopy runs at 7.5-30 fps, 15 is typical.
    fps: float = 15.0
    #: Photons per pixel reaching the detector without a patient; low dose = strong Poisson noise.
    dose: float = 1500.0
    #: Standard deviation of the additive detector (electronic) noise, in photons.
    electronic_noise: float = 4.0
    #: Scale of the vessel opacification by contrast agent (0 = no contrast injected).
    contrast: float = 1.0
    #: Let contrast wash in and out over a sequence (else constant opacification).
    contrast_dynamics: bool = True
    #: Number of guidewire-like distractors (ECG leads, sternal wires, electrodes).
    n_distractors: int = 4
    #: Range of guidewire widths (px at 512^2); each wire draws its width from it.
    wire_width: tuple[float, float] = (1.8, 3.2)
    #: Probability that a sequence's wires cross each other at the bifurcation.
    crossing_probability: float = 0.3
    #: Probability that the wires run side by side (closer than two widths) in the main vessel.
    side_by_side_probability: float = 0.3
    #: Peak cardiac displacement near the heart centre (px at 512^2).
    cardiac_amplitude: float = 10.0
    #: Range of heart rates in Hz; each sequence draws one.
    cardiac_rate: tuple[float, float] = (0.8, 1.3)
    #: Amplitude of the respiratory (mostly cranio-caudal) shift (px at 512^2).
    respiratory_amplitude: float = 8.0
    #: Breathing rate in Hz.
    respiratory_rate: float = 0.25
    #: Detector blur, Gaussian sigma (px at 512^2).
    blur: float = 0.7
    #: Display mapping of detected counts: ``log`` (as most angiography systems), ``linear``
    #: or ``gamma`` (a random gamma per sequence).
    display: str = "log"
    #: Per-sequence brightness/contrast variation of the display window (0 = none).
    intensity_jitter: float = 0.1
    #: Speed at which the robot advances the wires (px/s at 512^2).
    wire_advance: float = 4.0

    def __post_init__(self) -> None:
        def check(name: str, lo: float, hi: float, integer: bool = False) -> None:
            value = getattr(self, name)
            kind = int if integer else (int, float)
            if isinstance(value, bool) or not isinstance(value, kind) or not (lo <= value <= hi):
                what = "an integer" if integer else "a number"
                raise ValueError(f"SyntheticConfig.{name} must be {what} in [{lo}, {hi}], got {value!r}")

        def check_pair(name: str, lo: float, hi: float) -> None:
            value = getattr(self, name)
            ok = (
                isinstance(value, (tuple, list))
                and len(value) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                and lo <= value[0] <= value[1] <= hi
            )
            if not ok:
                raise ValueError(
                    f"SyntheticConfig.{name} must be a pair (low, high) with {lo} <= low <= high <= {hi}, "
                    f"got {value!r}"
                )
            # A list from JSON/YAML becomes a tuple so the frozen config stays hashable.
            object.__setattr__(self, name, (float(value[0]), float(value[1])))

        check("size", 32, 4096, integer=True)
        if self.bit_depth not in (8, 16) or isinstance(self.bit_depth, bool):
            raise ValueError(f"SyntheticConfig.bit_depth must be 8 or 16, got {self.bit_depth!r}")
        check("fps", 1.0, 120.0)
        check("dose", 5.0, 1e6)
        check("electronic_noise", 0.0, 1e4)
        check("contrast", 0.0, 3.0)
        if not isinstance(self.contrast_dynamics, bool):
            raise ValueError(f"SyntheticConfig.contrast_dynamics must be true or false, got {self.contrast_dynamics!r}")
        check("n_distractors", 0, 40, integer=True)
        check_pair("wire_width", 0.5, 12.0)
        check("crossing_probability", 0.0, 1.0)
        check("side_by_side_probability", 0.0, 1.0)
        check("cardiac_amplitude", 0.0, 60.0)
        check_pair("cardiac_rate", 0.2, 4.0)
        check("respiratory_amplitude", 0.0, 80.0)
        check("respiratory_rate", 0.05, 2.0)
        check("blur", 0.0, 5.0)
        if self.display not in _DISPLAYS:
            raise ValueError(f"SyntheticConfig.display must be one of {', '.join(_DISPLAYS)}, got {self.display!r}")
        check("intensity_jitter", 0.0, 0.5)
        check("wire_advance", 0.0, 100.0)

    @property
    def scale(self) -> float:
        """Factor from px at 512^2 to px of this frame size."""
        return self.size / 512.0

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "SyntheticConfig":
        """A named difficulty level with optional field overrides.

        Parameters
        ----------
        name : {"easy", "medium", "hard"}
            easy: high dose, few distractors, wide wires, rare crossings; hard: low dose, many
            distractors, thin wires, frequent crossings, strong motion.
        **overrides
            Any field of this class.

        Raises
        ------
        ValueError
            If ``name`` is unknown, an override names no field, or a value is out of range.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown SyntheticConfig field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}")
        return cls(**{**PRESETS[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping of all fields (pairs as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


PRESETS: dict[str, dict[str, Any]] = {
    "easy": dict(
        dose=8000.0, electronic_noise=2.0, contrast=0.6, n_distractors=1, wire_width=(2.6, 4.0),
        crossing_probability=0.1, side_by_side_probability=0.1, cardiac_amplitude=6.0,
        respiratory_amplitude=5.0, blur=0.5, intensity_jitter=0.05,
    ),
    "medium": {},
    "hard": dict(
        dose=350.0, electronic_noise=8.0, contrast=1.3, n_distractors=10, wire_width=(1.5, 2.2),
        crossing_probability=0.7, side_by_side_probability=0.4, cardiac_amplitude=14.0,
        respiratory_amplitude=12.0, blur=1.0, intensity_jitter=0.2,
    ),
}
