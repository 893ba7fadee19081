"""De-identification of DICOM imports: salted hashes for grouping, a whitelist for everything kept.

Nothing of a DICOM header reaches the data set except what :data:`KEPT_TAGS` names (acquisition
geometry and timing, none of it identifying) and salted hashes. The patient grouping that splits need
(all sequences of one patient in one split part) survives as ``sha256(salt + key)``, which cannot be
reversed without the salt, and the salt never enters the output. Dates and times are kept only as
differences (frame times from the first frame of the sequence), so no acquisition date survives.

The salt comes from ``--salt`` or a salt file. With neither, one is generated once and kept in
:func:`default_salt_path` (``$XDG_CONFIG_HOME/guidewire_seg/import_salt``, by default
``~/.config/guidewire_seg/import_salt``, readable by its owner only), so that every import on this
machine hashes one patient to one id. Keep the salt secret: with it and a list of patient IDs anyone
can recompute the hashes.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["KEPT_TAGS", "default_salt_path", "kept_values", "load_or_create_salt", "patient_key", "salted_hash"]

#: The only header values copied into meta.json: keyword -> meta key. Modality and geometry help
#: understand a sequence; none of these names, dates, places or devices a person.
KEPT_TAGS = {
    "Modality": "modality",
    "Rows": "rows",
    "Columns": "columns",
    "BitsStored": "bits_stored",
    "PhotometricInterpretation": "photometric_interpretation",
    "PositionerPrimaryAngle": "positioner_primary_angle_deg",
    "PositionerSecondaryAngle": "positioner_secondary_angle_deg",
    "CineRate": "cine_rate_fps",
    "RecommendedDisplayFrameRate": "recommended_display_fps",
    "ImagerPixelSpacing": "imager_pixel_spacing_mm",
    "DistanceSourceToDetector": "distance_source_to_detector_mm",
    "DistanceSourceToPatient": "distance_source_to_patient_mm",
}

#: Hex digits of a salted hash kept (64 bits: no collision among a hospital's patients).
HASH_DIGITS = 16


def default_salt_path() -> Path:
    """Where a generated salt is kept: outside every output folder, in the user's config folder."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "guidewire_seg" / "import_salt"


def load_or_create_salt(path: str | os.PathLike | None = None) -> tuple[str, Path, bool]:
    """The salt stored in ``path`` (default :func:`default_salt_path`), generated there if missing.

    Returns
    -------
    salt : str
    path : Path
        Where it is kept.
    created : bool
        Whether it was generated just now.
    """
    path = Path(path) if path is not None else default_salt_path()
    if path.is_file():
        salt = path.read_text(encoding="utf-8").strip()
        if salt:
            return salt, path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    # Created with owner-only permissions from the start, never readable by others even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(salt + "\n")
    return salt, path, True


def salted_hash(salt: str, value: str) -> str:
    """``sha256(salt, value)`` as :data:`HASH_DIGITS` hex digits."""
    digest = hashlib.sha256()
    # Length-prefixed so ("ab", "c") and ("a", "bc") never hash alike.
    for part in (salt, value):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()[:HASH_DIGITS]


def patient_key(ds: Any) -> str:
    """What identifies the patient of a DICOM data set, for grouping only (never stored).

    PatientID; else PatientName with PatientBirthDate; else StudyInstanceUID (one study is one
    patient); else "" (the caller then groups by series).
    """
    pid = str(getattr(ds, "PatientID", "") or "").strip()
    if pid:
        return "id:" + pid
    name = str(getattr(ds, "PatientName", "") or "").strip()
    if name:
        return "name:" + name + "|" + str(getattr(ds, "PatientBirthDate", "") or "")
    study = str(getattr(ds, "StudyInstanceUID", "") or "").strip()
    return "study:" + study if study else ""


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_plain(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    try:
        return float(value)  # DSfloat, IS and friends
    except (TypeError, ValueError):
        return str(value)


def kept_values(ds: Any) -> dict[str, Any]:
    """The :data:`KEPT_TAGS` present in ``ds``, as plain JSON values under their meta keys."""
    out = {}
    for keyword, key in KEPT_TAGS.items():
        value = getattr(ds, keyword, None)
        if value is not None and value != "":
            out[key] = _plain(value)
    return out
