"""Difficulty knobs of the synthetic fluoroscopy generator.

All lengths (widths, motion amplitudes, blur) are given in pixels *at 512 x 512* and are scaled
by ``size / 512`` when a scene is built, so a config describes the same scene at any size.

The fields after ``wire_advance`` switch on the *variations* that bring synthetic frames closer to
what real systems show (phantoms, shutters, burned-in text, console processing, look-alike
devices; see :mod:`guidewire_model.synthetic.variations`). They default to off, and each draws
from its own random stream, so the presets ``easy``, ``medium`` and ``hard`` render exactly what
they rendered before the variations existed; the ``varied`` preset turns them all on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "VARIATION_FIELDS", "SyntheticConfig"]

_DISPLAYS = ("log", "linear", "gamma")

#: Fields that switch on variations; at their defaults the base generator's frames are unchanged.
VARIATION_FIELDS = (
    "phantom_probability", "rotation_probability", "collimator_probability", "iris_probability",
    "letterbox_probability", "overlay_probability", "vignetting_probability", "display_curve_probability",
    "enhancement_probability", "low_resolution_probability", "jpeg_probability", "thin_catheter_probability",
    "microcatheter_probability", "balloon_probability", "faint_wire_probability", "n_lookalikes", "aspect_ratio",
    "magnification_probability", "no_contrast_probability",
)


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

    # --- Variations (all off by default; each is decided once per sequence). ---
    #: Probability that a sequence shows a silicone vascular phantom in water (bright near-uniform
    #: background, smooth sharp-edged tubes, round blobs, no ribs or spine, no cardiac motion, no
    #: contrast) instead of a thorax.
    phantom_probability: float = 0.0
    #: Probability that the whole scene is turned by a uniform 0-360 degree angle (otherwise only the
    #: base generator's flip and +-20 degree tilt).
    rotation_probability: float = 0.0
    #: Probability of straight collimator blades (1-4, any angle; opaque black or semi-transparent,
    #: sharp or soft edges).
    collimator_probability: float = 0.0
    #: Probability of a round iris shutter (black outside a circle).
    iris_probability: float = 0.0
    #: Probability of black letterbox or pillarbox borders.
    letterbox_probability: float = 0.0
    #: Probability of burned-in text, rulers, L/R markers and crosshairs (drawn over everything).
    overlay_probability: float = 0.0
    #: Probability of strong vignetting and non-uniform detector gain (heel effect, blotches).
    vignetting_probability: float = 0.0
    #: Probability of another display curve: gamma either way, clipped window, low contrast or
    #: saturated highlights.
    display_curve_probability: float = 0.0
    #: Probability of console edge enhancement (unsharp-mask halos) or mild blur.
    enhancement_probability: float = 0.0
    #: Probability that a sequence looks like a lower-resolution source scaled up (factor 0.35-0.8).
    low_resolution_probability: float = 0.0
    #: Probability of JPEG compression artefacts.
    jpeg_probability: float = 0.0
    #: JPEG quality range; each compressed sequence draws one.
    jpeg_quality: tuple[float, float] = (25.0, 90.0)
    #: Probability that the guiding catheter is thin: outer diameter 1.5-2.5 wire widths.
    thin_catheter_probability: float = 0.0
    #: Per wire, probability that a microcatheter covers its proximal part; the wire is visible (and
    #: guidewire) only beyond the microcatheter tip.
    microcatheter_probability: float = 0.0
    #: Per wire (without a microcatheter), probability of a balloon catheter riding on it: a faint
    #: shaft and two marker bands around the wire, which stays guidewire through them.
    balloon_probability: float = 0.0
    #: Probability that a sequence's guidewires are faint (attenuation x 0.2-0.6) and its catheter
    #: darker (x 1.2-2.5): on real runs, phantoms above all, the catheter stands out 1.3-3 times more
    #: than the thin wire leaving it (docs/accuracy.md), while the base generator draws them alike.
    faint_wire_probability: float = 0.0
    #: Largest number of extra look-alike devices (pacing leads, EP catheters with electrode rings,
    #: stents, surgical clips, diagnostic catheters); each sequence draws 0..n of them.
    n_lookalikes: int = 0
    #: Range of the output's width / height; each sequence draws one. (1, 1) keeps square frames;
    #: otherwise the frame is a random window of the square render, its longer side ``size``.
    aspect_ratio: tuple[float, float] = (1.0, 1.0)
    #: Probability of a magnification mode: the frame shows a window of the scene enlarged before
    #: the detector (wires, vessels and catheter wider and longer; noise, shutters and text at the
    #: detector's scale), as at a smaller field of view or a close-up of a bench phantom.
    magnification_probability: float = 0.0
    #: Probability that a sequence has no contrast agent at all: its vessels stay unopacified, as in
    #: most of a PCI's fluoroscopy, where contrast is injected only now and then. Otherwise the bolus
    #: of ``contrast_dynamics`` (or the constant opacification) applies.
    no_contrast_probability: float = 0.0
    #: Range of the magnification factor; each magnified sequence draws one (log-uniform).
    magnification: tuple[float, float] = (1.3, 2.5)

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
        # Every variation's probability, from the one list of variations (a new one is checked too).
        for name in VARIATION_FIELDS:
            if name.endswith("_probability"):
                check(name, 0.0, 1.0)
        check_pair("jpeg_quality", 5.0, 100.0)
        check("n_lookalikes", 0, 20, integer=True)
        check_pair("aspect_ratio", 0.25, 4.0)
        check_pair("magnification", 1.0, 4.0)

    @property
    def variations_enabled(self) -> bool:
        """True if any variation can occur (else frames are exactly the base generator's)."""
        return any(getattr(self, f.name) != f.default for f in dataclasses.fields(self)
                   if f.name in VARIATION_FIELDS)

    @property
    def scale(self) -> float:
        """Factor from px at 512^2 to px of this frame size."""
        return self.size / 512.0

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "SyntheticConfig":
        """A named difficulty level with optional field overrides.

        Parameters
        ----------
        name : {"easy", "medium", "hard", "varied"}
            easy: high dose, few distractors, wide wires, rare crossings; hard: low dose, many
            distractors, thin wires, frequent crossings, strong motion; varied: medium's physics
            with every variation switched on at its own probability (phantoms, shutters, text,
            display curves, compression, look-alike devices, any orientation, 1-4 px wires).
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
    # Medium's physics with every variation on, for transfer to real systems and phantoms. Frames
    # stay square (the on-the-fly trainer crops square frames); aspect_ratio is the knob for others.
    "varied": dict(
        wire_width=(1.0, 4.0), n_distractors=3, intensity_jitter=0.15,
        phantom_probability=0.35, rotation_probability=0.75, collimator_probability=0.4, iris_probability=0.3,
        letterbox_probability=0.15, overlay_probability=0.6, vignetting_probability=0.5,
        display_curve_probability=0.5, enhancement_probability=0.5, low_resolution_probability=0.3,
        jpeg_probability=0.4, thin_catheter_probability=0.5, microcatheter_probability=0.3,
        balloon_probability=0.2, faint_wire_probability=0.5, n_lookalikes=4,
    ),
}
