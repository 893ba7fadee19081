"""A data set on disk, read and checked without PyTorch: scanning, frames and masks, patient-level splits.

The layout is :mod:`guidewire_model.data.layout`. :func:`scan_dataset` reads a data set root and
checks it cheaply: the PNG *headers* of every frame, mask and instance file (size, bit depth,
channels) and that every frame has a mask. Mask *values* are checked when a mask is loaded
(:func:`load_frame`, hence every training sample), or for the whole set up front with
``scan_dataset(root, check_mask_values=True)``; either way the error names the mask file. All
problems raise :class:`DatasetError` naming the file and the fix.

:func:`split_by_patient` assigns whole patients (never frames or sequences of one patient) to
train / val / test, reproducibly from a seed. The torch ``Dataset`` over these is
:class:`guidewire_model.training.dataset.SegmentationDataset`.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.core.atomic_io import write_text_atomic
from guidewire_model.data import layout
from guidewire_model.data.image_files import DatasetError, read_image
from guidewire_model.runtime.preprocess import resize_interpolation

__all__ = [
    "MASK_COVERAGE_THRESHOLD",
    "DatasetError",
    "SequenceInfo",
    "Split",
    "load_exclude",
    "load_frame",
    "read_image",
    "resize_mask",
    "scan_dataset",
    "split_by_patient",
]

#: When a mask is shrunk with pixel averaging, an output pixel is wire if at least this fraction of
#: it was wire. See :func:`resize_mask`.
MASK_COVERAGE_THRESHOLD = 0.25

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAY = 0  # PNG colour type of single-channel grayscale
_COLOR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale+alpha", 6: "RGBA"}


@dataclass(frozen=True)
class SequenceInfo:
    """One validated sequence folder.

    Attributes
    ----------
    name : str
        Folder name, unique within the root; what splits list.
    patient : str
        From ``meta.json`` ``"patient"``, else the folder name.
    path : Path
        The sequence folder.
    frame_paths, mask_paths : tuple of Path
        Frame ``i`` and its mask, sorted by file name (time order).
    instance_paths, centreline_paths : tuple of Path or None
        Per-frame instance masks / centreline JSON files, when the folder exists.
    exclude_paths : tuple of (Path or None), or None
        Per-frame masks of what is *not* guidewire (catheter, look-alike devices), when ``exclude/``
        exists: what evaluation reports the share of predicted pixels on. None for a frame without
        a file (nothing annotated there: not "no catheter").
    shape : (H, W)
        Size shared by all frames and masks of the sequence.
    dtype : str
        ``"uint8"`` or ``"uint16"``, shared by all frames.
    """

    name: str
    patient: str
    path: Path
    frame_paths: tuple[Path, ...]
    mask_paths: tuple[Path, ...]
    instance_paths: tuple[Path, ...] | None
    centreline_paths: tuple[Path, ...] | None
    shape: tuple[int, int]
    dtype: str
    exclude_paths: tuple[Path | None, ...] | None = None

    @property
    def n_frames(self) -> int:
        return len(self.frame_paths)

    def __len__(self) -> int:
        return len(self.frame_paths)


# --------------------------------------------------------------------------- scanning


def _png_header(path: Path) -> tuple[int, int, int, int]:
    """(width, height, bit_depth, colour_type) from the IHDR chunk, reading 26 bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc}); check permissions") from exc
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise DatasetError(f"{path}: not a valid PNG file (bad or truncated header); re-export it as PNG")
    width, height, bit_depth, colour = struct.unpack(">IIBB", head[16:26])
    if width == 0 or height == 0:
        raise DatasetError(f"{path}: PNG has zero size ({width}x{height}); re-export it")
    return width, height, bit_depth, colour


def _check_frame_header(path: Path) -> tuple[tuple[int, int], str]:
    width, height, depth, colour = _png_header(path)
    if colour != _GRAY or depth not in (8, 16):
        raise DatasetError(
            f"{path}: frame is {_COLOR_TYPES.get(colour, f'colour type {colour}')} {depth}-bit; frames must be "
            "single-channel grayscale PNGs of 8 or 16 bits (convert with "
            "cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)))"
        )
    return (height, width), "uint8" if depth == 8 else "uint16"


def _check_label_header(path: Path, frame_path: Path, shape: tuple[int, int], what: str) -> None:
    width, height, depth, colour = _png_header(path)
    if colour != _GRAY or depth not in (1, 8):
        raise DatasetError(
            f"{path}: {what} is {_COLOR_TYPES.get(colour, f'colour type {colour}')} {depth}-bit; it must be a "
            "single-channel 8-bit PNG"
        )
    if (height, width) != shape:
        raise DatasetError(
            f"{path}: {what} is {width}x{height} but its frame {frame_path} is {shape[1]}x{shape[0]}; "
            f"{what}s must have the frame's size"
        )


def _read_patient(seq_dir: Path) -> str:
    meta = seq_dir / layout.META_FILE
    if not meta.exists():
        return seq_dir.name
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f'{meta}: not valid JSON ({exc}); write e.g. {{"patient": "P07"}}') from exc
    if not isinstance(data, dict):
        raise DatasetError(f'{meta}: must be a JSON object such as {{"patient": "P07"}}')
    patient = data.get("patient", seq_dir.name)
    if isinstance(patient, bool) or not isinstance(patient, (str, int)) or str(patient) == "":
        raise DatasetError(f'{meta}: "patient" must be a non-empty string (or integer), got {patient!r}')
    return str(patient)


def _optional_paths(seq_dir: Path, sub: str, names: list[str], suffix: str,
                    every_frame: bool = True) -> tuple[Path | None, ...] | None:
    """Per-frame files of an optional sub-folder; None without the folder. With ``every_frame``
    a missing file is an error, else its place holds None."""
    folder = seq_dir / sub
    if not folder.is_dir():
        return None
    paths = tuple(folder / (Path(n).stem + suffix) for n in names)
    if not every_frame:
        return tuple(p if p.is_file() else None for p in paths)
    for frame_name, p in zip(names, paths):
        if not p.is_file():
            raise DatasetError(
                f"{p}: missing, but {folder} exists and frame {seq_dir / layout.FRAMES_DIR / frame_name} "
                f"needs it; add the file or remove the {sub}/ folder"
            )
    return paths


def _scan_sequence(seq_dir: Path) -> SequenceInfo:
    frames_dir = seq_dir / layout.FRAMES_DIR
    masks_dir = seq_dir / layout.MASKS_DIR
    names = sorted(p.name for p in frames_dir.glob("*.png") if not p.name.endswith(".tmp.png"))
    if not names:
        raise DatasetError(f"{frames_dir}: no frames (*.png); add the sequence's frames or remove {seq_dir}")
    frame_paths = tuple(frames_dir / n for n in names)
    mask_paths = tuple(masks_dir / n for n in names)
    shape, dtype = _check_frame_header(frame_paths[0])
    for fp, mp in zip(frame_paths, mask_paths):
        fshape, fdtype = _check_frame_header(fp)
        if (fshape, fdtype) != (shape, dtype):
            raise DatasetError(
                f"{fp}: frame is {fshape[1]}x{fshape[0]} {fdtype} but {frame_paths[0]} is "
                f"{shape[1]}x{shape[0]} {dtype}; all frames of a sequence must share size and bit depth"
            )
        if not mp.is_file():
            raise DatasetError(f"{fp}: frame has no mask; expected {mp} (same file name under {layout.MASKS_DIR}/)")
        _check_label_header(mp, fp, shape, "mask")
    if masks_dir.is_dir():
        orphans = sorted(set(p.name for p in masks_dir.glob("*.png")) - set(names) - {""})
        orphans = [o for o in orphans if not o.endswith(".tmp.png")]
        if orphans:
            raise DatasetError(
                f"{masks_dir / orphans[0]}: mask has no frame (expected {frames_dir / orphans[0]}); "
                "rename the frame or remove the mask"
            )
    instance_paths = _optional_paths(seq_dir, layout.INSTANCES_DIR, names, ".png")
    if instance_paths is not None:
        for fp, ip in zip(frame_paths, instance_paths):
            _check_label_header(ip, fp, shape, "instance mask")
    centreline_paths = _optional_paths(seq_dir, layout.CENTRELINES_DIR, names, ".json")
    # Per frame: an annotator marks the catheter only where it is drawn.
    exclude_paths = _optional_paths(seq_dir, layout.EXCLUDE_DIR, names, ".png", every_frame=False)
    if exclude_paths is not None:
        for fp, ep in zip(frame_paths, exclude_paths):
            if ep is not None:
                _check_label_header(ep, fp, shape, "exclude mask")
    return SequenceInfo(
        name=seq_dir.name,
        patient=_read_patient(seq_dir),
        path=seq_dir,
        frame_paths=frame_paths,
        mask_paths=mask_paths,
        instance_paths=instance_paths,
        centreline_paths=centreline_paths,
        shape=shape,
        dtype=dtype,
        exclude_paths=exclude_paths,
    )


def scan_dataset(root: str | os.PathLike, check_mask_values: bool = False) -> list[SequenceInfo]:
    """Find and validate every sequence under ``root``.

    Every sub-folder of ``root`` is a sequence, except those whose name starts with ``.`` or
    ``_`` (room for notes or scratch space).

    Parameters
    ----------
    root : path-like
        Data set folder in the layout of docs/dataset-layout.md.
    check_mask_values : bool
        Also load every mask and check it is binary ({0, 1} or {0, 255}). Off by default because it
        decodes every mask; without it the check happens when a mask is first loaded.

    Returns
    -------
    list of SequenceInfo
        Sorted by sequence name.

    Raises
    ------
    DatasetError
        Naming the file, if ``root`` is missing or holds no sequence folder; a sequence folder has
        no ``frames/`` or no frames; a frame has no mask (or a mask no frame); a frame is not a
        single-channel 8/16-bit PNG; a mask has another size than its frame; a PNG is corrupt;
        ``meta.json`` is invalid; or (with ``check_mask_values``) a mask is not binary.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: data set folder not found; create it in the layout of docs/dataset-layout.md "
            "(or generate one with guidewire-synth) and set data.root"
        )
    seq_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not seq_dirs:
        raise DatasetError(
            f"{root}: no sequence folders; put one folder per sequence with frames/ and masks/ inside "
            "(see docs/dataset-layout.md)"
        )
    sequences = []
    for seq_dir in seq_dirs:
        if not (seq_dir / layout.FRAMES_DIR).is_dir():
            raise DatasetError(
                f"{seq_dir}: no {layout.FRAMES_DIR}/ folder, so this is not a sequence; add "
                f"{layout.FRAMES_DIR}/ and {layout.MASKS_DIR}/, or rename the folder to start with '_' "
                "to keep it out of the data set"
            )
        sequences.append(_scan_sequence(seq_dir))
    if check_mask_values:
        for seq in sequences:
            for mp in seq.mask_paths:
                _read_mask(mp, seq.shape)
    return sequences


# --------------------------------------------------------------------------- loading


def _imread(path: Path) -> np.ndarray:
    return read_image(path)


def _read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    mask = _imread(path)
    if mask.ndim != 2 or mask.shape != tuple(shape):
        raise DatasetError(f"{path}: mask has shape {mask.shape}, expected {tuple(shape)} (its frame's size)")
    # A bincount over 256 values is cheaper than np.unique on a 512x512 mask.
    present = np.flatnonzero(np.bincount(mask.ravel(), minlength=256)) if mask.dtype == np.uint8 else np.unique(mask)
    extra = set(present.tolist()) - {0, 1, 255}
    if extra or (1 in present and 255 in present):
        raise DatasetError(
            f"{path}: mask is not binary (values {sorted(present.tolist())[:8]}); store 0 for background "
            "and 1 (or 255) for guidewire, one convention per file"
        )
    return (mask != 0).view(np.uint8) if mask.dtype == np.uint8 else (mask != 0).astype(np.uint8)


def load_frame(seq: SequenceInfo, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Load frame ``index`` of ``seq`` and its mask at full resolution, un-augmented.

    Returns
    -------
    image : ndarray, shape ``seq.shape``, dtype ``seq.dtype`` (uint8 or uint16)
    mask : ndarray, shape ``seq.shape``, uint8 in {0, 1} (stored 255 becomes 1)

    Raises
    ------
    IndexError
        If ``index`` is out of range.
    DatasetError
        Naming the file, if a PNG is corrupt, the frame's size or bit depth changed since the
        scan, or the mask is not binary.
    """
    if not 0 <= index < len(seq.frame_paths):
        raise IndexError(f"frame index {index} out of range for sequence {seq.name} ({len(seq)} frames)")
    path = seq.frame_paths[index]
    image = _imread(path)
    if image.shape != tuple(seq.shape) or image.dtype != np.dtype(seq.dtype):
        raise DatasetError(
            f"{path}: frame is {image.dtype} {image.shape}, expected {seq.dtype} {tuple(seq.shape)} "
            "single-channel; the file changed since the data set was scanned, or it is not grayscale"
        )
    return image, _read_mask(seq.mask_paths[index], seq.shape)


def load_exclude(seq: SequenceInfo, index: int) -> np.ndarray | None:
    """Frame ``index``'s exclude mask (uint8 in {0, 1}: not guidewire), or None where it has none.

    Raises
    ------
    DatasetError
        Naming the file, if it is corrupt, of another size, or not binary.
    """
    if seq.exclude_paths is None or seq.exclude_paths[index] is None:
        return None
    return _read_mask(seq.exclude_paths[index], seq.shape)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a 0/1 mask to ``size`` x ``size`` without losing thin wires.

    The mask is resized as float with the image's interpolation
    (:func:`guidewire_model.runtime.preprocess.resize_interpolation`) and thresholded:

    * shrinking (``INTER_AREA``): each output pixel gets the *fraction* of it that was wire, and is
      wire when that fraction is at least :data:`MASK_COVERAGE_THRESHOLD` (0.25). A one-pixel wire
      shrunk 2x covers 0.25-0.5 of the output pixels it crosses (less on diagonals), so a 0.5
      threshold would cut it into dashes, while 0.25 keeps it connected without the
      one-pixel-per-side widening of "any coverage";
    * enlarging (``INTER_LINEAR``): thresholded at 0.5, i.e. the nearest-label boundary.

    Returns
    -------
    ndarray, shape (size, size), uint8 in {0, 1}
    """
    if mask.shape == (size, size):
        return mask.astype(np.uint8, copy=False)
    interp = resize_interpolation(mask.shape, size)
    soft = cv2.resize(mask.astype(np.float32), (size, size), interpolation=interp)
    level = MASK_COVERAGE_THRESHOLD if interp == cv2.INTER_AREA else 0.5
    # The small epsilon absorbs float rounding of exact fractions such as 0.25.
    return (soft >= level - 1e-6).view(np.uint8)


# --------------------------------------------------------------------------- splits

_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """Sequence names of each part, and the patients behind them.

    Written to ``<output_dir>/split.json`` with every run (see :meth:`to_json`), so a run's test
    set can be re-derived and audited.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    seed: int
    train_patients: tuple[str, ...] = ()
    val_patients: tuple[str, ...] = ()
    test_patients: tuple[str, ...] = ()

    def sequences(self, part: str, all_sequences: Sequence[SequenceInfo]) -> list[SequenceInfo]:
        """The SequenceInfo of ``part`` ("train", "val" or "test"), in the split's order.

        Raises
        ------
        ValueError
            On an unknown part.
        DatasetError
            If a sequence of the split is not in ``all_sequences`` (the data set changed since the
            split was written).
        """
        if part not in _PARTS:
            raise ValueError(f"part must be one of {_PARTS}, got {part!r}")
        by_name = {s.name: s for s in all_sequences}
        names = getattr(self, part)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DatasetError(
                f"split part {part!r} names sequence(s) {missing[:5]} not found in the data set; the data "
                "changed since the split was written: restore them or make a new split"
            )
        return [by_name[n] for n in names]

    def to_json(self) -> str:
        """JSON text: ``{"seed", "train", "val", "test", "patients": {"train": [...], ...}}``."""
        data = {
            "seed": self.seed,
            **{p: list(getattr(self, p)) for p in _PARTS},
            "patients": {p: list(getattr(self, f"{p}_patients")) for p in _PARTS},
        }
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "<split>") -> Split:
        """Inverse of :meth:`to_json`; ``source`` names the file in errors."""
        try:
            data = json.loads(text)
            patients = data.get("patients", {})
            return cls(
                train=tuple(str(n) for n in data["train"]),
                val=tuple(str(n) for n in data["val"]),
                test=tuple(str(n) for n in data["test"]),
                seed=int(data["seed"]),
                **{f"{p}_patients": tuple(str(n) for n in patients.get(p, ())) for p in _PARTS},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(
                f"{source}: not a split file ({exc!r}); expected JSON with seed, train, val and test lists"
            ) from exc

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` (atomically: a temporary file, then a rename)."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        """Read a file written by :meth:`save`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read split file ({exc})") from exc
        return cls.from_json(text, source=str(path))


def split_by_patient(
    sequences: Sequence[SequenceInfo], test_patients: int, val_patients: int, seed: int
) -> Split:
    """Assign whole patients to test, val and train, reproducibly.

    The sorted patient ids are shuffled with ``np.random.default_rng(seed)``; the first
    ``test_patients`` go to test, the next ``val_patients`` to val, the rest to train. All
    sequences of a patient land in the same part (paper: 24 train / 6 test patients, two training
    sequences held out for validation - here two *patients*, which keeps validation independent
    when a patient has several sequences).

    Raises
    ------
    DatasetError
        If the counts are negative or leave the training part empty (the message says how many
        patients exist and how many were asked for), or two sequences share a name.
    """
    if test_patients < 0 or val_patients < 0:
        raise DatasetError(f"test_patients and val_patients must be >= 0, got {test_patients} and {val_patients}")
    names = [s.name for s in sequences]
    if len(set(names)) != len(names):
        raise DatasetError(f"sequence names must be unique, got duplicates in {sorted(names)}")
    patients = sorted({s.patient for s in sequences})
    if test_patients + val_patients >= len(patients):
        raise DatasetError(
            f"the data set has {len(patients)} patient(s) but the split asks for {test_patients} test + "
            f"{val_patients} val, leaving no training patient; add patients (group sequences with "
            "meta.json 'patient') or lower data.test_patients / data.val_patients"
        )
    order = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]
    parts = {
        "test": sorted(order[:test_patients]),
        "val": sorted(order[test_patients : test_patients + val_patients]),
        "train": sorted(order[test_patients + val_patients :]),
    }
    part_of = {p: part for part, ps in parts.items() for p in ps}
    by_name = sorted(sequences, key=lambda s: s.name)
    seqs = {part: tuple(s.name for s in by_name if part_of[s.patient] == part) for part in _PARTS}
    return Split(
        train=seqs["train"],
        val=seqs["val"],
        test=seqs["test"],
        seed=int(seed),
        train_patients=tuple(parts["train"]),
        val_patients=tuple(parts["val"]),
        test_patients=tuple(parts["test"]),
    )
