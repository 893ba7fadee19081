"""COCO JSON -> annotated images.

A wire is read from an annotation of a wire category in one of two ways:

* ``keypoints`` (``[x1, y1, v1, x2, y2, v2, ...]``, COCO keypoints): the visible points (``v > 0``) in
  their listed order are the clicked points of a polyline;
* ``segmentation``: polygons (``[[x1, y1, x2, y2, ...], ...]``) or a run-length mask (``{"counts",
  "size"}``, uncompressed list or COCO's compressed string; column-major, as pycocotools writes it)
  are the wire's pixels, its centreline traced from them.

The image file is ``<images>/<file_name>``; the sequence follows from ``file_name``
(:func:`~guidewire_model.importers.annotation.sequence_of`). A wire id comes from
``attributes.wire_id`` or ``track_id`` of the annotation when present.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from guidewire_model.importers.annotation import AnnotatedImage, Shape, resolve_image, sequence_of
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.wire_geometry import fill_polygon

__all__ = ["decode_coco_rle", "read_coco"]


def _rle_string_counts(text: str) -> list[int]:
    """COCO's compressed RLE string (pycocotools ``rleFrString``) -> run lengths."""
    counts: list[int] = []
    i = 0
    while i < len(text):
        value, shift, more = 0, 0, True
        while more:
            c = ord(text[i]) - 48
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            i += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def decode_coco_rle(rle: dict, size: tuple[int, int], where: str) -> np.ndarray:
    """A COCO RLE (``counts`` list or string, ``size`` [h, w]) -> (H, W) bool."""
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
        counts = _rle_string_counts(counts) if isinstance(counts, str) else [int(c) for c in counts]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise InputError(f"{where}: segmentation RLE is not {{'counts': ..., 'size': [h, w]}} ({exc})") from exc
    if (h, w) != tuple(size):
        raise InputError(f"{where}: RLE of size {w}x{h} on an image of {size[1]}x{size[0]} px")
    if sum(counts) != h * w or any(c < 0 for c in counts):
        raise InputError(f"{where}: RLE covers {sum(counts)} pixels, the image has {h * w}")
    flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    return flat.reshape(w, h).T  # column-major


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise InputError(f"{path}: not a COCO file (needs 'images' and 'annotations' lists)")
    return data


def _wire_id(ann: dict) -> int | None:
    value = (ann.get("attributes") or {}).get("wire_id", ann.get("track_id"))
    return None if value in (None, "") else int(value)


def _shape(ann: dict, label: str, size: tuple[int, int], where: str) -> Shape:
    keypoints = ann.get("keypoints")
    if keypoints:
        values = np.asarray(keypoints, dtype=np.float64)
        if values.size % 3:
            raise InputError(f"{where}: keypoints must be x, y, v triples, got {values.size} numbers")
        triples = values.reshape(-1, 3)
        return Shape(label, "polyline", where, points=triples[triples[:, 2] > 0, :2], wire_id=_wire_id(ann))
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, dict):
        return Shape(label, "mask", where, mask=decode_coco_rle(segmentation, size, where), wire_id=_wire_id(ann))
    if isinstance(segmentation, list) and segmentation:
        canvas = np.zeros(size, np.uint8)
        for polygon in segmentation:
            pts = np.asarray(polygon, dtype=np.float64)
            if pts.size < 6 or pts.size % 2:
                raise InputError(f"{where}: a segmentation polygon needs at least three x, y pairs")
            fill_polygon(canvas, pts.reshape(-1, 2))
        return Shape(label, "mask", where, mask=canvas > 0, wire_id=_wire_id(ann))
    raise InputError(f"{where}: neither keypoints nor segmentation; nothing to draw")


def read_coco(path: str | os.PathLike, images_dir: str | os.PathLike | None = None,
              labels: set[str] | None = None) -> list[AnnotatedImage]:
    """Parse a COCO annotation file.

    Parameters
    ----------
    path : path-like
    images_dir : path-like, optional
        Folder ``file_name`` is relative to; default the JSON file's folder.
    labels : set of str, optional
        Category names (lower case) whose annotations are read; others only counted as ignored.
        ``None`` reads all.

    Raises
    ------
    InputError
        Naming the file and annotation: not COCO, an annotation naming an image or category that does
        not exist, malformed keypoints, polygons or RLE.
    """
    path = Path(path)
    data = _load(path)
    images_dir = Path(images_dir) if images_dir is not None else path.parent
    categories = {c.get("id"): str(c.get("name")) for c in data.get("categories") or []}
    images: dict[Any, AnnotatedImage] = {}
    for entry in data["images"]:
        name = entry.get("file_name")
        where = f"{path}: image {name!r}"
        try:
            size = (int(entry["height"]), int(entry["width"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: needs file_name, width and height") from exc
        if not name:
            raise InputError(f"{path}: image id {entry.get('id')} has no file_name")
        images[entry.get("id")] = AnnotatedImage(name=name, sequence=sequence_of(name, path.stem),
                                                 image_path=resolve_image(images_dir, name), size=size, where=where)
    for n, ann in enumerate(data["annotations"], 1):
        where = f"{path}: annotation {ann.get('id', n)}"
        image = images.get(ann.get("image_id"))
        if image is None:
            raise InputError(f"{where}: names image_id {ann.get('image_id')!r}, which is not in 'images'")
        if ann.get("category_id") not in categories:
            raise InputError(f"{where}: names category_id {ann.get('category_id')!r}, which is not in 'categories'")
        label = categories[ann["category_id"]]
        spot = f"{image.where}, annotation {ann.get('id', n)} (label {label!r})"
        if labels is not None and label.lower() not in labels:
            image.shapes.append(Shape(label, "ignored", spot))
            continue
        image.shapes.append(_shape(ann, label, image.size, spot))
    if not images:
        raise InputError(f"{path}: no images listed")
    return list(images.values())
