"""The shipped Fast DDS profile is found, parsed by Fast DDS and enlarges the shared-memory segment.

Fast DDS ignores a profile it cannot read (it logs and keeps its defaults), so the check is what a
participant really maps: with the profile, a segment of its ``segment_size`` under /dev/shm.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from guidewire_model.core.shipped_files import config_dir
from guidewire_seg_ros.tools.processes import DDS_PROFILE_FILE, ros_environment

pytestmark = pytest.mark.ros

_LARGEST_SEGMENT = r"""
import time, rclpy
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("segment_probe")
node.create_publisher(Image, "segment_probe", 1)
time.sleep(0.3)
sizes = [0]
for line in open("/proc/self/maps"):
    fields = line.split()
    if fields[-1].startswith("/dev/shm/fastdds_") and not fields[-1].startswith("/dev/shm/fastdds_port"):
        start, end = (int(x, 16) for x in fields[0].split("-"))
        sizes.append(end - start)
print(max(sizes))
node.destroy_node()
rclpy.shutdown()
"""


def _segment_size(profile: Path) -> int:
    ns = {"f": "http://www.eprosima.com"}
    node = ET.parse(profile).getroot().find(".//f:transport_descriptor[f:type='SHM']/f:segment_size", ns)
    return int(node.text)


def _largest_mapped_segment(env: dict[str, str]) -> int:
    out = subprocess.run([sys.executable, "-c", _LARGEST_SEGMENT], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def test_profile_holds_several_large_frames():
    # A 1024x1024 mono16 frame is 2 MiB; several must fit in flight.
    assert _segment_size(config_dir() / DDS_PROFILE_FILE) >= 4 * 2 * 1024 * 1024


def test_fast_dds_maps_the_profiles_segment_and_the_default_without_it():
    profile = config_dir() / DDS_PROFILE_FILE
    with_profile = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(profile))
    without = {k: v for k, v in os.environ.items() if k != "FASTDDS_DEFAULT_PROFILES_FILE"}
    assert _largest_mapped_segment(with_profile) >= _segment_size(profile)
    assert _largest_mapped_segment(without) < 1024 * 1024  # Fast DDS's 512 KiB default


def test_ros_environment_keeps_a_profile_the_user_chose(monkeypatch, tmp_path):
    mine = tmp_path / "mine.xml"
    monkeypatch.setenv("FASTDDS_DEFAULT_PROFILES_FILE", str(mine))
    ros_environment()
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == str(mine)
    monkeypatch.delenv("FASTDDS_DEFAULT_PROFILES_FILE")
    ros_environment()
    assert os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] == str(config_dir() / DDS_PROFILE_FILE)
