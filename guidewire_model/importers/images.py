"""A folder of image files (PNG, 16-bit PNG, TIFF, JPEG, ...) -> one frame sequence."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from guidewire_model.data import layout
from guidewire_model.data.frame_folder import IMAGE_SUFFIXES, FolderError, natural_key, read_gray
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.sources import FrameSource

__all__ = ["image_files", "read_image_folder", "read_image_files"]


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, in natural order (``2.png`` before ``10.png``)."""
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: natural_key(p.name))


def _frames(paths: list[Path]) -> Iterator[np.ndarray]:
    first: np.ndarray | None = None
    for path in paths:
        try:
            image = read_gray(path)
        except FolderError as exc:
            raise InputError(str(exc)) from exc
        if first is None:
            first = image
        elif image.shape != first.shape or image.dtype != first.dtype:
            raise InputError(f"{path}: {image.shape[1]}x{image.shape[0]} px {image.dtype} but {paths[0]} is "
                             f"{first.shape[1]}x{first.shape[0]} px {first.dtype}; the frames of one sequence must "
                             "share one size and bit depth (resize or split them into separate folders)")
        yield image


def read_image_files(paths: list[Path], name: str, origin: str, meta: dict | None = None) -> FrameSource:
    """Given image files, in the given order, as one sequence called ``name``.

    ``meta`` defaults to ``{"patient": name, "source": "images", "files": [...]}``.
    """
    meta = meta if meta is not None else {"patient": name, "source": "images", "files": [p.name for p in paths]}
    return FrameSource(name=name, origin=origin, frames=lambda: _frames(paths), n_frames=len(paths), meta=meta,
                       frame_names=[p.name for p in paths])


def _layout_meta(folder: Path) -> dict | None:
    """``meta.json`` of a sequence folder of the layout (an earlier import), if it has a readable one."""
    try:
        meta = json.loads((folder / layout.META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def read_image_folder(folder: str | os.PathLike) -> FrameSource:
    """The images directly in ``folder`` (or in its ``frames/``) as one sequence named after the folder.

    Colour images become their luminance; 8- and 16-bit gray images are kept as they are. A sequence
    folder of the layout keeps its ``meta.json`` (patient hash, frame times), so frames imported from
    DICOM stay grouped by patient through annotation and re-import.

    Raises
    ------
    InputError
        If the folder does not exist or holds no image; a file that cannot be decoded, or whose size
        or bit depth differs from the first frame's, fails when the frames are read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of images")
    frames_dir = folder / "frames"
    source_dir = frames_dir if frames_dir.is_dir() else folder
    paths = image_files(source_dir)
    if not paths:
        raise InputError(f"{source_dir}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return read_image_files(paths, folder.name, str(folder), _layout_meta(folder) if source_dir == frames_dir else None)
