"""``guidewire-synth``: write a synthetic dual-guidewire fluoroscopy data set (and a contact sheet)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guidewire_model.synthetic.config import PRESETS, SyntheticConfig

__all__ = ["build_parser", "main"]

_KNOBS = {
    "dose": (float, "photons per pixel without attenuation (low = noisy)"),
    "electronic_noise": (float, "detector noise std in photons"),
    "contrast": (float, "vessel opacification scale (0 = no contrast)"),
    "n_distractors": (int, "ECG leads / sternal wires / electrodes"),
    "crossing_probability": (float, "probability that the wires cross"),
    "side_by_side_probability": (float, "probability that the wires run side by side"),
    "cardiac_amplitude": (float, "cardiac motion, px at 512^2"),
    "respiratory_amplitude": (float, "respiratory motion, px at 512^2"),
    "blur": (float, "detector blur sigma, px at 512^2"),
    "fps": (float, "frame rate"),
    "intensity_jitter": (float, "per-sequence brightness/contrast variation"),
    "wire_advance": (float, "wire advancement speed, px/s at 512^2"),
    # Variations (see SyntheticConfig; the preset 'varied' turns them all on).
    "phantom_probability": (float, "probability of a silicone-phantom scene instead of a thorax"),
    "rotation_probability": (float, "probability of a 0-360 degree scene orientation"),
    "collimator_probability": (float, "probability of straight collimator blades"),
    "iris_probability": (float, "probability of a round iris shutter"),
    "letterbox_probability": (float, "probability of black letterbox/pillarbox bars"),
    "overlay_probability": (float, "probability of burned-in text and markers"),
    "vignetting_probability": (float, "probability of vignetting and non-uniform gain"),
    "display_curve_probability": (float, "probability of another display curve"),
    "enhancement_probability": (float, "probability of edge enhancement or blur"),
    "low_resolution_probability": (float, "probability of an up-scaled low-resolution look"),
    "jpeg_probability": (float, "probability of JPEG artefacts"),
    "thin_catheter_probability": (float, "probability of a guiding catheter 1.5-2.5 wire widths wide"),
    "microcatheter_probability": (float, "per wire: probability of a microcatheter over it"),
    "balloon_probability": (float, "per wire: probability of balloon markers on it"),
    "faint_wire_probability": (float, "probability of faint wires beside a darker catheter"),
    "magnification_probability": (float, "probability of a magnified view (a window enlarged before the detector)"),
    "no_contrast_probability": (float, "probability of a sequence with no contrast agent (vessels unopacified)"),
    "n_lookalikes": (int, "most look-alike devices per sequence (pacing/EP leads, stents, clips)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="guidewire-synth",
        description="Generate synthetic coronary fluoroscopy sequences with two guidewires and their masks, "
                    "in the data set layout that guidewire-train reads.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (sequence folders P000, P001, ...)")
    p.add_argument("--sequences", type=int, default=4, help="number of sequences (synthetic patients)")
    p.add_argument("--frames", type=int, default=16, help="frames per sequence")
    p.add_argument("--size", type=int, default=512, help="frame side in pixels")
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8)
    p.add_argument("--preset", choices=sorted(PRESETS), default="medium")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--display", choices=("log", "linear", "gamma"), help="display mapping")
    p.add_argument("--wire-width", type=float, nargs=2, metavar=("MIN", "MAX"), help="wire width range, px at 512^2")
    p.add_argument("--no-contrast-dynamics", action="store_true", help="constant opacification (no wash-in/out)")
    p.add_argument("--aspect-ratio", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help="range of frame width/height (default 1 1: square); the longer side is --size")
    p.add_argument("--magnification", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help="range of the magnification factor of magnified sequences (default 1.3 2.5)")
    for name, (kind, text) in _KNOBS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, help=text + " (default: from the preset)")
    p.add_argument("--contact-sheet", type=Path, help="also write a PNG grid of the first frame of each sequence")
    p.add_argument("--compare-with", nargs="+", choices=sorted(PRESETS), default=[], metavar="PRESET",
                   help="contact sheet: also show the same sequences rendered with these presets, one block each")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from guidewire_model.synthetic.generator import generate_sequence, sequence_seed, write_dataset

    overrides = {name: getattr(args, name) for name in _KNOBS if getattr(args, name) is not None}
    overrides.update(size=args.size, bit_depth=args.bit_depth)
    if args.display:
        overrides["display"] = args.display
    if args.wire_width:
        overrides["wire_width"] = tuple(args.wire_width)
    if args.aspect_ratio:
        overrides["aspect_ratio"] = tuple(args.aspect_ratio)
    if args.magnification:
        overrides["magnification"] = tuple(args.magnification)
    if args.no_contrast_dynamics:
        overrides["contrast_dynamics"] = False
    try:
        cfg = SyntheticConfig.preset(args.preset, **overrides)
        if args.sequences < 1 or args.frames < 1:
            raise ValueError("--sequences and --frames must be >= 1")
    except ValueError as exc:
        print(f"guidewire-synth: error: {exc}", file=sys.stderr)
        return 2
    paths = write_dataset(args.out, args.sequences, args.frames, cfg, args.seed, progress=not args.quiet)
    shape = f"{cfg.size}x{cfg.size}" if cfg.aspect_ratio == (1.0, 1.0) else f"longer side {cfg.size}"
    print(f"wrote {len(paths)} sequences x {args.frames} frames ({shape}, {cfg.bit_depth}-bit, "
          f"preset {args.preset}) to {args.out}")
    if args.contact_sheet:
        from guidewire_model.synthetic.contact_sheet import make_comparison_sheet, make_contact_sheet

        seeds = [sequence_seed(args.seed, i) for i in range(min(len(paths), 16))]
        frames = [generate_sequence(cfg, s, 1)[0] for s in seeds]
        if args.compare_with:
            # The same sequences (seeds) under other presets, each a labelled block: the chosen
            # preset's knobs (size, bit depth) apply to all.
            blocks = [(args.preset, frames)]
            for name in args.compare_with:
                other = SyntheticConfig.preset(name, size=cfg.size, bit_depth=cfg.bit_depth)
                blocks.append((name, [generate_sequence(other, s, 1)[0] for s in seeds]))
            sheet = make_comparison_sheet(blocks, args.contact_sheet, columns=4, tile_size=min(cfg.size, 256))
        else:
            sheet = make_contact_sheet(frames, args.contact_sheet, columns=4, tile_size=min(cfg.size, 256))
        print(f"wrote contact sheet {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
