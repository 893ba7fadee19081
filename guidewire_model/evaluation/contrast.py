"""How much the annotated wires and devices stand out of their frames: a contrast-to-noise ratio.

Comparing these figures between the generator's frames and a site's own (or any real) frames
says whether the synthetic wires are as faint, and the catheters as dark, as the real ones: the
image statistic that decided the generator's ``faint_wire_probability`` (docs/accuracy.md). It
needs no model.

    python -m guidewire_model.evaluation.contrast --data data/test_varied
    python -m guidewire_model.evaluation.contrast --folder my_frames/ --long-side 512 --cross-sections

Definition, per frame and structure (the guidewire mask, the ``exclude/`` devices): the 90th
percentile of how far the structure's pixels lie below their local background (a 9 x 9 median),
over the frame's fine noise (the standard deviation, off the structure, of the frame minus its
1 px Gaussian blur). Hand-drawn masks are wider than the wire, so a high percentile, not the
mean, measures the wire's own darkness.

With ``--cross-sections``, also the shape of the dip across each structure (:func:`cross_sections`):
how deep it is relative to its background and how wide at half depth. A catheter may be told from a
wire by either; the two figures say which the data offers (docs/accuracy.md, "The real wire and
catheter beside the generator's").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

__all__ = ["FrameContrast", "contrast_to_noise", "cross_sections", "fine_noise", "frame_contrast", "main",
           "summarise"]

#: Side of the median window that estimates the background under a wire [px].
BACKGROUND_WINDOW = 9
#: Percentile of the darkness of a structure's pixels that is reported.
DARKNESS_PERCENTILE = 90.0
#: Cross-sections (:func:`cross_sections`): the profile's half length, where its minimum is looked
#: for around the skeleton, and from where on it is background [px].
SECTION_REACH_PX = 10.0
SECTION_CORE_PX = 2.5
SECTION_BACKGROUND_PX = 7.0


def fine_noise(image: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Standard deviation of ``image`` minus its 1 px Gaussian blur, outside ``ignore``.

    Parameters
    ----------
    image : ndarray (H, W)
        Grey image, any numeric type.
    ignore : ndarray (H, W), optional
        Non-zero where pixels are left out (the structures themselves).

    Returns
    -------
    float
        The noise in the image's own grey levels; nan if no pixel is left.
    """
    img = np.asarray(image, np.float32)
    residual = img - cv2.GaussianBlur(img, (0, 0), 1.0)
    keep = np.ones(img.shape, bool) if ignore is None else ~np.asarray(ignore, bool)
    return float(residual[keep].std()) if keep.any() else math.nan


def contrast_to_noise(image: np.ndarray, mask: np.ndarray, noise: float | None = None) -> float:
    """Contrast-to-noise ratio of the dark structure marked by ``mask`` (module docstring).

    Parameters
    ----------
    image : ndarray (H, W)
        Grey image; structures are darker than their background (as X-ray shows metal).
    mask : ndarray (H, W)
        Non-zero on the structure.
    noise : float, optional
        The frame's fine noise; default :func:`fine_noise` outside ``mask``.

    Returns
    -------
    float
        nan if ``mask`` is empty or the frame has no noise to compare with.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or ``mask`` has another shape.
    """
    image = np.asarray(image)
    mask = np.asarray(mask, bool)
    if image.ndim != 2 or mask.shape != image.shape:
        raise ValueError(f"contrast_to_noise needs a 2-D image and a mask of its shape, got {image.shape} and {mask.shape}")
    if not mask.any():
        return math.nan
    noise = fine_noise(image, mask) if noise is None else noise
    if not noise > 0:
        return math.nan
    img = image.astype(np.float32)
    # medianBlur takes 8-bit images at any window, float32 only up to 5: 16-bit frames are scaled.
    if image.dtype == np.uint8:
        background = cv2.medianBlur(image, BACKGROUND_WINDOW).astype(np.float32)
    else:
        lo, hi = float(img.min()), float(img.max())
        span = (hi - lo) or 1.0
        scaled = np.round((img - lo) * (255.0 / span)).astype(np.uint8)
        background = cv2.medianBlur(scaled, BACKGROUND_WINDOW).astype(np.float32) * (span / 255.0) + lo
    darkness = (background - img)[mask]
    return float(np.percentile(darkness, DARKNESS_PERCENTILE)) / noise


def cross_sections(image: np.ndarray, mask: np.ndarray, step: int = 3) -> np.ndarray:
    """Depth and width of the dark structure marked by ``mask``, across it, along its skeleton.

    At every ``step``-th pixel of the mask's skeleton, the image is sampled (bilinear, every 0.5 px)
    along the normal to the skeleton's local direction (the main axis of the skeleton pixels within
    5 px), ``SECTION_REACH_PX`` either way. The background is the median of the samples from
    ``SECTION_BACKGROUND_PX`` on, the minimum is taken within ``SECTION_CORE_PX`` of the skeleton (a
    hand-drawn line is not centred on the wire), and the width is the distance between the points
    either side of it where the profile crosses half depth (interpolated between samples).

    Parameters
    ----------
    image : ndarray (H, W)
        Grey image, any numeric type; structures darker than their background.
    mask : ndarray (H, W)
        Non-zero on the structure.
    step : int
        Every how many skeleton pixels a section is taken.

    Returns
    -------
    ndarray, shape (N, 2)
        Per section: depth relative to the background ((background - minimum) / background) and
        full width at half depth [px]. Sections without a dip, or on a background of 0, are left out.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D, ``mask`` has another shape or ``step`` < 1.
    """
    from scipy.ndimage import map_coordinates
    from scipy.spatial import cKDTree
    from skimage.morphology import skeletonize

    image = np.asarray(image)
    mask = np.asarray(mask, bool)
    if image.ndim != 2 or mask.shape != image.shape:
        raise ValueError(f"cross_sections needs a 2-D image and a mask of its shape, got {image.shape} and {mask.shape}")
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    ys, xs = np.nonzero(skeletonize(mask))
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    if len(points) < 5:
        return np.zeros((0, 2))
    img = image.astype(np.float32)
    tree = cKDTree(points)
    offsets = np.arange(-SECTION_REACH_PX, SECTION_REACH_PX + 1e-9, 0.5)
    core = np.abs(offsets) <= SECTION_CORE_PX
    outer = np.abs(offsets) >= SECTION_BACKGROUND_PX
    out = []
    for p in points[::step]:
        near = points[tree.query_ball_point(p, 5.0)]
        if len(near) < 5:
            continue
        direction = np.linalg.svd(near - near.mean(axis=0), full_matrices=False)[2][0]
        normal = np.array([-direction[1], direction[0]])
        line = p[None] + offsets[:, None] * normal[None]
        profile = map_coordinates(img, [line[:, 1], line[:, 0]], order=1, mode="nearest")
        background = float(np.median(profile[outer]))
        k = int(np.argmin(np.where(core, profile, np.inf)))
        depth = background - float(profile[k])
        if background <= 0 or depth <= 0:
            continue
        half = background - 0.5 * depth
        lo, hi = k, k
        while lo > 0 and profile[lo - 1] < half:
            lo -= 1
        while hi < len(offsets) - 1 and profile[hi + 1] < half:
            hi += 1
        # Where the profile crosses half depth, between samples (linearly).
        left = offsets[lo] if lo == 0 else offsets[lo - 1] + 0.5 * (profile[lo - 1] - half) / (profile[lo - 1] - profile[lo])
        right = offsets[hi] if hi == len(offsets) - 1 else offsets[hi] + 0.5 * (half - profile[hi]) / (profile[hi + 1] - profile[hi])
        out.append((depth / background, float(right - left)))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class FrameContrast:
    """Contrast-to-noise ratios of one frame (nan where the structure is not annotated)."""

    name: str
    wire: float
    devices: float
    noise: float

    @property
    def device_to_wire(self) -> float:
        """How many times more the devices stand out than the wire (nan if either is missing)."""
        return self.devices / self.wire if self.wire > 0 else math.nan


def frame_contrast(name: str, image: np.ndarray, mask: np.ndarray, exclude: np.ndarray | None) -> FrameContrast:
    """The ratios of the guidewire ``mask`` and the ``exclude`` devices of one frame."""
    structures = mask > 0 if exclude is None else (mask > 0) | (exclude > 0)
    noise = fine_noise(image, structures)
    devices = math.nan if exclude is None else contrast_to_noise(image, exclude, noise)
    return FrameContrast(name, contrast_to_noise(image, mask, noise), devices, noise)


def summarise(frames: Sequence[FrameContrast]) -> dict[str, float]:
    """Median and 10th / 90th percentiles of each ratio over ``frames`` (nan frames left out)."""
    out: dict[str, float] = {"frames": float(len(frames))}
    for key in ("wire", "devices", "device_to_wire"):
        values = np.array([getattr(f, key) for f in frames], float)
        values = values[np.isfinite(values)]
        for label, q in (("p10", 10), ("median", 50), ("p90", 90)):
            out[f"{key}_{label}"] = float(np.percentile(values, q)) if values.size else math.nan
    return out


def _resized(image: np.ndarray, mask: np.ndarray, exclude: np.ndarray | None, long_side: int):
    scale = long_side / max(image.shape)
    size = (max(round(image.shape[1] * scale), 1), max(round(image.shape[0] * scale), 1))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR

    def label(m: np.ndarray | None) -> np.ndarray | None:
        return None if m is None else cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)

    return cv2.resize(image, size, interpolation=interpolation), label(mask), label(exclude)


def _q(values: np.ndarray, digits: int) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.{digits}f} [{q1:.{digits}f}, {q3:.{digits}f}]"


def _section_summary(key: str, rows: np.ndarray) -> dict[str, float]:
    """Count and medians of :func:`cross_sections` rows, keyed for the JSON summary."""
    if not len(rows):
        return {f"{key}_sections": 0.0, f"{key}_depth_median": math.nan, f"{key}_width_median": math.nan}
    return {f"{key}_sections": float(len(rows)), f"{key}_depth_median": float(np.median(rows[:, 0])),
            f"{key}_width_median": float(np.median(rows[:, 1]))}


def _fmt(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    from guidewire_model.data.frame_folder import FolderPrefixes
    from guidewire_model.data.image_files import DatasetError
    from guidewire_model.data.sequences import scan_dataset
    from guidewire_model.evaluation.evaluate import dataset_frames, folder_frames

    p = argparse.ArgumentParser(prog="guidewire-contrast", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="data set folder (guidewire-synth / importer layout, exclude/ = devices)")
    src.add_argument("--folder", help="plain folder of frames and masks (as guidewire-eval --folder)")
    p.add_argument("--frame-prefix", default=FolderPrefixes.frame)
    p.add_argument("--mask-prefix", default=FolderPrefixes.mask)
    p.add_argument("--exclude-prefix", default=FolderPrefixes.exclude)
    p.add_argument("--long-side", type=int, default=0,
                   help="resize each frame to this longer side first, as the network sees it (0 = as stored)")
    p.add_argument("--cross-sections", action="store_true",
                   help="also report the depth and width of the dip across the wires and the devices")
    p.add_argument("--json", help="also write the per-frame figures and the summary here")
    args = p.parse_args(argv)
    if args.long_side < 0:
        p.error("--long-side must be >= 0")
    try:
        if args.data:
            frames = dataset_frames(scan_dataset(args.data))
        else:
            frames = folder_frames(args.folder, FolderPrefixes(args.frame_prefix, args.mask_prefix, args.exclude_prefix))
        results = []
        sections: dict[str, list[np.ndarray]] = {"wire": [], "devices": []}
        for f in frames:
            image, mask, exclude = f.load()
            if args.long_side:
                image, mask, exclude = _resized(image, mask, exclude, args.long_side)
            results.append(frame_contrast(f.name, image, mask, exclude))
            if args.cross_sections:
                sections["wire"].append(cross_sections(image, mask > 0))
                if exclude is not None:
                    # Devices apart from the wire: a wire seen through a device is the wire's.
                    near_wire = cv2.dilate((mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
                    sections["devices"].append(cross_sections(image, (exclude > 0) & ~near_wire))
    except (DatasetError, OSError) as exc:
        print(f"guidewire-contrast: {exc}", file=sys.stderr)
        return 2
    print("| frame | wire | devices | devices / wire | noise |\n|---|---|---|---|---|")
    for r in results:
        print(f"| {r.name} | {_fmt(r.wire)} | {_fmt(r.devices)} | {_fmt(r.device_to_wire)} | {r.noise:.2f} |")
    summary = summarise(results)
    print(f"\n{len(results)} frames; median (10th-90th percentile): wire {_fmt(summary['wire_median'])} "
          f"({_fmt(summary['wire_p10'])}-{_fmt(summary['wire_p90'])}), devices {_fmt(summary['devices_median'])} "
          f"({_fmt(summary['devices_p10'])}-{_fmt(summary['devices_p90'])}), devices / wire "
          f"{_fmt(summary['device_to_wire_median'])}")
    if args.cross_sections:
        print("\ncross-sections, median [quartiles]:")
        for key, parts in sections.items():
            rows = np.concatenate(parts) if parts else np.zeros((0, 2))
            summary.update(_section_summary(key, rows))
            if len(rows):
                print(f"  {key}: {len(rows)} sections, depth {_q(rows[:, 0], 2)}, width at half depth "
                      f"{_q(rows[:, 1], 1)} px")
            else:
                print(f"  {key}: no sections")
    if args.json:
        payload = {"frames": [asdict(r) for r in results], "summary": summary}
        Path(args.json).write_text(json.dumps(payload, indent=2, allow_nan=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
