"""A plain folder of frames and masks, any size, no sequence layout: what real data arrives as.

Two arrangements are read::

    <folder>/frame_000.png  guidewire_000.png  [catheter_000.png]  ...     by prefix
    <folder>/frames/a.png   masks/a.png        [exclude/a.png]             by subfolder, equal names

By prefix, a frame and its mask are paired by the part of the name after the prefix, without the
extension (``frame_000.png`` and ``guidewire_000.png`` share ``000``; extensions may differ). The
optional *exclude* annotation marks a look-alike that is **not** guidewire (a catheter): the
evaluation reports how much of the prediction lies on it. The prefixes are arguments
(``guidewire-eval --frame-prefix/--mask-prefix/--exclude-prefix``). When ``frames/`` and
``masks/`` exist, they win and the prefixes are not used.

Frames may be 8- or 16-bit grayscale (colour files are converted to gray); every frame may have its
own size, and its masks must have that size. A mask pixel is wire where its value is at least half
the mask's maximum, so 0/1, 0/255 and 0/65535 masks and anti-aliased edges all read as meant (an
all-zero mask is a frame without wire). Files are sorted by their key, numbers in it compared as
numbers (``frame_2`` before ``frame_10``).

Every problem raises :class:`FolderError` naming the file and the fix, and all file headers are
checked before any frame is evaluated, so a missing mask or a size mismatch fails in a second.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from guidewire_model.data.image_files import DatasetError, read_image

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderError",
    "FolderFrame",
    "FolderPrefixes",
    "is_frame_folder",
    "load_folder_frame",
    "natural_key",
    "read_gray",
    "scan_folder",
]

#: File types read as frames and masks.
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".pgm", ".jpg", ".jpeg")

FRAMES_DIR, MASKS_DIR, EXCLUDE_DIR = "frames", "masks", "exclude"


class FolderError(DatasetError):
    """A frame folder cannot be evaluated as it is; the message names the file and the fix."""


@dataclass(frozen=True)
class FolderPrefixes:
    """File-name prefixes of frames, guidewire masks and the optional exclude annotation.

    Attributes
    ----------
    frame, mask : str
        Prefixes of the frames and of their guidewire masks; must differ.
    exclude : str or None
        Prefix of an annotation of what is *not* guidewire (e.g. a catheter); ``None`` or ``""``
        to ignore such files.
    """

    frame: str = "frame_"
    mask: str = "guidewire_"
    exclude: str | None = "catheter_"

    def __post_init__(self) -> None:
        if not self.frame or not self.mask:
            raise FolderError("the frame and mask prefixes must not be empty (e.g. --frame-prefix frame_)")
        names = [p for p in (self.frame, self.mask, self.exclude) if p]
        if any(a != b and (a.startswith(b) or b.startswith(a)) for a in names for b in names) \
                or len(set(names)) != len(names):
            raise FolderError(f"the prefixes {names} must differ and none may begin with another, or files "
                              "would be claimed twice; choose other --frame-prefix / --mask-prefix / "
                              "--exclude-prefix")


@dataclass(frozen=True)
class FolderFrame:
    """One frame of a folder and its annotations (paths; nothing is read until loaded).

    Attributes
    ----------
    key : str
        What pairs the files (the name after the prefix, or the file stem in ``frames/``).
    frame, mask : Path
    exclude : Path or None
        Annotation of what is not guidewire, where one exists for this frame.
    shape : (int, int)
        ``(H, W)`` of the frame, which every annotation has.
    """

    key: str
    frame: Path
    mask: Path
    exclude: Path | None
    shape: tuple[int, int]


def natural_key(text: str) -> list:
    """Sort key comparing the digit runs of ``text`` as numbers (``frame_2`` before ``frame_10``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _by_key(files: list[Path], prefix: str, what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in files:
        if not path.name.startswith(prefix):
            continue
        key = path.stem[len(prefix):]
        if key in out:
            raise FolderError(f"{path}: {what} {key!r} exists twice ({out[key].name} and {path.name}); keep one")
        out[key] = path
    return out


def _header_shape(path: Path) -> tuple[int, int]:
    """``(H, W)`` from the file header alone (Pillow, which matplotlib already needs)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as exc:  # includes PIL.UnidentifiedImageError
        raise FolderError(f"{path}: unreadable image ({exc}); re-export it as an 8- or 16-bit PNG") from exc
    return int(height), int(width)


def is_frame_folder(folder: str | os.PathLike, prefixes: FolderPrefixes = FolderPrefixes()) -> bool:
    """Whether ``folder`` is a frame folder (``frames/`` + ``masks/``, or files with the frame
    prefix) rather than a data set of sequence folders."""
    folder = Path(folder)
    if (folder / FRAMES_DIR).is_dir() and (folder / MASKS_DIR).is_dir():
        return True
    return folder.is_dir() and any(p.name.startswith(prefixes.frame) for p in _images(folder))


def scan_folder(folder: str | os.PathLike, prefixes: FolderPrefixes = FolderPrefixes()) -> list[FolderFrame]:
    """Find and check the frames of a folder and pair them with their masks.

    Parameters
    ----------
    folder : path-like
        A folder in one of the two arrangements of the module docstring.
    prefixes : FolderPrefixes
        File-name prefixes (ignored when ``frames/`` and ``masks/`` exist).

    Returns
    -------
    list of FolderFrame
        Sorted by key (numbers compared as numbers).

    Raises
    ------
    FolderError
        If the folder holds no frames, a frame has no mask (or a mask no frame), a file is
        unreadable, or an annotation's size differs from its frame's; the message names the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderError(f"{folder}: not a folder; pass the folder that holds the frames and masks")
    if (folder / FRAMES_DIR).is_dir() and (folder / MASKS_DIR).is_dir():
        frames = {p.stem: p for p in _images(folder / FRAMES_DIR)}
        masks = {p.stem: p for p in _images(folder / MASKS_DIR)}
        excludes = {p.stem: p for p in _images(folder / EXCLUDE_DIR)} if (folder / EXCLUDE_DIR).is_dir() else {}
        mask_hint = f"{folder / MASKS_DIR}/<same name>"
        frame_hint = f"{folder / FRAMES_DIR}/<same name>"
    else:
        files = _images(folder)
        frames = _by_key(files, prefixes.frame, "frame")
        masks = _by_key(files, prefixes.mask, "mask")
        excludes = _by_key(files, prefixes.exclude, "exclude annotation") if prefixes.exclude else {}
        mask_hint = f"{folder}/{prefixes.mask}<key>.png"
        frame_hint = f"{folder}/{prefixes.frame}<key>.png"
    if not frames:
        sequences = [p.name for p in sorted(folder.iterdir()) if (p / FRAMES_DIR).is_dir()][:3]
        hint = (f"; it looks like a data set of sequences ({', '.join(sequences)}): use --data instead of --folder"
                if sequences else "")
        raise FolderError(f"{folder}: no frames found: expected image files named {prefixes.frame}<key> "
                          f"({', '.join(IMAGE_SUFFIXES)}) with masks {prefixes.mask}<key>, or subfolders "
                          f"{FRAMES_DIR}/ and {MASKS_DIR}/ with equal file names; set --frame-prefix and "
                          f"--mask-prefix to your names{hint}")
    for key, path in frames.items():
        if key not in masks:
            raise FolderError(f"{path}: no guidewire mask for this frame (looked for {mask_hint.replace('<key>', key)}"
                              " with any image extension); add the mask, remove the frame, or set --mask-prefix")
    for what, annotations in (("mask", masks), ("exclude annotation", excludes)):
        for key, path in annotations.items():
            if key not in frames:
                raise FolderError(f"{path}: {what} without a frame (looked for "
                                  f"{frame_hint.replace('<key>', key)}); add the frame or remove the {what}")
    out = []
    for key in sorted(frames, key=natural_key):
        shape = _header_shape(frames[key])
        for path in (masks[key], excludes.get(key)):
            if path is not None and (found := _header_shape(path)) != shape:
                raise FolderError(f"{path}: {found[1]}x{found[0]} px but its frame {frames[key].name} is "
                                  f"{shape[1]}x{shape[0]} px; an annotation must have its frame's size: export it "
                                  "from the same image (crop or resize both together, never one alone)")
        out.append(FolderFrame(key, frames[key], masks[key], excludes.get(key), shape))
    return out


def _decode(path: Path) -> np.ndarray:
    return read_image(path, FolderError, "re-export it as an 8- or 16-bit PNG")


def _gray(image: np.ndarray, path: Path) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] in (3, 4):
        # Frames saved as RGB(A) by viewers are still grayscale X-ray: take their luminance.
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim != 2:
        raise FolderError(f"{path}: image of shape {image.shape} is not a 2-D grayscale or RGB picture")
    return image


def _binary(path: Path, shape: tuple[int, int]) -> np.ndarray:
    raw = _decode(path)
    # A colour mask (an annotation tool's overlay colour) is wire wherever any channel is set.
    mask = raw.max(axis=2) if raw.ndim == 3 else raw
    if mask.shape != tuple(shape):
        raise FolderError(f"{path}: {mask.shape[1]}x{mask.shape[0]} px but its frame is {shape[1]}x{shape[0]} px; "
                          "export the annotation at its frame's size")
    if not np.issubdtype(mask.dtype, np.integer):
        raise FolderError(f"{path}: mask of type {mask.dtype}; store it as an 8- or 16-bit integer image")
    peak = int(mask.max())
    return (mask >= max((peak + 1) // 2, 1)).astype(np.uint8)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a 2-D 8- or 16-bit grayscale frame (colour files by their luminance).

    Raises
    ------
    FolderError
        Naming the file, if it cannot be decoded or is not an 8- or 16-bit integer image.
    """
    path = Path(path)
    image = _gray(_decode(path), path)
    if image.dtype not in (np.uint8, np.uint16):
        raise FolderError(f"{path}: frames must be 8- or 16-bit integer images, got {image.dtype}; "
                          "convert it (scaled to the full range) to a 16-bit PNG")
    return image


def load_folder_frame(item: FolderFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read one frame and its annotations.

    Returns
    -------
    image : ndarray, (H, W), uint8 or uint16
    mask : ndarray, (H, W), uint8 in {0, 1}
        Guidewire.
    exclude : ndarray, (H, W), uint8 in {0, 1}, or None
        What is not guidewire, when the frame has such an annotation.

    Raises
    ------
    FolderError
        If a file cannot be decoded or its size changed since the scan.
    """
    image = read_gray(item.frame)
    if image.shape != tuple(item.shape):
        raise FolderError(f"{item.frame}: the frame is {image.shape[1]}x{image.shape[0]} px now but was "
                          f"{item.shape[1]}x{item.shape[0]} px when the folder was scanned; rerun the evaluation")
    exclude = None if item.exclude is None else _binary(item.exclude, item.shape)
    return image, _binary(item.mask, item.shape), exclude
