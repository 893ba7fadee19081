"""The model's centrelines as a CVAT for images 1.1 task: pre-labelling for annotators.

``guidewire-segment ... --export cvat`` writes ``<out>/cvat/annotations.xml`` and, under
``<out>/cvat/images/``, an 8-bit copy of every frame by the same name (CVAT shows 16-bit PNGs badly,
so 16-bit frames are shifted down 8 bits). Each traced wire is a ``<polyline label="guidewire">``
with points every :data:`POINT_SPACING_PX` px along the centreline, proximal end first, and its
tracker id as the ``wire_id`` attribute; the task's labels (``guidewire`` polyline with
``wire_id``, ``catheter`` polyline) are declared in ``<meta>``. Annotators upload the images,
import the file (format *CVAT 1.1*), correct the polylines and export *CVAT for images 1.1*;
``guidewire-import cvat`` reads that back (:mod:`.cvat`).

Image names are ``<sequence>/<frame file>``: ``guidewire-import cvat --images <frames root>`` then
finds the original full-depth frames of a ``guidewire-import dicom`` root as well as these copies.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.core.polyline import resample
from guidewire_model.importers.errors import InputError

__all__ = ["POINT_SPACING_PX", "CvatExport"]

#: Spacing of the exported polyline points [px]: few enough to edit, dense enough that the spline
#: through them stays within a fraction of a pixel of the traced centreline.
POINT_SPACING_PX = 10.0


def _points_text(points: np.ndarray) -> str:
    return ";".join(f"{x:.2f},{y:.2f}" for x, y in points)


class CvatExport:
    """Collects frames and wires, then writes the CVAT task folder.

    Parameters
    ----------
    folder : path-like
        Output folder (``annotations.xml`` and ``images/``).
    wire_label, catheter_label : str
        Label names declared in the task.
    """

    def __init__(self, folder: str | os.PathLike, wire_label: str = "guidewire",
                 catheter_label: str = "catheter") -> None:
        self.folder = Path(folder)
        self.wire_label = wire_label
        self.catheter_label = catheter_label
        self._root = ET.Element("annotations")
        ET.SubElement(self._root, "version").text = "1.1"
        self._declare_labels(ET.SubElement(ET.SubElement(self._root, "meta"), "task"))
        self._count = 0

    def _declare_labels(self, task: ET.Element) -> None:
        ET.SubElement(task, "name").text = "guidewire pre-labelling"
        labels = ET.SubElement(task, "labels")
        for name, with_id in ((self.wire_label, True), (self.catheter_label, False)):
            label = ET.SubElement(labels, "label")
            ET.SubElement(label, "name").text = name
            ET.SubElement(label, "type").text = "polyline"
            attributes = ET.SubElement(label, "attributes")
            if with_id:
                attribute = ET.SubElement(attributes, "attribute")
                for key, value in (("name", "wire_id"), ("mutable", "True"), ("input_type", "number"),
                                   ("default_value", "1"), ("values", "1\n255\n1")):
                    ET.SubElement(attribute, key).text = value

    def add(self, name: str, image: np.ndarray, wires: Sequence) -> None:
        """Add one frame: its 8-bit copy under ``images/<name>`` and its wires as polylines.

        Parameters
        ----------
        name : str
            Image name, a relative path such as ``run1/000003.png``.
        image : ndarray, (H, W) uint8 or uint16
        wires : sequence
            Items with ``wire_id`` and ``points`` ((N, 2), proximal -> distal).
        """
        path = self.folder / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        display = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image
        if not cv2.imwrite(str(path), display):
            raise InputError(f"{path}: could not write the image")
        h, w = image.shape[:2]
        element = ET.SubElement(self._root, "image", id=str(self._count), name=name, width=str(w), height=str(h))
        self._count += 1
        for wire in wires:
            points = np.asarray(wire.points, dtype=np.float64)
            if len(points) < 2:
                continue
            shape = ET.SubElement(element, "polyline", label=self.wire_label, source="auto", occluded="0",
                                  points=_points_text(resample(points, POINT_SPACING_PX)), z_order="0")
            ET.SubElement(shape, "attribute", name="wire_id").text = str(int(wire.wire_id))

    def write(self) -> Path:
        """Write ``annotations.xml``; returns its path."""
        path = self.folder / "annotations.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        ET.indent(self._root)
        ET.ElementTree(self._root).write(path, encoding="utf-8", xml_declaration=True)
        return path
