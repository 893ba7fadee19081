"""GuidewireArray <-> :class:`~guidewire_model.core.wire.Wire` with rclpy's message classes.

Used by the node (results out), the synthetic publisher (ground truth out) and the recorder (wires
in). The message layout itself is written once, in :mod:`guidewire_model.runtime.wire_messages`,
which the bag tools use with rosbags' classes.
"""

from __future__ import annotations

from typing import Any, Sequence

from geometry_msgs.msg import Point, Vector3

from guidewire_model.core.wire import Wire
from guidewire_model.runtime.wire_messages import MessageClasses, guidewire_array, wires_from_guidewire_array
from guidewire_seg.msg import Guidewire, GuidewireArray

__all__ = ["msg_to_wires", "wires_to_msg"]

_CLASSES = MessageClasses(guidewire_array=GuidewireArray, guidewire=Guidewire, point=Point, vector3=Vector3)


def wires_to_msg(header: Any, width: int, height: int, wires: Sequence[Wire]) -> GuidewireArray:
    """A GuidewireArray of ``wires`` with ``header`` (the source image's) copied unchanged."""
    return guidewire_array(_CLASSES, header, width, height, wires)


def msg_to_wires(msg: Any) -> list[Wire]:
    """The wires of a GuidewireArray (or of anything with its fields, e.g. a rosbags message)."""
    return wires_from_guidewire_array(msg)
