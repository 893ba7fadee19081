"""Ctrl-C at any moment of a node's start-up ends it cleanly: exit status 0, no traceback, rclpy shut down.

Each case runs a real node process and sends it one SIGINT before it serves. Where the signal lands
is pinned in two ways. Progress markers that the node cannot pass back: ``_rclpy_pybind11`` mapped into
the process (``node.py`` is importing its libraries, so the entry point's deferral is in place), then
the backend's "inference backend" log line (the model is loading). From the first marker, further
SIGINTs follow at increasing delays across the imports, ``rclpy.init``, the node's construction and
the first moments of spinning. Wherever a signal lands, the assertions are the same, so the load on
the machine changes which stage a case hits, never its verdict. Holds: a wrapper process that stops
inside a stage (the imports, the model loading) until the test has sent the signal, so that stage is
hit for certain, and prints ``rclpy.ok()`` after ``main`` returns. Last, a crash in native code leaves
the threads' Python stacks in the log (the entry point's ``faulthandler``).
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from line_model import export_line_model
from ros_probe import REPO, start_node, stop_node

pytestmark = [pytest.mark.ros,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")]

#: Mapped once ``node.py`` runs ``import rclpy``, after ``defer_sigint`` above it.
RCLPY_LIBRARY = "_rclpy_pybind11"
#: Logged by create_backend while the node is being built, before the model file is read.
LOADING_LINE = "inference backend:"
STOP_TIMEOUT_S = 60.0  # the imports run to their end before a deferred SIGINT is honoured

#: argv: stage, ready file, sent file, then the node's ROS arguments. Stops in ``stage`` until the test
#: has sent SIGINT (the sent file exists), then lets ``main`` handle it. Stages: "imports" (as the
#: console script runs them), "model loading" (in create_backend), "rclpy failing" (in the node's
#: configure transition the KeyboardInterrupt is held back until rclpy's handler has shut the context down, so
#: an rclpy call fails first, as when the signal lands inside a long rclpy call).
HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path

    stage, ready, sent = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    def hold():
        ready.touch()
        while not sent.exists():
            time.sleep(0.01)

    if stage == "imports":  # as scripts/guidewire_seg_node: defer, then the node's imports
        from guidewire_seg_ros.sigint import defer_sigint
        defer_sigint()
        hold()
    import rclpy
    import guidewire_seg_ros.node as node
    if stage == "model loading":
        load = node.create_backend

        def slow_create_backend(*args, **kwargs):
            hold()
            return load(*args, **kwargs)

        node.create_backend = slow_create_backend
    if stage == "rclpy failing":  # the KeyboardInterrupt comes late, after an rclpy call failed
        start = node.GuidewireSegNode._configure

        def start_on_a_shut_down_context(self):
            try:
                hold()
            except KeyboardInterrupt:
                while rclpy.ok():  # rclpy's signal handler shuts the context down from its own thread
                    time.sleep(0.01)
            return start(self)  # its first rclpy call fails: the context is shut down

        node.GuidewireSegNode._configure = start_on_a_shut_down_context
    code = node.main(sys.argv[4:])
    print(f"main returned {code}; rclpy.ok() {rclpy.ok()}", flush=True)
    sys.exit(code)
""")


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return export_line_model(tmp_path_factory.mktemp("sigint"), size=128)


def _wait_for(proc: subprocess.Popen, log: Path, what: str, found) -> None:
    deadline = time.monotonic() + 120.0
    while not found():
        if proc.poll() is not None:
            raise AssertionError(f"node exited ({proc.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"node never reached {what}:\n{log.read_text()}")
        time.sleep(0.005)


def _rclpy_mapped(pid: int) -> bool:
    try:
        return RCLPY_LIBRARY in Path(f"/proc/{pid}/maps").read_text()
    except OSError:  # the process has just exited; _wait_for reports it
        return False


def _assert_clean(code: int, log: Path, moment: str) -> str:
    text = log.read_text()
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, f"SIGINT {moment}:\n{text}"
    assert "cannot start" not in text, f"SIGINT {moment} was reported as a start error:\n{text}"
    assert code == 0, f"SIGINT {moment}: exit status {code}\n{text}"
    return text


@pytest.mark.parametrize("delay_s", [0.0, 0.1, 0.25, 0.5, 1.0, 2.0])
def test_sigint_after_the_imports_began_is_a_clean_exit(model, tmp_path, delay_s):
    log = tmp_path / "node.log"
    proc = start_node({"model_path": model, "backend": "onnxruntime", "device": "cpu"}, "/sigint/image", log)
    _wait_for(proc, log, "import rclpy", lambda: _rclpy_mapped(proc.pid))
    time.sleep(delay_s)
    _assert_clean(stop_node(proc, timeout=STOP_TIMEOUT_S), log, f"{delay_s} s after import rclpy")


def test_sigint_while_the_model_loads_is_a_clean_exit(model, tmp_path):
    log = tmp_path / "node.log"
    proc = start_node({"model_path": model, "backend": "onnxruntime", "device": "cpu"}, "/sigint/image", log)
    _wait_for(proc, log, "model loading", lambda: LOADING_LINE in log.read_text())
    _assert_clean(stop_node(proc, timeout=STOP_TIMEOUT_S), log, "while the model loads")


@pytest.mark.parametrize("stage", ["imports", "model loading", "rclpy failing"])
def test_sigint_held_inside_a_stage_is_a_clean_exit_with_rclpy_shut_down(model, tmp_path, stage):
    ready, sent, log = tmp_path / "ready", tmp_path / "sent", tmp_path / "node.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, stage, str(ready), str(sent), "--ros-args", "-r", "image:=/sigint/image",
             "-p", f"model_path:={model}", "-p", "backend:=onnxruntime", "-p", "device:=cpu"],
            stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"), cwd=REPO)
    _wait_for(proc, log, stage, ready.exists)
    proc.send_signal(signal.SIGINT)
    sent.touch()
    try:
        code = proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"SIGINT during {stage} did not end the node:\n{log.read_text()}")

    text = _assert_clean(code, log, f"during {stage}")
    assert "main returned 0; rclpy.ok() False" in text, text
    if stage != "rclpy failing":  # there the model loads and then creating a publisher fails
        # The model was never loaded: the signal ended the start where it was held.
        assert "on onnxruntime/cpu" not in text, text
    if stage == "imports":
        assert LOADING_LINE not in text, f"rclpy was started after a SIGINT during the imports:\n{text}"


def test_a_crash_in_native_code_leaves_the_threads_stacks_in_the_log(model, tmp_path):
    # SIGSEGV sent from outside stands in for a fault inside rclpy, the middleware or ONNX Runtime: the
    # entry point's faulthandler writes every thread's Python stack to the log before the process dies.
    log = tmp_path / "node.log"
    proc = start_node({"model_path": model, "backend": "onnxruntime", "device": "cpu"}, "/sigint/image", log)
    # Logged after configure has started the two worker threads.
    _wait_for(proc, log, "serving", lambda: "active: serving" in log.read_text())
    code = stop_node(proc, sig=signal.SIGSEGV, timeout=STOP_TIMEOUT_S)
    text = log.read_text()
    assert code == -signal.SIGSEGV, f"exit status {code}\n{text}"
    assert "Fatal Python error: Segmentation fault" in text, text
    # The main thread's stack and the two workers' (faulthandler names threads by address only).
    assert "Current thread" in text and text.count("(most recent call first)") >= 3, text


def test_the_model_loaders_native_libraries_load_with_the_deferred_imports():
    # A KeyboardInterrupt raised while a native extension initialises can crash the process; onnx and
    # ONNX Runtime, which every model load imports, are imported among the node's own imports, where
    # the entry points defer SIGINT, not first inside the configure transition.
    assert _loaded_by_importing_the_node(("onnx", "onnxruntime")) == ["onnx", "onnxruntime"]


def _loaded_by_importing_the_node(modules: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded once it has imported the node's module."""
    code = f"import sys; import guidewire_seg_ros.node; print(sorted(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("installed", ["working", "broken"])
def test_tensorrt_and_cuda_load_with_the_deferred_imports_where_installed(tmp_path, installed):
    # The same for a TensorRT node: tensorrt and the CUDA runtime's module, which only a GPU machine
    # has, are stood in for by files on the path. A broken install (libnvinfer missing) must leave
    # the node importable: the backend's own start reports it.
    body = {"working": "__version__ = '10.3.0'\n",
            "broken": "raise OSError('libnvinfer.so.10: cannot open shared object file')\n"}[installed]
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.py").write_text(body)
    (tmp_path / "cuda" / "bindings").mkdir(parents=True)
    (tmp_path / "cuda" / "__init__.py").write_text("")
    (tmp_path / "cuda" / "bindings" / "__init__.py").write_text("")
    (tmp_path / "cuda" / "bindings" / "runtime.py").write_text("")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    expected = {"working": ["cuda.bindings.runtime", "tensorrt"], "broken": []}[installed]
    assert _loaded_by_importing_the_node(("tensorrt", "cuda.bindings.runtime"), env) == expected
