"""DICOM X-ray runs (XA/RF cine loops, single-frame files) -> one de-identified frame sequence per series.

:func:`read_dicom` takes files and folders, groups the images by ``SeriesInstanceUID`` and returns
one :class:`~guidewire_model.importers.sources.FrameSource` per series:

* **order**: files of a series by acquisition date-time (``AcquisitionDateTime``, else
  ``AcquisitionDate`` + ``AcquisitionTime``, else ``ContentDate`` + ``ContentTime``) when every file
  has one, else by ``InstanceNumber``, else by file name; the frames of a multi-frame file in their
  stored order, which is acquisition order;
* **times** (``meta.json`` ``frame_times_ms``, from the sequence's first frame): per-frame
  ``FrameAcquisitionDateTime`` (enhanced XA), else ``FrameTimeVector`` (increments), else
  ``FrameTime`` (constant), else each single-frame file's acquisition date-time; ``null`` when a
  frame has none. ``frame_time_source`` says which was used;
* **pixels**: :mod:`guidewire_model.importers.dicom_pixels` (``BitsStored``, rescale, MONOCHROME1);
  compressed transfer syntaxes are decoded by pydicom's plugins (pylibjpeg with its libjpeg and
  openjpeg back ends: JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000; RLE natively);
* **identity**: :mod:`guidewire_model.importers.deidentify` -- the patient as a salted hash, the
  folder named from salted hashes (``P<patient>_S<series>``), nothing else of the header but the
  non-identifying :data:`~guidewire_model.importers.deidentify.KEPT_TAGS`.

Files given by name must be DICOM images. In folders, files that are not DICOM (no ``DICM`` marker:
notes, thumbnails) and DICOM objects without pixel data (structured reports, presentation states,
DICOMDIR) are skipped and counted in :attr:`DicomScan.skipped`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from guidewire_model.importers.deidentify import kept_values, patient_key, salted_hash
from guidewire_model.importers.dicom_pixels import PixelFormat
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.sources import FrameSource

__all__ = ["DicomScan", "is_dicom_file", "read_dicom"]

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Values above this are read from disk only when the pixels are decoded.
_DEFER = "64 KB"


@dataclass
class DicomScan:
    """What :func:`read_dicom` found.

    Attributes
    ----------
    sources : list of FrameSource
        One per series, sorted by folder name.
    skipped : list of (Path, str)
        Files in the folders given that were not imported, with the reason.
    """

    sources: list[FrameSource]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def is_dicom_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` starts like a DICOM Part 10 file (128-byte preamble, then ``DICM``)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _read(path: Path) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path, defer_size=_DEFER)
    except InvalidDicomError as exc:
        raise InputError(f"{path}: not a DICOM file ({exc})") from exc
    except Exception as exc:  # pydicom raises many types on damaged files; all mean the same here
        raise InputError(f"{path}: corrupt or truncated DICOM file ({type(exc).__name__}: {exc})") from exc


def _datetime(ds: Any, dt_tag: str, date_tag: str, time_tag: str) -> dt.datetime | None:
    from pydicom.valuerep import DA, DT, TM

    try:
        value = getattr(ds, dt_tag, "") if dt_tag else ""
        if value:
            return DT(value).replace(tzinfo=None)
        date, time = (getattr(ds, date_tag, ""), getattr(ds, time_tag, "")) if date_tag else ("", "")
        if date and time:
            return dt.datetime.combine(DA(date), TM(time))
    except (TypeError, ValueError):
        pass  # a malformed time is treated as absent: it only orders and times frames
    return None


def _acquired(ds: Any) -> dt.datetime | None:
    return (_datetime(ds, "AcquisitionDateTime", "AcquisitionDate", "AcquisitionTime")
            or _datetime(ds, "", "ContentDate", "ContentTime"))


def _n_frames(ds: Any) -> int:
    try:
        return max(int(getattr(ds, "NumberOfFrames", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def _frame_offsets_ms(ds: Any, n: int) -> tuple[list[float] | None, str | None]:
    """Times of the frames of one file from its first frame, and their source."""
    groups = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if groups is not None and len(groups) == n:
        stamps = []
        for item in groups:
            content = getattr(item, "FrameContentSequence", None)
            stamps.append(_datetime(content[0], "FrameAcquisitionDateTime", "", "") if content else None)
        if all(s is not None for s in stamps):
            return [(s - stamps[0]).total_seconds() * 1e3 for s in stamps], "FrameAcquisitionDateTime"
    vector = getattr(ds, "FrameTimeVector", None)
    if vector is not None and len(vector) == n:
        return np.cumsum([float(v) for v in vector]).tolist(), "FrameTimeVector"
    frame_time = getattr(ds, "FrameTime", None)
    if frame_time is not None and n > 1:
        return [i * float(frame_time) for i in range(n)], "FrameTime"
    return ([0.0], None) if n == 1 else (None, None)


@dataclass
class _File:
    path: Path
    ds: Any
    n_frames: int
    acquired: dt.datetime | None
    instance: int | None


def _order(files: list[_File]) -> list[_File]:
    if all(f.acquired is not None for f in files):
        return sorted(files, key=lambda f: (f.acquired, f.instance or 0, str(f.path)))
    if all(f.instance is not None for f in files):
        return sorted(files, key=lambda f: (f.instance, str(f.path)))
    return sorted(files, key=lambda f: str(f.path))


def _series_times(files: list[_File]) -> tuple[list[float | None], str | None]:
    """Frame times of a series (ms from its first frame) and their source."""
    unknown = [None] * sum(f.n_frames for f in files), None
    if len(files) == 1:
        offsets, source = _frame_offsets_ms(files[0].ds, files[0].n_frames)
        return ([round(t, 3) for t in offsets], source) if offsets is not None else unknown
    times: list[float | None] = []
    sources = set()
    start = files[0].acquired
    for f in files:
        # Several files are placed on one clock by their acquisition date-times.
        offsets, source = _frame_offsets_ms(f.ds, f.n_frames)
        if f.acquired is None or start is None or offsets is None:
            return unknown
        base = (f.acquired - start).total_seconds() * 1e3
        times.extend(round(base + o, 3) for o in offsets)
        sources.add(source or "AcquisitionDateTime")
    return times, "+".join(sorted(sources))


def _pixel_format(files: list[_File]) -> PixelFormat:
    formats = {f.path: PixelFormat.from_dataset(f.ds, f.path) for f in files}
    first = files[0]
    shape = (int(first.ds.Rows), int(first.ds.Columns))
    for f in files[1:]:
        other = (int(f.ds.Rows), int(f.ds.Columns))
        if other != shape:
            raise InputError(f"{f.path}: {other[1]}x{other[0]} px but {first.path} of the same series is "
                             f"{shape[1]}x{shape[0]} px; the frames of one sequence must share one size")
        if formats[f.path].out_dtype != formats[first.path].out_dtype:
            raise InputError(f"{f.path}: {formats[f.path].bits_stored} bits stored but {first.path} of the same "
                             f"series has {formats[first.path].bits_stored}; one sequence needs one bit depth")
    return formats[first.path]


def _iter_frames(files: list[_File]) -> Iterator[np.ndarray]:
    from pydicom.pixels import iter_pixels

    for f in files:
        fmt = PixelFormat.from_dataset(f.ds, f.path)
        count = 0
        try:
            for stored in iter_pixels(f.ds):
                count += 1
                yield fmt.to_layout(stored)
        except InputError:
            raise
        except Exception as exc:  # a decoder's error on damaged pixel data, or a missing decoder
            syntax = f.ds.file_meta.TransferSyntaxUID
            hint = (f"the file is truncated or corrupt, or its compression ({syntax.name}) needs a decoder that is "
                    "not installed (pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg)"
                    if syntax.is_compressed else "the file is truncated or corrupt")
            raise InputError(f"{f.path}: cannot decode frame {count} of {f.n_frames} ({type(exc).__name__}: "
                             f"{exc}); {hint}") from exc
        if count != f.n_frames:
            raise InputError(f"{f.path}: {count} frames decoded but NumberOfFrames is {f.n_frames}; "
                             "the file is truncated")


def _walk(paths: Sequence[str | os.PathLike]) -> tuple[list[Path], list[tuple[Path, str]]]:
    files, skipped = [], []
    for given in map(Path, paths):
        if given.is_file():
            files.append(given)
        elif given.is_dir():
            for path in sorted(p for p in given.rglob("*") if p.is_file()):
                if is_dicom_file(path):
                    files.append(path)
                else:
                    skipped.append((path, "not a DICOM file"))
        else:
            raise InputError(f"{given}: no such file or folder")
    return files, skipped


def _source(files: list[_File], salt: str) -> FrameSource:
    files = _order(files)
    first = files[0].ds
    key = patient_key(first)
    series_uid = str(getattr(first, "SeriesInstanceUID", "") or files[0].path)
    series = salted_hash(salt, "series:" + series_uid)
    patient = salted_hash(salt, key) if key else series
    fmt = _pixel_format(files)
    times, time_source = _series_times(files)
    n = sum(f.n_frames for f in files)
    meta = {
        "patient": patient,
        "source": "dicom",
        "series": series,
        "frames": n,
        **kept_values(first),
        "transfer_syntaxes": sorted({str(f.ds.file_meta.TransferSyntaxUID.name) for f in files}),
        "inverted": fmt.photometric == "MONOCHROME1",
        "stored_range_scaled_to": int(np.iinfo(fmt.out_dtype).max),
        "rescale": [fmt.slope, fmt.intercept],
        "frame_time_source": time_source,
        "frame_times_ms": times,
    }
    steps = np.diff([t for t in times if t is not None]) if time_source else []
    fps = 1e3 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else None
    # The origin names files for error messages only; it never reaches meta.json.
    origin = str(files[0].path) if len(files) == 1 else f"{files[0].path} and {len(files) - 1} more files"
    return FrameSource(name=f"P{patient[:8]}_S{series[:8]}", origin=origin, frames=lambda: _iter_frames(files),
                       n_frames=n, meta=meta, fps=fps)


def read_dicom(paths: Sequence[str | os.PathLike], salt: str) -> DicomScan:
    """Find the DICOM images in ``paths`` and group them into one frame sequence per series.

    Parameters
    ----------
    paths : sequence of path-like
        DICOM files and folders (searched recursively).
    salt : str
        Secret mixed into every hash (:mod:`guidewire_model.importers.deidentify`).

    Returns
    -------
    DicomScan
        The sequences (frames decoded lazily) and the files skipped in folders.

    Raises
    ------
    InputError
        Naming the file: a path that does not exist, a file given by name that is not DICOM or is
        not an image, a corrupt or truncated header, series whose files differ in size or bit depth,
        pixels that are not grayscale/RGB integers. Damaged pixel data is reported when the frames
        are decoded.
    """
    candidates, skipped = _walk(paths)
    explicit = {Path(p) for p in paths if Path(p).is_file()}
    series: dict[str, list[_File]] = defaultdict(list)
    for path in candidates:
        ds = _read(path)
        if not any(tag in ds for tag in _PIXEL_TAGS):
            sop = getattr(ds, "SOPClassUID", None)
            what = f"SOP class {getattr(sop, 'name', sop) or 'unknown'}, modality {getattr(ds, 'Modality', '?')}"
            if "Rows" in ds or "Image Storage" in str(getattr(sop, "name", "")):
                # An image whose header stops before its pixels: cut off in transfer, not a report.
                raise InputError(f"{path}: image header ({what}) but no pixel data; the file is truncated")
            if path in explicit:
                raise InputError(f"{path}: DICOM without pixel data ({what}); it is not an image, so there is "
                                 "nothing to import -- pass X-ray image files or their folder")
            skipped.append((path, f"no pixel data ({what})"))
            continue
        if any(tag in ds for tag in _PIXEL_TAGS[1:]):
            raise InputError(f"{path}: floating-point pixel data; X-ray runs store integers, so this is not one")
        instance = getattr(ds, "InstanceNumber", None)
        uid = str(getattr(ds, "SeriesInstanceUID", "") or f"file:{path}")
        series[uid].append(_File(path, ds, _n_frames(ds), _acquired(ds),
                                 int(instance) if instance not in (None, "") else None))
    if not series:
        raise InputError(f"{', '.join(map(str, paths))}: no DICOM image found "
                         f"({len(skipped)} files skipped, e.g. {skipped[0][0]}: {skipped[0][1]})" if skipped
                         else f"{', '.join(map(str, paths))}: no DICOM image found")
    sources = sorted((_source(files, salt) for files in series.values()), key=lambda s: s.name)
    return DicomScan(sources, skipped)
