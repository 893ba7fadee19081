"""Centreline points as sensor_msgs/PointCloud2, readable by RViz, PCL and recorders without our messages.

Each point: ``x, y`` in the input image's plane, ``z = 0`` (float32), ``wire_id`` and ``index``
(uint32, position along the wire from the proximal end) and ``probability`` (float32). Built with
``sensor_msgs_py.point_cloud2`` where it is importable; otherwise with numpy, packing the same fields at
the same offsets, so both paths produce the same bytes.

Units. REP-103 says a cloud's coordinates are metres in its frame. A fluoroscopy frame has no metric
scale of its own, so by default (``pixel_spacing_m`` 0) the points stay in pixels (x right, y down,
origin at the centre of the top-left pixel) and the cloud's frame is ``<image frame_id>_pixels``
(:func:`cloud_frame_id`): a frame no TF tree publishes, so no consumer mistakes pixels for metres in
the image's frame. With a calibrated ``pixel_spacing_m`` (metres per pixel at the detector), the same
points are scaled to metres and the cloud is in the image's own frame.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

try:  # present on a ROS 2 install, absent from the PyPI wheels
    from sensor_msgs_py import point_cloud2 as _pc2
except ImportError:  # pragma: no cover - depends on the install
    _pc2 = None

__all__ = ["PIXEL_FRAME_SUFFIX", "POINT_DTYPE", "POINT_FIELDS", "centrelines_to_cloud", "cloud_frame_id",
           "cloud_to_array"]

#: Appended to the image's frame id for a cloud in pixel units (see the module docstring).
PIXEL_FRAME_SUFFIX = "_pixels"

#: Packed layout of one point (little-endian, no padding): 24 bytes.
POINT_DTYPE = np.dtype(
    [
        ("x", "<f4"),
        ("y", "<f4"),
        ("z", "<f4"),
        ("wire_id", "<u4"),
        ("index", "<u4"),
        ("probability", "<f4"),
    ]
)

_DATATYPE = {np.dtype("<f4"): PointField.FLOAT32, np.dtype("<u4"): PointField.UINT32}

POINT_FIELDS = [
    PointField(name=name, offset=POINT_DTYPE.fields[name][1], datatype=_DATATYPE[POINT_DTYPE.fields[name][0]], count=1)
    for name in POINT_DTYPE.names
]


def cloud_frame_id(image_frame_id: str, pixel_spacing_m: float) -> str:
    """The cloud's frame: the image's in metres (``pixel_spacing_m`` > 0), its ``_pixels`` frame in pixels."""
    return image_frame_id if pixel_spacing_m > 0 else image_frame_id + PIXEL_FRAME_SUFFIX


def _points_array(wires: Sequence[Any], scale: float) -> np.ndarray:
    """Structured array of all wires' points; ``wires`` items have ``wire_id``, ``points``,
    ``point_probability``."""
    total = sum(len(w.points) for w in wires)
    out = np.zeros(total, dtype=POINT_DTYPE)
    start = 0
    for wire in wires:
        n = len(wire.points)
        block = out[start : start + n]
        block["x"] = wire.points[:, 0] * scale
        block["y"] = wire.points[:, 1] * scale
        block["wire_id"] = wire.wire_id
        block["index"] = np.arange(n)
        block["probability"] = wire.point_probability
        start += n
    return out


def centrelines_to_cloud(header: Any, wires: Sequence[Any], pixel_spacing_m: float = 0.0,
                         use_sensor_msgs_py: bool | None = None) -> PointCloud2:
    """Pack centreline points into an unorganised PointCloud2 (height 1) stamped as the image.

    Parameters
    ----------
    header : std_msgs.msg.Header
        The source image's header: its stamp is copied, its frame id gives the cloud's
        (:func:`cloud_frame_id`).
    wires : sequence
        Items with ``wire_id`` (int), ``points`` ((N, 2) float, x/y px) and ``point_probability`` ((N,)).
    pixel_spacing_m : float
        Metres per pixel at the detector; 0 keeps pixel units (see the module docstring).
    use_sensor_msgs_py : bool, optional
        Force (True) or avoid (False) ``sensor_msgs_py``; default: use it when importable.
    """
    if pixel_spacing_m < 0:
        raise ValueError(f"pixel_spacing_m must be >= 0, got {pixel_spacing_m}")
    header = type(header)(stamp=header.stamp, frame_id=cloud_frame_id(header.frame_id, pixel_spacing_m))
    points = _points_array(wires, pixel_spacing_m if pixel_spacing_m > 0 else 1.0)
    if use_sensor_msgs_py is None:
        use_sensor_msgs_py = _pc2 is not None
    if use_sensor_msgs_py:
        if _pc2 is None:
            raise RuntimeError("sensor_msgs_py is not importable here")
        return _pc2.create_cloud(header, POINT_FIELDS, points.tolist())
    cloud = PointCloud2()
    cloud.header = header
    cloud.height = 1
    cloud.width = len(points)
    cloud.fields = list(POINT_FIELDS)
    cloud.is_bigendian = False  # POINT_DTYPE is little-endian on every host
    cloud.point_step = POINT_DTYPE.itemsize
    cloud.row_step = POINT_DTYPE.itemsize * len(points)
    cloud.data = points.tobytes()
    cloud.is_dense = True
    return cloud


def cloud_to_array(cloud: PointCloud2) -> np.ndarray:
    """Decode a PointCloud2 into a structured array by reading its own fields, offsets and steps.

    Works for any cloud whose fields are FLOAT32/UINT32 scalars, not only ours, so tests check the
    packed layout the way a foreign reader would.
    """
    kinds = {PointField.FLOAT32: "f4", PointField.UINT32: "u4", PointField.INT32: "i4", PointField.FLOAT64: "f8"}
    order = ">" if cloud.is_bigendian else "<"
    dtype = np.dtype(
        {
            "names": [f.name for f in cloud.fields],
            "formats": [order + kinds[f.datatype] for f in cloud.fields],
            "offsets": [f.offset for f in cloud.fields],
            "itemsize": cloud.point_step,
        }
    )
    n = cloud.width * cloud.height
    raw = np.frombuffer(memoryview(cloud.data).cast("B"), dtype=np.uint8)
    rows = raw.reshape(cloud.height, cloud.row_step)[:, : cloud.width * cloud.point_step]
    return np.ascontiguousarray(rows).view(dtype).reshape(n)
