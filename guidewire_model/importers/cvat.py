"""CVAT for images 1.1 (``annotations.xml``) -> annotated images.

Read per ``<image name=... width=... height=...>``: ``<polyline points="x,y;x,y;...">`` (a wire or
catheter as clicked), ``<polygon points=...>`` (an outline) and ``<mask rle=... left top width
height>`` (CVAT's run-length mask of a box: counts alternating background/foreground, row by row).
A shape's ``<attribute name="wire_id">`` (the name is an option) gives its wire id. Other shape
types (boxes, points, ellipses) are ignored like unknown labels. An image's file is
``<images>/<name>``, the sequence it belongs to follows from its name
(:func:`~guidewire_model.importers.annotation.sequence_of`).

Tracks (*CVAT for video 1.1*) are refused with the fix: export the task as *CVAT for images 1.1*.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from guidewire_model.importers.annotation import AnnotatedImage, Shape, resolve_image, sequence_of
from guidewire_model.importers.errors import InputError

__all__ = ["ID_ATTRIBUTE", "decode_mask_rle", "parse_points", "read_cvat"]

#: Default name of the shape attribute holding the wire id (the pre-labelling export writes it).
ID_ATTRIBUTE = "wire_id"


def parse_points(text: str, where: str) -> np.ndarray:
    """CVAT ``points`` (``"x,y;x,y"``) -> (N, 2) float64."""
    try:
        pts = [tuple(float(v) for v in pair.split(",")) for pair in text.strip().split(";") if pair.strip()]
        if any(len(p) != 2 for p in pts):
            raise ValueError("a point is not an x,y pair")
    except ValueError as exc:
        raise InputError(f"{where}: points {text[:60]!r} are not 'x,y;x,y;...' ({exc})") from exc
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def decode_mask_rle(counts: list[int], left: int, top: int, width: int, height: int,
                    size: tuple[int, int], where: str) -> np.ndarray:
    """CVAT mask RLE (row-major runs over the ``width`` x ``height`` box, background first) -> (H, W) bool."""
    if sum(counts) != width * height or any(c < 0 for c in counts):
        raise InputError(f"{where}: mask RLE covers {sum(counts)} pixels but its box is {width}x{height}")
    h, w = size
    if left < 0 or top < 0 or left + width > w or top + height > h:
        raise InputError(f"{where}: mask box {width}x{height} at ({left}, {top}) lies outside the {w}x{h} image")
    values = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    full = np.zeros(size, bool)
    full[top:top + height, left:left + width] = values.reshape(height, width)
    return full


def _int(element: ET.Element, key: str, where: str) -> int:
    try:
        return int(round(float(element.attrib[key])))
    except (KeyError, ValueError) as exc:
        raise InputError(f"{where}: <{element.tag}> needs a numeric {key}= attribute") from exc


def _wire_id(element: ET.Element, id_attribute: str, where: str) -> int | None:
    for attribute in element.findall("attribute"):
        if attribute.get("name") == id_attribute and (attribute.text or "").strip():
            try:
                return int(float(attribute.text))
            except ValueError as exc:
                raise InputError(f"{where}: attribute {id_attribute}={attribute.text!r} is not a number") from exc
    return None


def read_cvat(path: str | os.PathLike, images_dir: str | os.PathLike | None = None,
              id_attribute: str = ID_ATTRIBUTE) -> list[AnnotatedImage]:
    """Parse a CVAT for images 1.1 file.

    Parameters
    ----------
    path : path-like
        ``annotations.xml``.
    images_dir : path-like, optional
        Folder the image names are relative to; default ``images/`` beside the file if it exists
        (CVAT's export with images), else the file's folder.
    id_attribute : str
        Shape attribute holding the wire id.

    Raises
    ------
    InputError
        Naming the file and element: not XML, not CVAT for images, a shape without label or with
        malformed points, a mask RLE that does not fit its box.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"{path}: not a readable XML file ({exc})") from exc
    if root.tag != "annotations":
        raise InputError(f"{path}: root element <{root.tag}>, expected <annotations> of CVAT for images 1.1")
    if root.find("track") is not None:
        raise InputError(f"{path}: holds <track> elements (CVAT for video 1.1); export the task as "
                         "'CVAT for images 1.1' instead")
    if images_dir is None:
        images_dir = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    images_dir = Path(images_dir)
    out = []
    for element in root.iter("image"):
        name = element.get("name")
        where = f"{path}: image {name!r}"
        if not name:
            raise InputError(f"{path}: an <image> element (id {element.get('id')}) has no name")
        size = (_int(element, "height", where), _int(element, "width", where))
        image = AnnotatedImage(name=name, sequence=sequence_of(name, path.stem),
                               image_path=resolve_image(images_dir, name), size=size, where=where)
        for n, shape in enumerate(element, 1):
            if shape.tag not in ("polyline", "polygon", "mask", "box", "points", "ellipse", "cuboid", "skeleton",
                                 "tag"):
                continue
            label = shape.get("label")
            spot = f"{where}, <{shape.tag}> {n} (label {label!r})"
            if not label:
                raise InputError(f"{where}, <{shape.tag}> {n}: no label= attribute")
            wire_id = _wire_id(shape, id_attribute, spot)
            if shape.tag in ("polyline", "polygon"):
                points = parse_points(shape.get("points", ""), spot)
                image.shapes.append(Shape(label, shape.tag, spot, points=points, wire_id=wire_id))
            elif shape.tag == "mask":
                try:
                    counts = [int(float(c)) for c in shape.get("rle", "").split(",") if c.strip()]
                except ValueError as exc:
                    raise InputError(f"{spot}: rle= is not a list of numbers") from exc
                mask = decode_mask_rle(counts, _int(shape, "left", spot), _int(shape, "top", spot),
                                       _int(shape, "width", spot), _int(shape, "height", spot), size, spot)
                image.shapes.append(Shape(label, "mask", spot, mask=mask, wire_id=wire_id))
            else:
                image.shapes.append(Shape(label, shape.tag, spot))  # counted as ignored, never drawn
        out.append(image)
    if not out:
        raise InputError(f"{path}: no <image> element; is this a CVAT for images 1.1 export?")
    return out
