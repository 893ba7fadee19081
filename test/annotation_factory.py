"""Known wires and the annotation files that describe them (CVAT XML, COCO, labelme) for importer tests."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from guidewire_model.data import layout
SHAPE = (96, 128)  # (H, W) of every test frame


def arc(centre, radius, start_deg, end_deg, n=400) -> np.ndarray:
    """Dense (n, 2) points of a circular arc: the true wire an annotator clicks along."""
    t = np.radians(np.linspace(start_deg, end_deg, n))
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], axis=1)


def clicks(curve: np.ndarray, n: int) -> np.ndarray:
    """``n`` points along ``curve`` (ends included), as an annotator would click them."""
    return curve[np.linspace(0, len(curve) - 1, n).round().astype(int)]


def distance_to(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Distance of every point to the (dense) curve [px]."""
    return np.min(np.hypot(*(points[:, None, :] - curve[None, :, :]).transpose(2, 0, 1)), axis=1)


def pixels(mask: np.ndarray) -> np.ndarray:
    """(x, y) of the non-zero pixels of a mask."""
    rows, cols = np.nonzero(mask)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def write_frames(seq_dir: Path, n: int, dtype=np.uint16, seed=0, shape=SHAPE) -> list[np.ndarray]:
    """``n`` random frames as a sequence of a ``guidewire-import dicom`` root (frames/ only)."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    frames = [rng.integers(0, top, shape, dtype=dtype, endpoint=True) for _ in range(n)]
    for i, frame in enumerate(frames):
        layout.write_frame(seq_dir, i, frame)
    return frames


def points_text(points: np.ndarray) -> str:
    return ";".join(f"{x:.3f},{y:.3f}" for x, y in points)


def cvat_xml(path: Path, images: list[dict]) -> Path:
    """CVAT for images 1.1: ``images`` = [{"name", "width", "height", "shapes": [{"tag", "label", "points"
    | "rle"+"box", "wire_id"?}]}]."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    for i, image in enumerate(images):
        el = ET.SubElement(root, "image", id=str(i), name=image["name"], width=str(image.get("width", SHAPE[1])),
                           height=str(image.get("height", SHAPE[0])))
        for shape in image["shapes"]:
            attrs = {"label": shape["label"], "source": "manual", "occluded": "0", "z_order": "0"}
            if shape["tag"] == "mask":
                left, top, width, height = shape["box"]
                attrs.update(rle=", ".join(map(str, shape["rle"])), left=str(left), top=str(top), width=str(width),
                             height=str(height))
            else:
                attrs["points"] = points_text(shape["points"])
            sub = ET.SubElement(el, shape["tag"], **attrs)
            if shape.get("wire_id") is not None:
                ET.SubElement(sub, "attribute", name="wire_id").text = str(shape["wire_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def _runs(flat: np.ndarray) -> list[int]:
    """Lengths of alternating runs of a flat boolean array, background first (both RLEs)."""
    counts, value, run = [], False, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return counts


def cvat_rle(patch: np.ndarray) -> list[int]:
    """CVAT's mask RLE of a boolean patch: row-major runs, background first."""
    return _runs(patch.astype(bool).ravel())


def coco_rle_string(mask: np.ndarray) -> str:
    """COCO's compressed RLE string of a mask (column-major runs; pycocotools' rleToString)."""
    counts = _runs(mask.astype(bool).T.ravel())
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
