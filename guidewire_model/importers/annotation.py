"""What every annotation format is parsed into: images with labelled shapes, before rasterising."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from guidewire_model.data import layout
__all__ = ["AnnotatedImage", "Shape", "resolve_image", "sequence_of"]

#: Shape kinds: an open curve of clicked points, a filled outline, or a pixel mask.
KINDS = ("polyline", "polygon", "mask")


@dataclass(frozen=True)
class Shape:
    """One labelled shape of one image.

    Attributes
    ----------
    label : str
        The annotation tool's label name.
    kind : {"polyline", "polygon", "mask"}
    points : ndarray, (N, 2) float64, or None
        Clicked (x, y) pixel points, in drawing order (polyline, polygon).
    mask : ndarray, (H, W) bool, or None
        Pixel mask at the image's size (mask).
    wire_id : int or None
        Instance id the annotator gave (an attribute, group or track id), else None.
    where : str
        Where it is in the annotation file, for messages (``file: image 'x.png', polyline 2``).
    """

    label: str
    kind: str
    where: str
    points: np.ndarray | None = None
    mask: np.ndarray | None = None
    wire_id: int | None = None


@dataclass
class AnnotatedImage:
    """One annotated frame.

    Attributes
    ----------
    name : str
        The image's name in the annotation file (a relative path).
    sequence : str
        Sequence folder it goes to (:func:`sequence_of`).
    image_path : Path
        Where the frame is read from.
    size : (H, W)
        As the annotation file states it; checked against the frame.
    where : str
        Where it is in the annotation file, for messages.
    shapes : list of Shape
    embedded : bytes or None
        Encoded image carried inside the annotation file (labelme ``imageData``), used when
        ``image_path`` does not exist.
    """

    name: str
    sequence: str
    image_path: Path
    size: tuple[int, int]
    where: str
    shapes: list[Shape] = field(default_factory=list)
    embedded: bytes | None = None

    @property
    def sequence_dir(self) -> Path:
        """The folder of the sequence the frame came from (``frames/``' parent in the layout)."""
        parent = self.image_path.parent
        return parent.parent if parent.name == layout.FRAMES_DIR else parent


def sequence_of(name: str, default: str) -> str:
    """Sequence folder of an image name: its folders, a trailing ``frames`` dropped, joined by ``_``.

    ``P1_S2/frames/000003.png`` and ``P1_S2/000003.png`` go to ``P1_S2``; a bare ``000003.png`` to
    ``default`` (the annotation file's name), so a task of one run needs no folders.
    """
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts[:-1] if p not in ("", ".", "..", "/")]
    if parts and parts[-1] == layout.FRAMES_DIR:
        parts = parts[:-1]
    return "_".join(parts) or default


def resolve_image(images_dir: Path, name: str) -> Path:
    """The file of image ``name``: ``<images>/<name>``, else ``<images>/<folders>/frames/<file>``.

    The second form finds the frames of a ``guidewire-import dicom|video|images`` root from the names
    CVAT tasks made of them carry (``P1_S2/000003.png``), so annotations go back onto the original
    full-depth frames. When neither exists the first is returned (and reported missing).
    """
    direct = images_dir / name
    if direct.is_file():
        return direct
    rel = PurePosixPath(name.replace("\\", "/"))
    in_frames = images_dir / Path(*rel.parts[:-1]) / layout.FRAMES_DIR / rel.name
    return in_frames if in_frames.is_file() else direct
