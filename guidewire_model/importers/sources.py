"""A sequence of frames read from some input (DICOM series, video, image folder), not yet written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["FrameSource"]


@dataclass
class FrameSource:
    """One sequence of grayscale frames in time order, decoded lazily.

    Attributes
    ----------
    name : str
        Suggested sequence folder name (unique among the sources of one import).
    origin : str
        Where the frames come from (file or folder paths), for messages. Never written to the data set
        for DICOM, whose file names may hold patient identifiers.
    frames : callable
        Returns a fresh iterator over the frames, each an (H, W) uint8 or uint16 array in the layout's
        range; raises :class:`~guidewire_model.importers.errors.InputError` naming the file when one
        cannot be decoded.
    n_frames : int or None
        Frame count, when known before decoding (for progress bars).
    meta : dict
        What goes into the sequence's ``meta.json`` (``"patient"`` and notes such as frame times),
        JSON-serialisable and free of identifying values.
    fps : float or None
        Frame rate, when the source knows it (overlay videos are written at it).
    frame_names : list of str or None
        File name of each frame, when the frames are image files.
    """

    name: str
    origin: str
    frames: Callable[[], Iterator[np.ndarray]]
    n_frames: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    fps: float | None = None
    frame_names: list[str] | None = None
