"""``guidewire_seg/GuidewireArray`` <-> :class:`~guidewire_model.core.wire.Wire`, for any message classes.

The node publishes with rclpy's generated classes and the bag tools write with ``rosbags``'
typestore; both build the message here from the classes they pass in, so the two cannot drift
apart, and this module imports no ROS package. Decoding reads fields only, so it takes a message of
either kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from guidewire_model.core.wire import Wire

__all__ = ["MessageClasses", "guidewire_array", "wires_from_guidewire_array"]


@dataclass(frozen=True)
class MessageClasses:
    """Constructors of the four message types a ``GuidewireArray`` is made of (keyword arguments)."""

    guidewire_array: Callable[..., Any]
    guidewire: Callable[..., Any]
    point: Callable[..., Any]
    vector3: Callable[..., Any]


def _guidewire(classes: MessageClasses, wire: Wire) -> Any:
    point, tip, direction = classes.point, wire.tip, wire.tip_direction
    return classes.guidewire(
        id=int(wire.wire_id),
        points=[point(x=float(x), y=float(y), z=0.0) for x, y in wire.points],
        tip=point(x=float(tip[0]), y=float(tip[1]), z=0.0),
        tip_direction=classes.vector3(x=float(direction[0]), y=float(direction[1]), z=0.0),
        length_px=float(wire.length_px),
        mean_probability=float(wire.mean_probability),
        frames_tracked=int(wire.frames_tracked),
    )


def guidewire_array(classes: MessageClasses, header: Any, width: int, height: int,
                    wires: Sequence[Wire]) -> Any:
    """A ``GuidewireArray`` of ``wires`` with ``header`` (the source image's) copied unchanged.

    Parameters
    ----------
    classes : MessageClasses
        The message classes to build with (rclpy's or a rosbags typestore's).
    header : std_msgs/Header of the same kind
    width, height : int
        Size of the source image [px].
    wires : sequence of Wire
        In publication order (the pipeline's: by id).
    """
    return classes.guidewire_array(header=header, image_width=int(width), image_height=int(height),
                                   wires=[_guidewire(classes, w) for w in wires])


def wires_from_guidewire_array(msg: Any) -> list[Wire]:
    """The wires of a ``GuidewireArray`` (an rclpy or rosbags message), fields as published."""
    out = []
    for w in msg.wires:
        points = np.array([[p.x, p.y] for p in w.points], dtype=np.float64).reshape(-1, 2)
        tip = np.array([w.tip.x, w.tip.y], dtype=np.float64)
        direction = np.array([w.tip_direction.x, w.tip_direction.y], dtype=np.float64)
        out.append(Wire(points, tip, direction, float(w.length_px), float(w.mean_probability),
                        int(w.id), int(w.frames_tracked)))
    return out
