"""GuidewireArray <-> plain Python wires.

Used by the node (results out), the synthetic publisher (ground truth out) and the recorder and bag
evaluator (both directions), so the message layout is written in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from geometry_msgs.msg import Point, Vector3

from guidewire_model.centreline import Centreline
from guidewire_seg.msg import Guidewire, GuidewireArray

__all__ = ["DecodedWire", "msg_to_wires", "wires_to_msg"]


@dataclass(frozen=True)
class DecodedWire:
    """A wire read back from a GuidewireArray (``points`` (N, 2) x/y px, proximal -> distal)."""

    wire_id: int
    points: np.ndarray
    tip: np.ndarray
    tip_direction: np.ndarray
    length_px: float
    mean_probability: float
    frames_tracked: int


def _wire_msg(wire: Any) -> Guidewire:
    points = np.asarray(wire.points, dtype=np.float64).reshape(-1, 2)
    if not hasattr(wire, "tip_direction"):
        # Ground-truth annotations carry only id and points; derive the rest the same way as results.
        line = Centreline.from_points(points)
        tip, direction, length, prob, tracked = line.tip, line.tip_direction, line.length_px, 1.0, 1
    else:
        tip, direction = wire.tip, wire.tip_direction
        length, prob, tracked = wire.length_px, wire.mean_probability, getattr(wire, "frames_tracked", 1)
    return Guidewire(
        id=int(wire.wire_id),
        points=[Point(x=float(x), y=float(y), z=0.0) for x, y in points],
        tip=Point(x=float(tip[0]), y=float(tip[1]), z=0.0),
        tip_direction=Vector3(x=float(direction[0]), y=float(direction[1]), z=0.0),
        length_px=float(length),
        mean_probability=float(prob),
        frames_tracked=int(tracked),
    )


def wires_to_msg(header: Any, width: int, height: int, wires: Sequence[Any]) -> GuidewireArray:
    """Build a GuidewireArray with ``header`` copied (the source image's).

    ``wires`` items need ``wire_id`` and ``points``; ``tip``, ``tip_direction``, ``length_px``,
    ``mean_probability`` and ``frames_tracked`` are used when present (pipeline results) and derived
    from the points otherwise (ground-truth annotations).
    """
    return GuidewireArray(header=header, image_width=int(width), image_height=int(height),
                          wires=[_wire_msg(w) for w in wires])


def msg_to_wires(msg: Any) -> list[DecodedWire]:
    """Decode a GuidewireArray (or anything with its fields, e.g. a rosbags message) into wires."""
    out = []
    for w in msg.wires:
        pts = np.array([[p.x, p.y] for p in w.points], dtype=np.float64).reshape(-1, 2)
        out.append(DecodedWire(
            wire_id=int(w.id), points=pts, tip=np.array([w.tip.x, w.tip.y]),
            tip_direction=np.array([w.tip_direction.x, w.tip_direction.y]),
            length_px=float(w.length_px), mean_probability=float(w.mean_probability),
            frames_tracked=int(w.frames_tracked)))
    return out
