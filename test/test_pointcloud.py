"""PointCloud2 packing of centreline points, decoded the way a foreign reader would."""

from dataclasses import dataclass

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from guidewire_seg_ros import pointcloud
from guidewire_seg_ros.pointcloud import POINT_DTYPE, centrelines_to_cloud, cloud_to_array


@dataclass
class Wire:
    wire_id: int
    points: np.ndarray
    point_probability: np.ndarray


def _wires():
    rng = np.random.default_rng(1)
    return [
        Wire(1, rng.uniform(0, 512, (30, 2)), rng.random(30).astype(np.float32)),
        Wire(2, rng.uniform(0, 512, (12, 2)), rng.random(12).astype(np.float32)),
    ]


def test_fields_offsets_and_steps_decode_back_to_the_points():
    header = Header(frame_id="fluoro")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    wires = _wires()
    cloud = centrelines_to_cloud(header, wires, use_sensor_msgs_py=False)
    assert isinstance(cloud, PointCloud2)
    assert cloud.header.stamp == header.stamp and cloud.header.frame_id == "fluoro_pixels"
    assert (cloud.height, cloud.width) == (1, 42)
    assert cloud.point_step == 24 and cloud.row_step == 24 * 42 and len(cloud.data) == 24 * 42
    names = [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields]
    assert names == [("x", 0, PointField.FLOAT32, 1), ("y", 4, PointField.FLOAT32, 1),
                     ("z", 8, PointField.FLOAT32, 1), ("wire_id", 12, PointField.UINT32, 1),
                     ("index", 16, PointField.UINT32, 1), ("probability", 20, PointField.FLOAT32, 1)]
    pts = cloud_to_array(cloud)
    start = 0
    for wire in wires:
        block = pts[start:start + len(wire.points)]
        np.testing.assert_allclose(block["x"], wire.points[:, 0].astype(np.float32))
        np.testing.assert_allclose(block["y"], wire.points[:, 1].astype(np.float32))
        assert (block["z"] == 0).all() and (block["wire_id"] == wire.wire_id).all()
        assert block["index"].tolist() == list(range(len(wire.points)))
        np.testing.assert_array_equal(block["probability"], wire.point_probability)
        start += len(wire.points)


def test_a_pixel_spacing_gives_metres_in_the_image_frame():
    header = Header(frame_id="fluoro")
    wires = _wires()
    pixels = cloud_to_array(centrelines_to_cloud(header, wires, use_sensor_msgs_py=False))
    cloud = centrelines_to_cloud(header, wires, pixel_spacing_m=0.0002, use_sensor_msgs_py=False)
    metres = cloud_to_array(cloud)
    assert cloud.header.frame_id == "fluoro"
    np.testing.assert_allclose(metres["x"], pixels["x"] * np.float32(0.0002), rtol=1e-6)
    np.testing.assert_allclose(metres["y"], pixels["y"] * np.float32(0.0002), rtol=1e-6)
    np.testing.assert_array_equal(metres["wire_id"], pixels["wire_id"])
    with pytest.raises(ValueError, match="pixel_spacing_m"):
        centrelines_to_cloud(header, wires, pixel_spacing_m=-1.0)


def test_empty_frame_gives_an_empty_valid_cloud():
    cloud = centrelines_to_cloud(Header(), [], use_sensor_msgs_py=False)
    assert cloud.width == 0 and cloud.row_step == 0 and len(cloud.data) == 0
    assert len(cloud_to_array(cloud)) == 0


def test_layout_constant_is_packed_without_padding():
    assert POINT_DTYPE.itemsize == 24


@pytest.mark.skipif(pointcloud._pc2 is None, reason="sensor_msgs_py not installed (PyPI wheels lack it)")
def test_sensor_msgs_py_path_gives_the_same_bytes():  # pragma: no cover - only on a ROS 2 install
    wires = _wires()
    ours = centrelines_to_cloud(Header(), wires, use_sensor_msgs_py=False)
    theirs = centrelines_to_cloud(Header(), wires, use_sensor_msgs_py=True)
    np.testing.assert_array_equal(cloud_to_array(ours), cloud_to_array(theirs))
