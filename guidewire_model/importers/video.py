"""Video files (mp4, avi, ...) -> a frame sequence, through OpenCV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from guidewire_model.importers.errors import InputError
from guidewire_model.importers.sources import FrameSource

__all__ = ["VIDEO_SUFFIXES", "read_video"]

#: File types read as videos.
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")


def _gray(frame: np.ndarray) -> np.ndarray:
    # Fluoroscopy recorded to video is grayscale stored as colour: its luminance is the X-ray.
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame


def _open(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise InputError(f"{path}: cannot open the video (missing, corrupt, or a codec OpenCV cannot read); "
                         "convert it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
    return capture


def _frames(path: Path) -> Iterator[np.ndarray]:
    capture = _open(path)
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield _gray(frame)
    finally:
        capture.release()
    if count == 0:
        raise InputError(f"{path}: the video holds no readable frame (empty or corrupt)")


def read_video(path: str | os.PathLike) -> FrameSource:
    """A video file as one sequence (its stem the name; 8-bit luminance frames).

    ``meta.json`` gets ``fps`` and ``frame_times_ms`` (frame index / fps) as the container states them.

    Raises
    ------
    InputError
        If the file does not exist or OpenCV cannot open it; a video without frames fails when read.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such video file")
    capture = _open(path)
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    n = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    capture.release()
    fps_known = fps > 0 and np.isfinite(fps)
    meta = {
        "patient": path.stem,
        "source": "video",
        "file": path.name,
        "fps": round(fps, 6) if fps_known else None,
        # The container's count is an estimate for some codecs; times are only written when it is stated.
        "frame_times_ms": [round(i * 1e3 / fps, 3) for i in range(n)] if fps_known and n > 0 else None,
    }
    return FrameSource(name=path.stem, origin=str(path), frames=lambda: _frames(path),
                       n_frames=n if n > 0 else None, meta=meta, fps=fps if fps_known else None)
