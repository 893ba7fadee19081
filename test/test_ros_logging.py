"""The runtime's Python log printed through the node's ROS logger (guidewire_seg_ros/ros_logging.py).

In-process tests use real rclpy loggers, whose console output rcutils writes to file descriptor 2
(read with ``capfd``); the last test reads the log of a real node process.
"""

from __future__ import annotations

import logging
import os
import re

import pytest
import rclpy.logging
from rclpy.logging import LoggingSeverity
from sensor_msgs.msg import Image

from guidewire_seg_ros.image_conversion import gray_to_image_fields
from guidewire_seg_ros.ros_logging import RUNTIME_LOGGER, RosLogHandler, forward_python_logging

from line_model import export_line_model, one_curve_frame
from ros_probe import Probe, ensure_rclpy, start_node, stop_node

#: One line of rcutils' default console format: "[SEVERITY] [seconds.nanoseconds] [logger]: message".
ROS_LINE = re.compile(r"^\[(?P<severity>[A-Z]+)\] \[\d+\.\d+\] \[(?P<name>[^\]]+)\]: (?P<message>.*)$")


@pytest.fixture
def ros_logger(request):
    """A real rclpy logger of its own name (rcutils levels are process-wide, per name)."""
    name = f"ros_logging_test_{os.getpid()}_{re.sub(r'[^A-Za-z0-9_]', '_', request.node.name)}"
    return rclpy.logging.get_logger(name)


@pytest.fixture
def runtime_logger():
    """The forwarded Python logger tree, checked to be left as it was found."""
    logger = logging.getLogger(RUNTIME_LOGGER)
    before = (logger.level, logger.propagate, list(logger.handlers))
    yield logger
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def ros_lines(text: str, name: str) -> list[tuple[str, str]]:
    """(severity, message) of the ROS console lines of logger ``name`` in ``text``."""
    found = []
    for line in text.splitlines():
        m = ROS_LINE.match(line)
        if m and m["name"] == name:
            found.append((m["severity"], m["message"]))
    return found


def test_each_python_level_reaches_the_ros_logger_at_its_severity(ros_logger, runtime_logger, capfd):
    ros_logger.set_level(LoggingSeverity.DEBUG)
    forwarding = forward_python_logging(ros_logger)
    log = logging.getLogger(f"{RUNTIME_LOGGER}.backends.example")
    try:
        assert runtime_logger.level == logging.DEBUG  # taken from the ROS logger's level
        # One handler, five severities in a row: rclpy refuses a second severity from one call site.
        log.debug("d %d", 1)
        log.info("i %d", 2)
        log.warning("w %d", 3)
        log.error("e %d", 4)
        log.critical("c %d", 5)
        log.log(25, "between INFO and WARNING")
        try:
            raise KeyError("no such tensor")
        except KeyError:
            log.exception("engine setup")
    finally:
        forwarding.remove()
    prefix = f"[{RUNTIME_LOGGER}.backends.example] "
    err = capfd.readouterr().err
    assert ros_lines(err, ros_logger.name) == [
        ("DEBUG", prefix + "d 1"), ("INFO", prefix + "i 2"), ("WARN", prefix + "w 3"), ("ERROR", prefix + "e 4"),
        ("FATAL", prefix + "c 5"), ("INFO", prefix + "between INFO and WARNING"), ("ERROR", prefix + "engine setup")]
    # The traceback is part of the message, on the lines after it.
    assert re.search(r"engine setup\nTraceback \(most recent call last\):\n.*KeyError: 'no such tensor'", err, re.S)


def test_the_python_level_follows_the_ros_level_and_is_restored(ros_logger, runtime_logger, capfd):
    ros_logger.set_level(LoggingSeverity.WARN)
    forwarding = forward_python_logging(ros_logger)
    log = logging.getLogger(f"{RUNTIME_LOGGER}.tensorrt")
    try:
        assert runtime_logger.level == logging.WARNING
        # Below the ROS level, no record is even made (TensorRT's logger asks isEnabledFor first).
        assert not log.isEnabledFor(logging.INFO) and log.isEnabledFor(logging.WARNING)
        log.info("not shown")
        log.warning("shown")
    finally:
        forwarding.remove()
    got = ros_lines(capfd.readouterr().err, ros_logger.name)
    assert got == [("WARN", f"[{RUNTIME_LOGGER}.tensorrt] shown")]


def test_records_are_printed_once_and_propagation_is_restored(ros_logger, runtime_logger):
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    root_handler = Collect(level=logging.DEBUG)
    logging.getLogger().addHandler(root_handler)
    log = logging.getLogger(f"{RUNTIME_LOGGER}.pipeline")
    try:
        first, second = forward_python_logging(ros_logger), forward_python_logging(ros_logger)
        log.warning("while forwarded")
        first.remove()  # the other forwarding still holds: still not propagated
        log.warning("one forwarding left")
        second.remove()
        second.remove()  # idempotent
        log.warning("after removal")
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert seen == ["after removal"]


def test_a_failing_ros_logger_never_breaks_the_caller(runtime_logger, capsys, monkeypatch):
    class Broken:
        def get_effective_level(self):
            return LoggingSeverity.INFO

        def info(self, message):
            raise RuntimeError("rcutils logging is shut down")

    monkeypatch.setattr(logging, "raiseExceptions", True)  # the default; reported, not raised
    forwarding = forward_python_logging(Broken())
    try:
        logging.getLogger(f"{RUNTIME_LOGGER}.backends").info("model loaded")  # must not raise
    finally:
        forwarding.remove()
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "rcutils logging is shut down" in err
    assert isinstance(forwarding.handler, RosLogHandler)


@pytest.mark.ros
def test_a_running_node_prints_the_runtime_log_through_its_ros_logger(tmp_path):
    model = export_line_model(tmp_path, size=128).resolve()  # as the node names it
    log_path = tmp_path / "node.log"
    ensure_rclpy()
    proc = start_node({"model_path": model, "backend": "onnxruntime", "device": "cpu", "qos_reliability": "reliable"},
                      "/roslog/image", log_path)
    probe = Probe("/roslog/image")
    try:
        # One frame served: the node is spinning, so a SIGINT now is a clean shutdown.
        probe.wait_for_node(proc)
        frame = one_curve_frame(128)
        probe.send_and_wait(Image(**gray_to_image_fields(frame)))
    finally:
        probe.close()
        code = stop_node(proc)
    text = log_path.read_text()
    assert code == 0, text
    lines = ros_lines(text, "guidewire_seg")
    choice = [(sev, msg) for sev, msg in lines
              if msg.startswith(f"[{RUNTIME_LOGGER}.runtime.backends] inference backend: onnxruntime")]
    assert choice == [("INFO", f"[{RUNTIME_LOGGER}.runtime.backends] inference backend: onnxruntime (requested "
                               f"explicitly) for {model}")], text
    assert any(sev == "INFO" and msg.startswith(f"[{RUNTIME_LOGGER}.runtime.backends.onnxruntime_backend] onnxruntime "
                                                f"backend: {model}") for sev, msg in lines), text
    # Every runtime line went through the ROS logger: none printed bare by Python's last-resort handler.
    assert not [line for line in text.splitlines() if line.startswith(RUNTIME_LOGGER)], text
