"""Annotated images -> layout sequences: frames, masks, instances, centrelines, exclude masks, meta.json.

Shared by the CVAT, COCO and labelme importers, which only parse their format into
:class:`~guidewire_model.importers.annotation.AnnotatedImage` lists. For each frame:

* shapes labelled as guidewire (``wire_labels``) are wires: a polyline through
  :func:`~guidewire_model.importers.wire_geometry.fit_spline` drawn ``wire_width`` px wide; a polygon
  or mask as its pixels, its centreline traced from them. All wires together are ``masks/``; wire k
  alone is value k of ``instances/``; the ordered curves (proximal -> distal,
  :func:`~guidewire_model.importers.wire_geometry.orient`) with their tips are ``centrelines/``;
* shapes labelled as catheter (``catheter_labels``) go to ``exclude/`` only -- never to the
  guidewire mask -- and decide which wire end is proximal; frames without one get no exclude file;
* other labels are counted in the summary and otherwise ignored.

**Wire ids**: the annotator's (a ``wire_id`` attribute, labelme ``group_id``, ...) where given;
otherwise a wire keeps the id of the nearest wire of the previous frame of its sequence (symmetric
mean closest-point distance within :data:`ID_MATCH_PX`, optimal assignment as in the node's tracker),
and a new wire takes the smallest id not yet used in the sequence.

Frames of a sequence are ordered by their image names (numbers compared as numbers) and numbered
from 0. ``meta.json`` is the source sequence's own (a DICOM import's patient hash and frame times
survive) with the annotation file noted, else ``{"patient": <sequence>}``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from guidewire_model.data import layout
from guidewire_model.data.frame_folder import FolderError, natural_key, read_gray
from guidewire_model.runtime.tracking import assign
from guidewire_model.importers.annotation import KINDS, AnnotatedImage, Shape
from guidewire_model.importers.errors import InputError
from guidewire_model.importers.wire_geometry import (CATHETER_WIDTH_PX, MIN_WIDTH_PX, WIRE_WIDTH_PX, area_centreline, draw_curve,
                            fill_polygon, fit_spline, orient)
from guidewire_model.core.wire import Wire

__all__ = ["ID_MATCH_PX", "ImportSummary", "LabelOptions", "render_frame", "write_annotated"]

#: Gate of the frame-to-frame id matching [px of mean curve distance].
ID_MATCH_PX = 40.0


@dataclass(frozen=True)
class LabelOptions:
    """How annotations become ground truth.

    Attributes
    ----------
    wire_labels, catheter_labels : tuple of str
        Label names (case-insensitive) of guidewires and of catheters.
    wire_width, catheter_width : float
        Drawn width of a wire / catheter polyline [px].
    as_drawn : bool
        Keep the click order as proximal -> distal instead of the orientation rule.
    skip_empty : bool
        Leave out frames without any wire shape (a task annotated only in part); by default such a
        frame is kept as "no wire visible".
    """

    wire_labels: tuple[str, ...] = ("guidewire",)
    catheter_labels: tuple[str, ...] = ("catheter",)
    wire_width: float = WIRE_WIDTH_PX
    catheter_width: float = CATHETER_WIDTH_PX
    as_drawn: bool = False
    skip_empty: bool = False

    def __post_init__(self) -> None:
        wires = {s.lower() for s in self.wire_labels}
        if wires & {s.lower() for s in self.catheter_labels}:
            raise InputError(f"labels {sorted(wires & {s.lower() for s in self.catheter_labels})} are named both "
                             "wire and catheter; a catheter is never guidewire, so give them different labels")
        for name, value, top in (("wire", self.wire_width, 64.0), ("catheter", self.catheter_width, 128.0)):
            if not MIN_WIDTH_PX <= value <= top:
                raise InputError(f"{name} width {value} px is outside [{MIN_WIDTH_PX}, {top}]")

    def is_wire(self, label: str) -> bool:
        return label.lower() in {s.lower() for s in self.wire_labels}

    def is_catheter(self, label: str) -> bool:
        return label.lower() in {s.lower() for s in self.catheter_labels}


@dataclass
class RenderedFrame:
    """Ground truth of one frame before ids are assigned: wire k is ``wires[k]``, pixels ``areas[k]``."""

    wires: list[np.ndarray | None]
    areas: list[np.ndarray]
    given_ids: list[int | None]
    exclude: np.ndarray | None


@dataclass
class ImportSummary:
    """What an annotation import wrote and left out."""

    sequences: dict[str, int] = field(default_factory=dict)
    wires: int = 0
    catheters: int = 0
    ignored_labels: Counter = field(default_factory=Counter)
    untraced: list[str] = field(default_factory=list)
    skipped_empty: int = 0


def _shape_pixels(shape: Shape, size: tuple[int, int], width: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(pixels, curve): a polyline's drawn pixels and spline; a polygon's or mask's pixels, curve None."""
    canvas = np.zeros(size, np.uint8)
    if shape.kind == "polyline":
        curve = fit_spline(shape.points, shape.where)
        return draw_curve(canvas, curve, width), curve
    if shape.kind == "polygon":
        if shape.points is None or len(shape.points) < 3:
            raise InputError(f"{shape.where}: a polygon needs at least three points")
        return fill_polygon(canvas, shape.points), None
    if shape.mask is None or shape.mask.shape != size:
        raise InputError(f"{shape.where}: mask of size {None if shape.mask is None else shape.mask.shape} on an "
                         f"image of {size[1]}x{size[0]} px")
    return shape.mask.astype(np.uint8), None


def render_frame(image: AnnotatedImage, options: LabelOptions, summary: ImportSummary) -> RenderedFrame:
    """Rasterise the shapes of one frame (size ``image.size``) by ``options``; counts go to ``summary``."""
    size = image.size
    h, w = size
    exclude = None
    wires = [s for s in image.shapes if s.kind in KINDS and options.is_wire(s.label)]
    for shape in image.shapes:
        known = options.is_wire(shape.label) or options.is_catheter(shape.label)
        if shape.kind not in KINDS or not known:
            # A wire drawn as a box or point cannot be ground truth; name its type in the summary.
            summary.ignored_labels[f"{shape.label} ({shape.kind})" if known else shape.label] += 1
        elif options.is_catheter(shape.label):
            pixels, _ = _shape_pixels(shape, size, options.catheter_width)
            exclude = pixels if exclude is None else np.maximum(exclude, pixels)
            summary.catheters += 1
    curves, areas = [], []
    for shape in wires:
        pixels, curve = _shape_pixels(shape, size, options.wire_width)
        if curve is None:
            curve = area_centreline(pixels)
            if curve is None:
                summary.untraced.append(shape.where)
        if curve is not None:
            # The layout's coordinates are pixel centres inside the frame.
            curve = orient(np.clip(curve, [0.0, 0.0], [w - 1.0, h - 1.0]), size, exclude, options.as_drawn)
        curves.append(curve)
        areas.append(pixels)
    return RenderedFrame(curves, areas, [s.wire_id for s in wires], exclude)


def _assign_ids(frames: list[RenderedFrame], where: list[str]) -> list[list[int]]:
    """Ids of the wires of consecutive frames of one sequence (module docstring)."""
    out: list[list[int]] = []
    previous: list[tuple[int, Wire]] = []
    # New ids are the smallest never used in the sequence, given ones included, so they never collide.
    taken = {i for f in frames for i in f.given_ids if i is not None}
    fresh = (k for k in range(1, 1 << 16) if k not in taken)
    for frame, place in zip(frames, where):
        given = [i for i in frame.given_ids if i is not None]
        if len(given) != len(set(given)):
            raise InputError(f"{place}: two wires carry the same wire id {Counter(given).most_common(1)[0][0]}; "
                             "each wire of a frame needs its own id")
        ids: list[int | None] = list(frame.given_ids)
        free = [(k, c) for k, c in previous if k not in given]
        open_ = [j for j, i in enumerate(ids) if i is None and frame.wires[j] is not None]
        lines = [Wire.from_points(frame.wires[j]) for j in open_]
        for r, c in assign([c for _, c in free], lines, ID_MATCH_PX):
            ids[open_[c]] = free[r][0]
        for j, i in enumerate(ids):
            if i is None:
                ids[j] = next(fresh)
        if max(ids, default=0) > 255 or min(ids, default=1) < 1:
            raise InputError(f"{place}: wire ids must be 1-255 (instance masks are 8-bit), got {sorted(ids)}")
        out.append([int(i) for i in ids])
        previous = [(i, Wire.from_points(c)) for i, c in zip(ids, frame.wires) if c is not None]
    return out


def _read_image(image: AnnotatedImage) -> np.ndarray:
    if image.image_path.is_file():
        try:
            frame = read_gray(image.image_path)
        except FolderError as exc:
            raise InputError(f"{image.where}: {exc}") from exc
    elif image.embedded is not None:
        decoded = cv2.imdecode(np.frombuffer(image.embedded, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise InputError(f"{image.where}: the image embedded in the annotation cannot be decoded")
        frame = cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY) if decoded.ndim == 3 else decoded
    else:
        raise InputError(f"{image.where}: names a frame that does not exist (looked for {image.image_path}); "
                         "pass the folder holding the annotated images with --images")
    if frame.shape != tuple(image.size):
        raise InputError(f"{image.where}: the annotation is for a {image.size[1]}x{image.size[0]} px image but "
                         f"{image.image_path} is {frame.shape[1]}x{frame.shape[0]} px; annotate the frames as imported "
                         "(no resizing) or pass the images that were annotated")
    return frame


def _meta(images: list[AnnotatedImage], sequence: str, annotation_file: str) -> dict:
    path = images[0].sequence_dir / layout.META_FILE
    meta = None
    if path.is_file():
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
    meta = meta if isinstance(meta, dict) else {"patient": sequence}
    meta["annotations"] = {"file": annotation_file, "images": [i.name for i in images]}
    meta["frames"] = len(images)
    return meta


def write_annotated(images: Sequence[AnnotatedImage], root: Path, options: LabelOptions, annotation_file: str,
                    progress: bool = True) -> ImportSummary:
    """Write annotated frames as layout sequences under ``root`` (a staging folder).

    Every frame is checked (exists, has the stated size, shapes valid) before its sequence is written.

    Parameters
    ----------
    images : sequence of AnnotatedImage
    root : Path
    options : LabelOptions
    annotation_file : str
        Name of the annotation file, noted in ``meta.json``.
    progress : bool
        A tqdm bar over the frames.

    Raises
    ------
    InputError
        Naming the annotation file and image: a missing frame, a size mismatch, an invalid shape,
        repeated wire ids, or nothing to import.
    """
    summary = ImportSummary()
    by_sequence: dict[str, list[AnnotatedImage]] = defaultdict(list)
    for image in images:
        if options.skip_empty and not any(s.kind in KINDS and options.is_wire(s.label) for s in image.shapes):
            summary.skipped_empty += 1
            continue
        by_sequence[image.sequence].append(image)
    if not by_sequence:
        raise InputError(f"{annotation_file}: no image to import"
                         + (" (every image lacks a wire shape and --skip-empty is set)" if images else ""))
    with tqdm(total=sum(map(len, by_sequence.values())), unit="frame", desc="import", disable=not progress) as bar:
        for sequence in sorted(by_sequence):
            members = sorted(by_sequence[sequence], key=lambda i: natural_key(i.name))
            names = Counter(i.name for i in members)
            if names.most_common(1)[0][1] > 1:
                raise InputError(f"{members[0].where}: image {names.most_common(1)[0][0]!r} is annotated twice")
            frames = [_read_image(i) for i in members]
            for member, frame in zip(members[1:], frames[1:]):
                if frame.shape != frames[0].shape or frame.dtype != frames[0].dtype:
                    raise InputError(f"{member.where}: {frame.shape[1]}x{frame.shape[0]} px "
                                     f"{frame.dtype} but {members[0].name} of the same sequence is "
                                     f"{frames[0].shape[1]}x{frames[0].shape[0]} px {frames[0].dtype}")
            rendered = [render_frame(i, options, summary) for i in members]
            ids = _assign_ids(rendered, [i.where for i in members])
            seq_dir = root / sequence
            for index, (frame, result, wire_ids) in enumerate(zip(frames, rendered, ids)):
                instances = np.zeros(frame.shape, np.uint8)
                for area, k in zip(result.areas, wire_ids):
                    instances[area > 0] = k  # where wires cross, the one drawn last keeps the pixel
                wires = sorted((Wire.from_points(c, wire_id=k) for c, k in zip(result.wires, wire_ids) if c is not None),
                               key=lambda a: a.wire_id)
                # exclude/ only where a catheter was drawn: an empty one would claim "no catheter here".
                exclude = None if result.exclude is None else (result.exclude > 0).astype(np.uint8)
                layout.write_sample(seq_dir, index, frame, (instances > 0).astype(np.uint8), instances, wires,
                                    exclude=exclude)
                summary.wires += len(result.areas)
                bar.update(1)
            layout.write_meta(seq_dir, _meta(members, sequence, annotation_file))
            summary.sequences[sequence] = len(members)
    return summary
