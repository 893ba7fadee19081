"""All-or-nothing output: an import writes into a staging folder and renames it into place at the end.

A hospital import can fail on the hundredth file (a truncated DICOM, an annotation naming a missing
frame). A data set half written would then train on whatever happened to be imported, so the
importers write into ``<parent>/.<name>.partial-<pid>`` beside the output -- on the same file
system, so the final move is a rename -- and :meth:`StagedOutput.commit` moves the finished
sequence folders into ``--out`` only after every input was read. On an exception the staging folder
is removed and ``--out`` is exactly as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType

from guidewire_model.importers.errors import InputError

__all__ = ["StagedOutput"]


class StagedOutput:
    """Context manager: a staging folder beside ``out``, committed into ``out`` on success.

    ``out`` may already exist (a data set grown import by import); the sequence folders staged are
    then moved into it, and a name that already exists there is refused before anything is moved.

    Parameters
    ----------
    out : path-like
        The data set root the sequences end up in.

    Attributes
    ----------
    path : Path
        The staging folder; write sequence folders into it.

    Examples
    --------
    >>> with StagedOutput(root) as staged:          # doctest: +SKIP
    ...     write_sequence(staged.path / "run1")
    ...     names = staged.commit()
    """

    def __init__(self, out: str | os.PathLike) -> None:
        self.out = Path(out).absolute()
        self.path = self.out.parent / f".{self.out.name}.partial-{os.getpid()}"

    def __enter__(self) -> "StagedOutput":
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"{self.out}: --out exists and is not a folder; name a data set folder")
        if self.path.exists():  # left by a killed import of this same process id
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        return self

    def sequence_names(self) -> list[str]:
        """Sequence folders staged so far, sorted."""
        return sorted(p.name for p in self.path.iterdir() if p.is_dir())

    def commit(self) -> list[str]:
        """Move the staged sequence folders into ``out``; returns their names.

        Raises
        ------
        InputError
            If nothing was staged, or a staged sequence already exists in ``out`` (nothing moved).
        """
        names = self.sequence_names()
        if not names:
            raise InputError(f"{self.out}: no sequence was imported, so nothing was written")
        if not self.out.exists():
            os.replace(self.path, self.out)  # one rename: the data set appears whole
        else:
            clashes = [n for n in names if (self.out / n).exists()]
            if clashes:
                raise InputError(f"{self.out / clashes[0]}: already exists ({len(clashes)} of the imported "
                                 "sequences do); import into another --out, or remove them first")
            for name in names:
                os.replace(self.path / name, self.out / name)
            shutil.rmtree(self.path)
        return names

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Also on KeyboardInterrupt: a half import never stays behind, not even beside the output.
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
