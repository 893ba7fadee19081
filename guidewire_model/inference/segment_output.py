"""What ``guidewire-segment`` writes for one sequence: masks, centrelines (JSON, CSV), overlays.

::

    <out>/<sequence>/
      masks/000000.png           0/255 guidewire mask at the frame's size
      centrelines/000000.json    {"frame": 0, "time_ms": ..., "wires": [{"id", "points", "tip",
                                  "tip_direction", "length_px", "mean_probability", "frames_tracked"}]}
                                 (the layout's centreline file plus fields; points proximal -> distal)
      centrelines.csv            frame, wire_id, point, x, y, probability   (one row per point)
      wires.csv                  frame, wire_id, tip_x, tip_y, tip_dx, tip_dy, length_px,
                                 mean_probability, frames_tracked, points  (one row per wire)
      overlays/000000.png        mask and wires drawn on the frame   (overlay "png")
      overlay.mp4                the same as a video                 (overlay "mp4")

Coordinates are frame pixels (x right, y down, origin at the centre of the top-left pixel).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from guidewire_model.data import layout
from guidewire_model.runtime.overlay import write_png
from guidewire_model.runtime.pipeline import FrameResult
from guidewire_model.runtime.wire_overlay import render_overlay

__all__ = ["OVERLAY_KINDS", "SequenceOutput"]

OVERLAY_KINDS = ("png", "mp4", "none")
#: Frame rate of overlay videos whose source states none.
DEFAULT_FPS = 15.0

_POINT_COLUMNS = ("frame", "wire_id", "point", "x", "y", "probability")
_WIRE_COLUMNS = ("frame", "wire_id", "tip_x", "tip_y", "tip_dx", "tip_dy", "length_px", "mean_probability",
                 "frames_tracked", "points")


def _wire_json(wire) -> dict:
    return {"id": int(wire.wire_id), "points": np.round(wire.points, 3).tolist(),
            "tip": np.round(wire.tip, 3).tolist(), "tip_direction": np.round(wire.tip_direction, 4).tolist(),
            "length_px": round(float(wire.length_px), 3), "mean_probability": round(float(wire.mean_probability), 4),
            "frames_tracked": int(wire.frames_tracked)}


class SequenceOutput:
    """Writes the results of one sequence, frame by frame; use as a context manager.

    Parameters
    ----------
    folder : Path
        ``<out>/<sequence>``.
    overlay : {"png", "mp4", "none"}
    fps : float, optional
        Overlay video frame rate (default :data:`DEFAULT_FPS`).
    """

    def __init__(self, folder: Path, overlay: str, fps: float | None = None) -> None:
        if overlay not in OVERLAY_KINDS:
            raise ValueError(f"overlay must be one of {OVERLAY_KINDS}, got {overlay!r}")
        self.folder = Path(folder)
        self.overlay = overlay
        self.fps = fps or DEFAULT_FPS
        self.folder.mkdir(parents=True, exist_ok=True)
        self._points_file = open(self.folder / "centrelines.csv", "w", newline="", encoding="utf-8")
        self._wires_file = open(self.folder / "wires.csv", "w", newline="", encoding="utf-8")
        self._points = csv.writer(self._points_file)
        self._wires = csv.writer(self._wires_file)
        self._points.writerow(_POINT_COLUMNS)
        self._wires.writerow(_WIRE_COLUMNS)
        self._video: cv2.VideoWriter | None = None
        self.frames = 0

    def __enter__(self) -> "SequenceOutput":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, index: int, image: np.ndarray, result: FrameResult, time_ms: float | None = None) -> None:
        """Write frame ``index``'s mask, centrelines and overlay."""
        name = layout.frame_name(index)
        mask_path = self.folder / "masks" / name
        mask_path.parent.mkdir(exist_ok=True)
        if not cv2.imwrite(str(mask_path), result.mask.astype(np.uint8) * 255):
            raise OSError(f"{mask_path}: could not write PNG")
        data = {"frame": index, "time_ms": time_ms, "wires": [_wire_json(w) for w in result.wires]}
        json_path = self.folder / layout.CENTRELINES_DIR / layout.frame_name(index, ".json")
        json_path.parent.mkdir(exist_ok=True)
        json_path.write_text(json.dumps(data), encoding="utf-8")
        for wire in result.wires:
            for k, ((x, y), p) in enumerate(zip(wire.points, wire.point_probability)):
                self._points.writerow((index, wire.wire_id, k, f"{x:.3f}", f"{y:.3f}", f"{p:.4f}"))
            self._wires.writerow((index, wire.wire_id, f"{wire.tip[0]:.3f}", f"{wire.tip[1]:.3f}",
                                  f"{wire.tip_direction[0]:.4f}", f"{wire.tip_direction[1]:.4f}",
                                  f"{wire.length_px:.3f}", f"{wire.mean_probability:.4f}", wire.frames_tracked,
                                  len(wire.points)))
        if self.overlay != "none":
            self._add_overlay(name, render_overlay(image, result.mask, result.wires))
        self.frames += 1

    def _add_overlay(self, name: str, rgb: np.ndarray) -> None:
        if self.overlay == "png":
            write_png(self.folder / "overlays" / name, rgb)
            return
        if self._video is None:
            h, w = rgb.shape[:2]
            path = self.folder / "overlay.mp4"
            self._video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._video.isOpened():
                raise OSError(f"{path}: OpenCV cannot write MP4 here; use --overlay png")
        self._video.write(np.ascontiguousarray(rgb[:, :, ::-1]))

    def close(self) -> None:
        """Flush the CSV files and finish the video."""
        self._points_file.close()
        self._wires_file.close()
        if self._video is not None:
            self._video.release()
            self._video = None

    @staticmethod
    def columns() -> tuple[Sequence[str], Sequence[str]]:
        """Header of ``centrelines.csv`` and of ``wires.csv``."""
        return _POINT_COLUMNS, _WIRE_COLUMNS
