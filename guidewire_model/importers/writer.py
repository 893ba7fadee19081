"""Frame sequences (no annotation yet) -> sequence folders of the layout, with their meta.json."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from guidewire_model.data import layout
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.sources import FrameSource

__all__ = ["unique_names", "write_frame_sources"]


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with repeats suffixed ``_2``, ``_3``, ... (two ``run1.mp4`` from two folders)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def write_frame_sources(sources: Sequence[FrameSource], root: Path, progress: bool = True) -> list[Path]:
    """Write every source as ``root/<name>/frames/NNNNNN.png`` plus ``meta.json``.

    Parameters
    ----------
    sources : sequence of FrameSource
    root : Path
        The (staging) data set folder.
    progress : bool
        A tqdm bar over the frames.

    Returns
    -------
    list of Path
        The sequence folders written.

    Raises
    ------
    InputError
        From decoding, naming the file.
    """
    folders = []
    total = sum(s.n_frames or 0 for s in sources) or None
    with tqdm(total=total, unit="frame", desc="import", disable=not progress) as bar:
        for source, name in zip(sources, unique_names([s.name for s in sources])):
            seq_dir = root / name
            count = 0
            for image in source.frames():
                layout.write_frame(seq_dir, count, image)
                count += 1
                bar.update(1)
            if count == 0:
                raise InputError(f"{source.origin}: no frame could be read")
            meta = dict(source.meta)
            times = meta.get("frame_times_ms")
            if times is not None and len(times) != count:
                # A container's frame count can be an estimate; times only stand when they fit.
                meta["frame_times_ms"] = ([round(i * 1e3 / source.fps, 3) for i in range(count)]
                                          if source.fps else None)
            meta["frames"] = count
            layout.write_meta(seq_dir, meta)
            folders.append(seq_dir)
    return folders
