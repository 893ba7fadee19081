"""A node serving an ONNX model never loads PyTorch: checked on the running node process itself.

The robot computer runs the node without torch (``pip install .[runtime]``); an import of torch
anywhere on the node's path (the backend choice, the GPU probe, the model lookup, a fallback) would
map torch's shared libraries into the process. So the test serves frames through a real node process
and reads that process's memory map (``/proc/<pid>/maps``), with a control: ONNX Runtime's library,
which the node does load, must be found the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sensor_msgs.msg import Image

from guidewire_seg_ros.image_conversion import gray_to_image_fields

from line_model import export_line_model, one_curve_frame
from ros_probe import Probe, ensure_rclpy, start_node, stop_node

pytestmark = [pytest.mark.ros,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")]

#: Shared libraries that an `import torch` maps (libtorch_cpu/cuda, c10, the Python bindings torch/_C).
TORCH_LIBRARIES = ("libtorch", "libc10", "/torch/_C")


def mapped_libraries(pid: int) -> set[str]:
    """Paths of the files mapped into process ``pid``."""
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/"):
            paths.add(parts[5])
    return paths


def test_running_node_with_an_onnx_model_has_no_torch_loaded(tmp_path):
    model = export_line_model(tmp_path, size=128)
    ensure_rclpy()
    log = tmp_path / "node.log"
    # backend and device auto: the GPU probe and the backend choice run as they do on a robot.
    proc = start_node({"model_path": model, "backend": "auto", "device": "auto", "qos_reliability": "reliable"},
                      "/torchfree/image", log)
    probe = Probe("/torchfree/image")
    try:
        probe.wait_for_node(proc)
        frame = one_curve_frame(128)
        for _ in range(2):
            probe.send_and_wait(Image(**gray_to_image_fields(frame)))
        libraries = mapped_libraries(proc.pid)
    finally:
        probe.close()
        assert stop_node(proc) == 0, log.read_text()
    assert any("onnxruntime" in p for p in libraries), "control failed: ONNX Runtime not seen in the node's map"
    torch_mapped = sorted(p for p in libraries if any(name in p for name in TORCH_LIBRARIES))
    assert torch_mapped == [], f"the node process loaded PyTorch: {torch_mapped[:5]}"


def test_the_check_sees_torch_when_a_process_imports_it():
    """The detector itself can fail: a Python process that imports torch shows its libraries."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import sys, torch; sys.stdout.write('ready\\n'); "
                              "sys.stdout.flush(); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        libraries = mapped_libraries(child.pid)
    finally:
        child.stdin.close()
        child.wait(60)
    assert any(name in p for p in libraries for name in TORCH_LIBRARIES)
