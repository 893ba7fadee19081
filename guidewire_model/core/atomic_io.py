"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

Every writer of the project goes through :func:`atomic_path` (data sets, training run files and
checkpoints, exported and quantised models, the TensorRT engine cache): the bytes go to a hidden
temporary name in the target's own folder (same file system, so the final :func:`os.replace` is
atomic on POSIX), are fsynced, and only then take the target's name; the folder is then fsynced so
the rename survives a power cut. On any exception the temporary file is removed and the target is
untouched. Standard library only (the runtime uses it too).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_bytes_atomic", "write_text_atomic"]


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The final file. Its folder is created if missing.
    suffix : str, optional
        Ending of the temporary name, for writers that choose a format by extension
        (``cv2.imwrite`` needs ``".png"``).

    Yields
    ------
    pathlib.Path
        Where to write. A hidden name beside ``path`` (not ``mkstemp``, whose 0600 mode would
        survive the rename).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
    try:
        yield tmp
        if not tmp.is_file():
            raise OSError(f"{path}: nothing was written")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename durable; not every platform or file system lets a folder be opened or synced.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    write_bytes_atomic(path, text.encode("utf-8"))
