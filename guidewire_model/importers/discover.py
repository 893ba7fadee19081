"""Command-line inputs of any kind -> frame sequences: what ``guidewire-segment`` reads.

A **file** is read by its type: a video (:data:`~.video.VIDEO_SUFFIXES`), an image
(:data:`~guidewire_model.data.frame_folder.IMAGE_SUFFIXES`, one frame), else DICOM when it carries the
``DICM`` marker (one sequence per series). A **folder** is one sequence when it holds images
directly or in ``frames/``; a data set of the layout (sub-folders with ``frames/``) gives one
sequence per sub-folder; otherwise its videos (directly inside) and its DICOM files (anywhere below,
grouped by series) are read.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from guidewire_model.data import layout
from guidewire_model.data.frame_folder import IMAGE_SUFFIXES
from guidewire_model.importers.dicom import is_dicom_file, read_dicom
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.images import image_files, read_image_files, read_image_folder
from guidewire_model.importers.sources import FrameSource
from guidewire_model.importers.video import VIDEO_SUFFIXES, read_video

__all__ = ["discover_sources"]


def _file(path: Path, salt: Callable[[], str]) -> list[FrameSource]:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return [read_video(path)]
    if suffix in IMAGE_SUFFIXES:
        return [read_image_files([path], path.stem, str(path))]
    if is_dicom_file(path):
        return read_dicom([path], salt()).sources
    raise InputError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) "
                     "or a DICOM file")


def _folder(folder: Path, salt: Callable[[], str]) -> list[FrameSource]:
    if (folder / layout.FRAMES_DIR).is_dir() or image_files(folder):
        return [read_image_folder(folder)]
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    sequences = [p for p in subs if (p / layout.FRAMES_DIR).is_dir()]
    if sequences:
        return [read_image_folder(p) for p in sequences]
    sources = [read_video(p) for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
    if any(is_dicom_file(p) for p in folder.rglob("*") if p.is_file()):
        sources += read_dicom([folder], salt()).sources
    if not sources:
        raise InputError(f"{folder}: no images, sequence folders, videos or DICOM files found")
    return sources


def discover_sources(paths: Sequence[str | os.PathLike], salt: Callable[[], str]) -> list[FrameSource]:
    """Frame sequences of every input, in the order given (rules in the module docstring).

    Parameters
    ----------
    paths : sequence of path-like
        Files and folders.
    salt : callable
        Returns the de-identification salt; called only when DICOM is met.

    Raises
    ------
    InputError
        Naming the path: missing, of no known kind, or empty.
    """
    out: list[FrameSource] = []
    for path in map(Path, paths):
        if path.is_file():
            out += _file(path, salt)
        elif path.is_dir():
            out += _folder(path, salt)
        else:
            raise InputError(f"{path}: no such file or folder")
    return out
