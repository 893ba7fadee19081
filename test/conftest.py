"""Session-wide test settings.

ROS discovery must stay on this machine: the setting is made here, before any test module can import
rclpy, as well as in scripts/env.sh for everything started from a shell. Each pytest session takes its
own ROS_DOMAIN_ID so concurrent runs on one host never see each other's topics.
"""

import os

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# Domain ids 0-101 are valid for Fast DDS on Linux; keep clear of the demo's 42.
os.environ["ROS_DOMAIN_ID"] = str(50 + os.getpid() % 50)
os.environ.setdefault("GUIDEWIRE_CONFIG_DIR", os.path.join(os.path.dirname(__file__), "..", "config"))
# The transport profile the product ships for full-size frames (config/fastdds_large_frames.xml).
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE",
                      os.path.join(os.environ["GUIDEWIRE_CONFIG_DIR"], "fastdds_large_frames.xml"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """PyTorch on one thread for a module's tests, the old count restored after it: the tests' small
    networks gain nothing from more, and the run shares two cores with ONNX Runtime and ROS."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
