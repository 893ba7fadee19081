"""The one type of a guidewire in one frame, from centreline extraction to messages and bags.

A traced centreline, a tracked wire with its id, a pipeline result with per-point probability, a
ground-truth annotation and a wire read back from a ``GuidewireArray`` are all :class:`Wire`; what a
stage has not filled in keeps its default (``wire_id`` 0 before tracking, ``point_probability``
None outside the pipeline, ``mean_probability`` 1 for ground truth).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from guidewire_model.core.polyline import arc_length

__all__ = ["UNTRACKED", "Wire"]

#: ``wire_id`` of a wire no tracker or annotation has named yet (ids given out are >= 1).
UNTRACKED = 0

# Arc length over which the tip direction is measured [px]: long enough to average the 1 px steps
# of a traced skeleton, short enough to follow the bent tip of a guidewire.
_DIRECTION_PX = 10.0


@dataclass(frozen=True, eq=False)
class Wire:
    """One guidewire in one frame: an ordered centreline and its distal tip.

    Attributes
    ----------
    points : ndarray, shape (N, 2), float64
        (x, y) pixel coordinates of the input image (origin at the centre of the top-left pixel),
        ordered from the proximal end (catheter side) to the distal tip, about 1 px apart when traced.
    tip : ndarray, shape (2,), float64
        The distal tip, ``points[-1]``.
    tip_direction : ndarray, shape (2,), float64
        Unit vector (dx, dy) pointing distally, from the last ~10 px of the curve (zero for a point).
    length_px : float
        Arc length of ``points`` in pixels.
    mean_probability : float
        Mean segmentation probability along ``points``; 1.0 for ground truth and for a mask taken as
        certain.
    wire_id : int
        Track id or annotated instance id (>= 1), stable across the frames of a sequence;
        :data:`UNTRACKED` (0) before tracking.
    frames_tracked : int
        Consecutive frames this id has been seen, this one included (1 for a wire seen once).
    point_probability : ndarray, shape (N,), float32, or None
        The probability map at each point (the pipeline fills it in), None elsewhere.
    """

    points: np.ndarray
    tip: np.ndarray
    tip_direction: np.ndarray
    length_px: float
    mean_probability: float = 1.0
    wire_id: int = UNTRACKED
    frames_tracked: int = 1
    point_probability: np.ndarray | None = None

    def __post_init__(self) -> None:
        # A wire is shared by the tracker, the publisher and the metrics: nobody may edit it in place,
        # however it was made (from points, replaced, or read back from a message).
        for array in (self.points, self.tip, self.tip_direction, self.point_probability):
            if array is not None:
                array.setflags(write=False)

    @classmethod
    def from_points(cls, points: Any, *, wire_id: int = UNTRACKED, mean_probability: float = 1.0,
                    frames_tracked: int = 1, direction_px: float = _DIRECTION_PX) -> "Wire":
        """A wire from its ordered (x, y) points; tip, tip direction and length are derived.

        Parameters
        ----------
        points : array_like, shape (N, 2)
            Ordered proximal -> distal, N >= 1; copied.
        wire_id, mean_probability, frames_tracked
            As the attributes.
        direction_px : float
            Arc length before the tip over which ``tip_direction`` is measured.

        Raises
        ------
        ValueError
            If ``points`` is empty or not (N, 2).
        """
        pts = np.array(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise ValueError(f"a wire needs a non-empty (N, 2) array of (x, y) points, got shape {pts.shape}")
        s = arc_length(pts)
        back = np.searchsorted(s, s[-1] - direction_px, side="right") - 1
        vec = pts[-1] - pts[max(back, 0)]
        norm = float(np.hypot(*vec))
        direction = vec / norm if norm > 1e-9 else np.zeros(2)
        return cls(pts, pts[-1].copy(), direction, float(s[-1]), float(mean_probability), int(wire_id),
                   int(frames_tracked))

    def reversed(self) -> "Wire":
        """The same wire traced the other way (the other end becomes the tip)."""
        out = Wire.from_points(self.points[::-1], wire_id=self.wire_id, mean_probability=self.mean_probability,
                               frames_tracked=self.frames_tracked)
        if self.point_probability is None:
            return out
        return out.with_probability(self.point_probability[::-1])

    def tracked(self, wire_id: int, frames_tracked: int) -> "Wire":
        """This wire under a track id."""
        if wire_id < 1 or frames_tracked < 1:
            raise ValueError(f"a tracked wire needs wire_id >= 1 and frames_tracked >= 1, got {wire_id}, {frames_tracked}")
        return dataclasses.replace(self, wire_id=int(wire_id), frames_tracked=int(frames_tracked))

    def with_probability(self, point_probability: np.ndarray) -> "Wire":
        """This wire with the probability map sampled at each of its points."""
        prob = np.array(point_probability, dtype=np.float32).reshape(-1)
        if len(prob) != len(self.points):
            raise ValueError(f"point_probability has {len(prob)} values for {len(self.points)} points")
        return dataclasses.replace(self, point_probability=prob)

    def to_json(self) -> dict:
        """``{"id", "points", "tip"}`` rounded to 1/1000 px: the annotation files' form."""
        return {
            "id": int(self.wire_id),
            "points": np.round(self.points, 3).tolist(),
            "tip": np.round(self.tip, 3).tolist(),
        }
