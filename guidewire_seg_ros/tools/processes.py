"""Starting, waiting for and stopping node processes: shared by the demo, benchmarks, soak and bag tools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from guidewire_model.training.config import ConfigError

from guidewire_model.core.shipped_files import config_dir

__all__ = ["ros_environment", "start_module", "stop_process", "wait_for_node"]

#: The Fast DDS transport profile shipped for full-size frames (see its comment).
DDS_PROFILE_FILE = "fastdds_large_frames.xml"


def ros_environment() -> None:
    """Set this process's ROS defaults, keeping anything the caller chose: discovery on this host
    only, and the shipped large-frame transport profile. Call before ``rclpy.init``; processes from
    :func:`start_module` inherit it."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        try:
            profile = config_dir() / DDS_PROFILE_FILE
        except ConfigError:
            return
        if profile.is_file():
            os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)


def start_module(module: str, ros_args: Sequence[str], log_path: Path) -> subprocess.Popen:
    """Run ``python -m module --ros-args ...`` with stdout and stderr to ``log_path``.

    Discovery stays on this machine unless the caller's environment says otherwise
    (:func:`ros_environment`).
    """
    ros_environment()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", module, "--ros-args", *ros_args],
                                stdout=log, stderr=subprocess.STDOUT, env=env)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT (the node's clean shutdown path), then SIGKILL after ``timeout``; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def wait_for_node(ros_node: Any, output_topics: Sequence[str], proc: subprocess.Popen | None = None,
                  publisher: Any = None, timeout: float = 120.0) -> bool:
    """Wait until every output topic has a publisher seen by ``ros_node`` (and, when ``publisher`` is
    given, until it has a subscriber), so no frame is lost to discovery. False when ``proc`` exits or
    the timeout passes."""
    deadline = time.monotonic() + timeout
    while (min(ros_node.count_publishers(t) for t in output_topics) < 1
           or (publisher is not None and publisher.get_subscription_count() < 1)):
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    time.sleep(0.3)  # the other side's discovery completes a moment later
    return True
