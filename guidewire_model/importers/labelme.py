"""labelme folders (one JSON per image) -> annotated images.

Shapes read: ``linestrip`` and ``line`` (clicked points of a wire or catheter), ``polygon`` (an
outline); other shape types are ignored like unknown labels. ``group_id`` is the wire id. The image
is ``imagePath`` relative to the JSON file, or ``imageData`` (base64, embedded) when that file is
missing. The JSON files directly in the folder are one sequence named after the folder; each
sub-folder holding JSON files is a sequence of its own (named by its path, ``/`` -> ``_``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

import numpy as np

from guidewire_model.importers.annotation import AnnotatedImage, Shape
from guidewire_model.importers.errors import InputError

__all__ = ["read_labelme"]

_KINDS = {"linestrip": "polyline", "line": "polyline", "polygon": "polygon"}


def _read_one(path: Path, sequence: str, name: str) -> AnnotatedImage:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        shapes = data["shapes"]
        size = (int(data["imageHeight"]), int(data["imageWidth"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a labelme file (needs shapes, imageHeight, imageWidth; {exc})") from exc
    where = f"{path}"
    image_path = path.parent / str(data.get("imagePath") or "")
    embedded = None
    if data.get("imageData"):
        try:
            embedded = base64.b64decode(data["imageData"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"{path}: imageData is not base64 ({exc})") from exc
    if not data.get("imagePath") and embedded is None:
        raise InputError(f"{path}: neither imagePath nor imageData; the annotated frame is unknown")
    image = AnnotatedImage(name=name, sequence=sequence, image_path=image_path, size=size, where=where,
                           embedded=embedded)
    for n, shape in enumerate(shapes, 1):
        label = str(shape.get("label", ""))
        kind = str(shape.get("shape_type") or "polygon")  # labelme leaves it out for polygons
        spot = f"{where}: shape {n} (label {label!r}, {kind})"
        if kind not in _KINDS:
            image.shapes.append(Shape(label, kind, spot))
            continue
        try:
            points = np.asarray(shape.get("points"), dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{spot}: points are not [[x, y], ...]") from exc
        group = shape.get("group_id")
        image.shapes.append(Shape(label, _KINDS[kind], spot, points=points,
                                  wire_id=None if group in (None, "") else int(group)))
    return image


def read_labelme(folder: str | os.PathLike) -> list[AnnotatedImage]:
    """Parse the labelme JSON files under ``folder`` (rules in the module docstring).

    Raises
    ------
    InputError
        Naming the file: no JSON files, a file that is not labelme, malformed points.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder of labelme JSON files")
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise InputError(f"{folder}: no labelme *.json files")
    out = []
    for path in files:
        rel = path.relative_to(folder)
        sequence = "_".join(rel.parts[:-1]) or folder.name
        out.append(_read_one(path, sequence, rel.as_posix()))
    return out
