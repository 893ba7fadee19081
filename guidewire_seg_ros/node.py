"""The ``guidewire_seg`` rclpy node: fluoroscopy images in, guidewire masks and centrelines out.

A thin shell over :class:`guidewire_model.runtime.pipeline.GuidewirePipeline`. The subscription callback only
drops the newest frame into a keep-latest slot. Two worker threads serve it, one frame apart: the
first takes the frame, decodes it and runs the network (``GuidewirePipeline.infer``), the second
traces, tracks and publishes it (``GuidewirePipeline.finish``) while the first already runs the
network on the next frame; the first waits for the second, so frames are finished in their order
and nothing queues up between them. A frame that arrives while an older one still waits in the slot
replaces it, and the older one is counted as dropped: under overload the node serves the freshest
frame, with bounded latency, instead of working through a growing backlog.

The runtime's Python log (``guidewire_model.*``, TensorRT's own log included) is printed through the
node's ROS logger at the matching severity (:mod:`.ros_logging`).

It is a lifecycle (managed) node. *configure* loads the model (building and checking a TensorRT
engine where that backend is chosen), warms it up and creates the publishers and the worker;
*activate* subscribes to the images and starts serving, so a publisher that sees the subscription
knows its frames are served; *deactivate* unsubscribes and stops publishing (a frame in flight is
not published); *cleanup* releases the model. With ``autostart`` (the default) the node takes itself to active at
start, as the launch file's default; with ``autostart: false`` it waits, unconfigured, for a
lifecycle manager (``~/change_state``). A configure that fails (a bad model file, a TensorRT build
that fails its check) leaves the node unconfigured and logs why; with ``autostart`` the process
then exits 1.

Topics (relative names, remappable)::

    sub  image                     sensor_msgs/Image
    pub  ~/mask                    sensor_msgs/Image, mono8 0/255, the input's size and header
    pub  ~/centrelines             guidewire_seg/GuidewireArray, the input's header
    pub  ~/centreline_points       sensor_msgs/PointCloud2 (x, y; z 0; wire_id, index, probability): pixels
                                   in frame "<image frame>_pixels", or metres with pixel_spacing_m
    pub  ~/overlay                 sensor_msgs/Image bgr8 (only with publish_overlay)
    pub  /diagnostics              diagnostic_msgs/DiagnosticArray (in every state)
    srv  ~/reset_tracking          std_srvs/Trigger: forget the tracked wires (a new run, a bag loop);
                                   ids restart at 1 from the next frame
"""

from __future__ import annotations

if __name__ == "__main__":
    # Run as `python -m guidewire_seg_ros.node`: a Ctrl-C during the imports below (about a second) is
    # recorded instead of raised, and main() then ends quietly (guidewire_seg_ros.sigint). Imported as a
    # module, this does nothing.
    import faulthandler

    from guidewire_seg_ros.sigint import defer_sigint

    # A crash in native code (rclpy, the middleware, ONNX Runtime, TensorRT) then leaves every thread's
    # Python stack in the node's log instead of a bare exit status -11.
    faulthandler.enable()
    defer_sigint()

import os
import queue
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
# The native libraries that loading any model imports (onnx reads its metadata, ONNX Runtime runs it),
# imported here, where the entry points defer SIGINT: a Ctrl-C landing while one of them initialised
# inside the configure transition crashed the node (SIGSEGV in onnx's module init, seen in the tests).
import onnx  # noqa: F401
import onnxruntime  # noqa: F401

try:  # TensorRT's and the CUDA runtime's modules where installed (a Jetson's backend), for the same reason
    from guidewire_model.runtime.backends.cuda_memory import import_cudart
    from guidewire_model.runtime.backends.tensorrt_build import import_tensorrt

    import_tensorrt()
    import_cudart()
except Exception:  # noqa: BLE001 - absent or broken: create_backend says why if that backend is asked for
    pass
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, HistoryPolicy, qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import Image, PointCloud2
from std_srvs.srv import Trigger

# The runtime only: nothing here (or below it) imports torch or the training configuration, so a
# node serving an ONNX model runs on a computer without PyTorch (test_node_torch_free.py checks it).
from guidewire_seg.msg import GuidewireArray
from guidewire_model.runtime.backends import create_backend, resolve_device
from guidewire_model.runtime.backends.fault_injection import FAULT_ENV, FaultInjectingBackend
from guidewire_model.runtime.pipeline import FrameResult, GuidewirePipeline, Inference
from guidewire_model.runtime.rolling_stats import RateMeter, RollingPercentiles
from guidewire_model.core.shipped_files import shipped_models_dir
from guidewire_model.runtime.wire_overlay import render_overlay

from .frame_slot import FrameSlot
from .messages import wires_to_msg
from .image_conversion import ImageFormatError, bgr_to_image_fields, gray_to_image_fields, image_to_gray
from .parameters import (NODE_NAME, POSTPROCESS_PARAMETERS, NodeParameters, ParameterError, declare_parameters,
                         postprocess_kwargs, validate)
from .pointcloud import centrelines_to_cloud
from .publish_faults import PUBLISH_FAULT_ENV, FaultyPublisher, parse_failing_calls
from .ros_logging import forward_python_logging
from .sigint import raise_sigint_once
from .topic_diagnostics import NODE_STATUS_SUFFIX, FrequencyBounds, TopicDiagnostic

__all__ = ["GuidewireSegNode", "main"]

@dataclass(frozen=True)
class _Inferred:
    """A frame handed from the inference thread to the finishing thread."""

    msg: Image
    inference: Inference  # its image is the decoded frame
    received: float  # monotonic times: into the slot, out of it, decoded, network done
    taken: float
    decoded: float
    inferred: float
    generation: int  # of tracking resets when it was taken; an older one belongs to a run before a reset


#: Parameters that may change while the node runs (the rest are read-only: they shape the model load).
RUNTIME_PARAMETERS = ("threshold", "max_wires", "publish_overlay", "max_age_ms", *POSTPROCESS_PARAMETERS)


def resolve_model_path(params: NodeParameters) -> Path:
    """The model file to load: ``model_path`` or, when empty, the shipped default model."""
    if params.model_path:
        return Path(params.model_path).expanduser().resolve()
    return shipped_models_dir() / "default.onnx"


class GuidewireSegNode(LifecycleNode):
    """Segments guidewires in every frame it can keep up with and publishes masks and centrelines.

    A lifecycle node (see the module docstring); construction only declares the parameters and
    creates the diagnostics publisher and the reset service.

    Raises (at construction, so the process exits non-zero before serving)
    ----------------------------------------------------------------------
    ParameterError
        On a bad parameter; the message names it and what is allowed. A bad model file is reported
        by the *configure* transition (:attr:`configure_error`).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        # The runtime's Python loggers (backend choice, TensorRT's own log) print through this node's
        # logger from here on, model loading included; stop() removes the handler.
        self._log_forwarding = forward_python_logging(self.get_logger())
        try:
            self.params = declare_parameters(self)
        except BaseException:
            self._log_forwarding.remove()
            raise
        self.pipeline: GuidewirePipeline | None = None
        self.configure_error: str | None = None
        self._serving = threading.Event()  # set while active
        self._stop = threading.Event()
        self._stop.set()  # no worker yet
        self._workers: list[threading.Thread] = []
        self._subscription = None
        self._publishers_made: list = []
        self._topic_diagnostics: dict[str, TopicDiagnostic] = {}
        self._reset_counters()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # Diagnostics in every state, so a lifecycle manager and an aggregator see an idle node too.
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(self.params.diagnostics_period_s, self._publish_diagnostics)
        # A tracking reset: the service raises the flag and starts a new generation, the finishing thread
        # resets the tracker (its only user) and drops frames taken before the reset.
        self._reset_lock = threading.Lock()
        self._reset_requested = False
        self._generation = 0
        self.create_service(Trigger, "~/reset_tracking", self._on_reset_tracking)

    def _reset_counters(self) -> None:
        self._slot = FrameSlot()
        self._handoff: queue.Queue[_Inferred] = queue.Queue(maxsize=1)
        self._latency_ms = RollingPercentiles(window=1000)
        # Where a frame's time goes, so the cost of the ROS shell itself is visible in /diagnostics:
        # waiting (in the slot and between the two threads), the pipeline (network and tracing), and
        # the node's own work (decoding, messages, publishing).
        self._queue_ms = RollingPercentiles(window=1000)
        self._pipeline_ms = RollingPercentiles(window=1000)
        self._own_ms = RollingPercentiles(window=1000)
        self._published = RateMeter(window_s=5.0)
        self._counts: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self._bad_kinds: Counter[str] = Counter()
        self._last_bad_log: dict[str, float] = {}
        self._faults_logged: dict[tuple[str, str], float] = {}
        self._started = time.monotonic()
        self._last_input: float | None = None
        self._last_output: float | None = None
        self._last_result_age_ms = float("nan")
        self._fallback_reason: str | None = None
        self._halt_reason: str | None = None
        self._consecutive_failures = 0
        self._hardware_id = f"{os.uname().nodename}:{self.params.device}"

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model and create the publishers and the worker (not subscribed, not serving yet)."""
        try:
            self._configure()
        except Exception as exc:  # noqa: BLE001 - any failure leaves the node unconfigured, with the reason
            self.configure_error = str(exc) or type(exc).__name__
            self.get_logger().error(f"configure failed: {self.configure_error}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.configure_error = None
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._started = time.monotonic()  # staleness counts from here
        self._serving.set()
        self._subscribe()
        self.get_logger().info("active: serving")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._serving.clear()
        self._unsubscribe()
        self._slot.take(timeout=0.0)  # a frame waiting now is never served
        self.get_logger().info("inactive: not subscribed, nothing published")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info("unconfigured: model released")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def start_serving(self) -> bool:
        """configure + activate, as ``autostart`` does; False (with :attr:`configure_error`) if either fails."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def _configure(self) -> None:
        """Load the model, create the publishers and start the worker."""
        self._reset_counters()
        model_path = resolve_model_path(self.params)
        device = resolve_device(self.params.device)
        backend = create_backend(
            self.params.backend, model_path, device=device, fp16=self.params.fp16,
            engine_cache_dir=self.params.engine_cache_dir or None, threads=self.params.inference_threads or None,
        )

        if self.params.input_size and self.params.input_size != backend.info.input_size:
            backend.close()
            raise ParameterError(
                f"parameter 'input_size' is {self.params.input_size} but {model_path} takes "
                f"{backend.info.input_size}x{backend.info.input_size} inputs; set input_size: 0 (= the model's) "
                "or export a model at that size")
        threshold = self.params.threshold if self.params.threshold >= 0 else None
        self.pipeline = GuidewirePipeline(backend, threshold=threshold, max_wires=self.params.max_wires,
                                          **postprocess_kwargs(self.params))
        self.model_path = model_path
        self.device = device
        self._hardware_id = f"{os.uname().nodename}:{device}"
        backend.warmup()
        self.max_age_ms = self.params.max_age_ms or self._measure_max_age_ms()
        if os.environ.get(FAULT_ENV):
            self.pipeline.backend = FaultInjectingBackend(backend, int(os.environ[FAULT_ENV]))
            self.get_logger().warning(f"{FAULT_ENV} is set: the backend will fail after "
                                      f"{self.pipeline.backend.fail_after} frames (test mode)")
        self.get_logger().info(
            f"model {model_path} ({backend.info.architecture}/{backend.info.encoder}, "
            f"{backend.info.input_size}px) on {backend.name}/{device}; threshold {self.pipeline.threshold:.3f}; "
            f"results older than {self.max_age_ms:.0f} ms are dropped")

        reliability = (ReliabilityPolicy.RELIABLE if self.params.qos_reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        sub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.params.qos_depth,
                             reliability=reliability, durability=qos_profile_sensor_data.durability)
        # Reliable publishers serve both reliable and best-effort subscribers.
        pub_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.params.qos_depth,
                             reliability=(ReliabilityPolicy.RELIABLE if self.params.output_qos_reliability == "reliable"
                                          else ReliabilityPolicy.BEST_EFFORT))
        self._mask_pub = self.create_lifecycle_publisher(Image, "~/mask", pub_qos)
        self._lines_pub = self.create_lifecycle_publisher(GuidewireArray, "~/centrelines", pub_qos)
        self._cloud_pub = self.create_lifecycle_publisher(PointCloud2, "~/centreline_points", pub_qos)
        self._overlay_pub = self.create_lifecycle_publisher(Image, "~/overlay", pub_qos)
        self._publishers_made = [self._mask_pub, self._lines_pub, self._cloud_pub, self._overlay_pub]
        if os.environ.get(PUBLISH_FAULT_ENV):
            self._lines_pub = FaultyPublisher(self._lines_pub, parse_failing_calls(os.environ[PUBLISH_FAULT_ENV]))
            self.get_logger().warning(f"{PUBLISH_FAULT_ENV} is set: ~/centrelines publish calls "
                                      f"{sorted(self._lines_pub.failing_calls)} will raise (test mode)")
        # One frequency + stamp-age status per output topic, as diagnostic_updater's TopicDiagnostic.
        bounds = FrequencyBounds(min_hz=self.params.diagnostics_min_hz, max_hz=self.params.diagnostics_max_hz,
                                 max_stamp_age_s=self.params.diagnostics_max_stamp_age_s)
        self._topic_diagnostics = {
            key: TopicDiagnostic(pub.topic_name, self.get_name(), bounds, self._now_s)
            for key, pub in (("mask", self._mask_pub), ("centrelines", self._lines_pub),
                             ("centreline_points", self._cloud_pub), ("overlay", self._overlay_pub))}

        # Set by a live `max_age_ms: 0`; the inference thread re-measures, as it is the backend's only user.
        self._remeasure = threading.Event()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._infer_loop, name="guidewire_seg_infer", daemon=True),
                         threading.Thread(target=self._finish_loop, name="guidewire_seg_finish", daemon=True)]
        self._sub_qos = sub_qos  # the subscription exists while active (on_activate)
        for worker in self._workers:
            worker.start()

    def _subscribe(self) -> None:
        # Only while active: a publisher that sees the node subscribed knows its frames are served.
        # Best-effort transport may lose a frame before any callback sees it; the middleware reports
        # those losses, and they are counted beside the node's own drops.
        if self._subscription is None:
            self._subscription = self.create_subscription(
                Image, "image", self._on_image, self._sub_qos,
                event_callbacks=SubscriptionEventCallbacks(message_lost=self._on_lost))

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None

    def _release(self) -> None:
        """Undo :meth:`_configure`: worker stopped, backend closed, publishers and subscription gone
        (idempotent; back to what construction made)."""
        self._serving.clear()
        self._stop.set()
        self._slot.close()
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=5.0)
        self._workers = []
        if self.pipeline is not None:
            self.pipeline.backend.close()
        self.pipeline = None
        self._unsubscribe()
        for pub in self._publishers_made:
            self.destroy_lifecycle_publisher(pub)
        self._publishers_made = []
        self._topic_diagnostics = {}

    def _on_reset_tracking(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        # Applied by the finishing thread between frames (it is the tracker's only user).
        if self.pipeline is None:
            response.success, response.message = False, "not configured: no tracker to reset"
            return response
        with self._reset_lock:
            self._reset_requested = True
            self._generation += 1  # frames of the previous run in flight now are not tracked into the new one
        self._slot.take(timeout=0.0)
        response.success, response.message = True, "wire tracking reset: ids restart at 1 from the next frame"
        self.get_logger().info("wire tracking reset on request")
        return response

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------ input side

    def _on_image(self, msg: Image) -> None:
        # Never blocks: inference happens on the worker. A frame still waiting is replaced.
        if not self._serving.is_set():
            self._count("ignored_inactive")
            return
        self._count("received")
        self._last_input = time.monotonic()
        if self._slot.put((msg, time.monotonic())):
            self._count("dropped")

    def _on_lost(self, info) -> None:
        self._counts["lost_in_transport"] = int(info.total_count)

    def _infer_loop(self) -> None:
        while not self._stop.is_set():
            if self._remeasure.is_set():
                self._remeasure.clear()
                self._remeasure_max_age()
            item = self._slot.take(timeout=0.1)
            if item is None:
                continue
            try:
                inferred = self._infer(*item)
            except Exception as exc:  # noqa: BLE001 - whatever a frame does, the worker serves the next
                self._note_fault("internal_error", exc)
                continue
            while inferred is not None:  # the finishing thread takes it once done with the frame before
                try:
                    self._handoff.put(inferred, timeout=0.1)
                    inferred = None
                except queue.Full:
                    if self._stop.is_set():
                        return

    def _infer(self, msg: Image, received: float) -> _Inferred | None:
        """Decode a frame and run the network on it; None when the frame ends here (counted)."""
        taken = time.monotonic()
        generation = self._generation
        try:
            image = image_to_gray(msg, max_pixels=self.params.max_input_pixels)
        except ImageFormatError as exc:
            self._note_bad_frame(exc.kind, str(exc))
            return None
        if self._halt_reason is not None:
            self._count("not_served")
            return None
        decoded = time.monotonic()
        try:
            inference = self.pipeline.infer(image)
        except Exception as exc:  # noqa: BLE001 - a frame must never take the node down
            self._count("failed")
            self._handle_backend_failure(exc)
            return None
        self._consecutive_failures = 0
        return _Inferred(msg, inference, received, taken, decoded, time.monotonic(), generation)

    def _finish_loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._handoff.get(timeout=0.1)
            except queue.Empty:
                item = None
            with self._reset_lock:  # after the wait: a request made during it applies now
                if self._reset_requested:
                    self._reset_requested = False
                    self.pipeline.reset()
                generation = self._generation
            if item is None:
                continue
            if item.generation != generation:
                self._count("not_served")  # taken before a tracking reset: belongs to the previous run
                continue
            try:
                self._finish(item)
            except Exception as exc:  # noqa: BLE001 - whatever a frame does, the worker serves the next
                self._note_fault("internal_error", exc)

    def _finish(self, item: _Inferred) -> None:
        """Trace, track and publish an inferred frame, counting it under exactly one outcome."""
        started = time.monotonic()
        result = self.pipeline.finish(item.inference)
        processed = time.monotonic()
        age_ms = (processed - item.received) * 1e3
        if age_ms > self.max_age_ms:
            # Late is worse than missing for a controller: it would act on where the wire was.
            self._count("expired")
            self.get_logger().warning(
                f"dropping a result {age_ms:.0f} ms after its frame arrived (max_age_ms {self.max_age_ms:.0f})",
                throttle_duration_sec=10.0)
            return
        if not self._serving.is_set():
            self._count("not_served")  # deactivated while this frame was processed
            return
        try:
            self._publish(item.msg, item.inference.image, result)
        except Exception as exc:  # noqa: BLE001 - a failed publish loses this frame, not the node
            self._note_fault("publish_failed", exc)
            return
        self._last_output = time.monotonic()
        self._queue_ms.add(((item.taken - item.received) + (started - item.inferred)) * 1e3)
        self._pipeline_ms.add(((item.inferred - item.decoded) + (processed - started)) * 1e3)
        self._own_ms.add(((item.decoded - item.taken) + (self._last_output - processed)) * 1e3)
        self._last_result_age_ms = (self._last_output - item.received) * 1e3
        self._latency_ms.add(self._last_result_age_ms)
        self._published.tick()
        self._count("published")

    def _measure_max_age_ms(self) -> float:
        """Freshness limit sized to this model on this machine: 4x a warm frame, at least 250 ms.

        A blank frame costs no tracing, and a keep-latest frame may wait for the one in progress, so
        the measured time is scaled up generously; 250 ms is about two frame periods at 7.5 fps, the
        slowest fluoroscopy rate. The tracker and a motion-input model's earlier frames are left alone
        while measuring, so the wires tracked in a running sequence keep their ids.
        """
        s = self.pipeline.backend.info.input_size
        blank = np.zeros((s, s), np.uint8)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            self.pipeline.finish(self.pipeline.infer(blank, in_run=False), track=False)
            times.append((time.perf_counter() - t0) * 1e3)
        return max(250.0, 4.0 * max(times))

    def _remeasure_max_age(self) -> None:
        """Apply a live ``max_age_ms: 0`` (on the inference thread, between frames)."""
        try:
            measured = self._measure_max_age_ms()
        except Exception as exc:  # noqa: BLE001 - a failing backend is the frame path's to handle
            self.get_logger().error(f"max_age_ms: 0 could not be re-measured ({type(exc).__name__}: {exc}); "
                                    f"keeping {self.max_age_ms:.0f} ms")
            return
        if self.params.max_age_ms == 0:  # unless a value was set while measuring
            self.max_age_ms = measured
            self.get_logger().info(f"max_age_ms re-measured: results older than {measured:.0f} ms are dropped")

    def _handle_backend_failure(self, exc: Exception) -> None:
        """Apply ``on_backend_failure``: switch to a CPU backend once, or stop serving; never hang."""
        self._consecutive_failures += 1
        text = f"{type(exc).__name__}: {exc}"
        failed = self.pipeline.backend
        can_fall_back = (self.params.on_backend_failure == "fallback" and self._fallback_reason is None)
        if can_fall_back:
            kind = "torch" if self.model_path.suffix in (".pt", ".pth") else "onnxruntime"
            try:
                fallback = create_backend(kind, self.model_path, device="cpu")
            except Exception as fb_exc:  # noqa: BLE001
                self._halt(f"{failed.name} backend failed ({text}) and the CPU fallback could not start "
                           f"({type(fb_exc).__name__}: {fb_exc})")
                return
            self.pipeline.backend = fallback
            self.device = "cpu"
            self._hardware_id = f"{os.uname().nodename}:cpu"
            self._fallback_reason = f"{failed.name} failed ({text}); serving from {kind}/cpu"
            self.get_logger().error(f"inference backend failed: {text}; falling back to {kind} on the CPU")
            try:
                failed.close()
            except Exception:  # noqa: BLE001 - the failed backend may be unusable; it is dropped either way
                pass
            return
        if self.params.on_backend_failure == "stop" or self._consecutive_failures >= 5:
            self._halt(f"{failed.name} backend failed ({text}); on_backend_failure={self.params.on_backend_failure}")
            return
        self.get_logger().error(f"inference failed on a frame: {text}", throttle_duration_sec=5.0)

    def _halt(self, reason: str) -> None:
        self._halt_reason = reason
        self.get_logger().error(f"stopped publishing: {reason}")

    def _count(self, outcome: str) -> None:
        # Three threads count (the callback, inference, finishing); some outcomes are counted by two.
        with self._count_lock:
            self._counts[outcome] += 1

    def _note_bad_frame(self, kind: str, text: str) -> None:
        """Count a malformed frame; log one line per kind, then at most one summary per kind per 10 s."""
        self._bad_kinds[kind] += 1
        self._count("malformed")
        now = time.monotonic()
        last = self._last_bad_log.get(kind)
        if last is None or now - last >= 10.0:
            self._last_bad_log[kind] = now
            self.get_logger().warning(
                f"skipping malformed image ({kind}, {self._bad_kinds[kind]} so far): {text}")

    def _note_fault(self, counter: str, exc: Exception) -> None:
        """Count a frame lost to an exception outside inference; the first of each kind is logged with its
        traceback (what a developer needs), later ones as one line at most every 10 s."""
        self._count(counter)
        key = (counter, type(exc).__name__)
        now = time.monotonic()
        last = self._faults_logged.get(key)
        if last is None:
            self._faults_logged[key] = now
            self.get_logger().error(f"frame lost ({counter}, {self._counts[counter]} so far): "
                                    f"{type(exc).__name__}: {exc}; serving the next frame\n"
                                    f"{''.join(traceback.format_exception(exc))}")
        elif now - last >= 10.0:
            self._faults_logged[key] = now
            self.get_logger().error(f"frame lost ({counter}, {self._counts[counter]} so far): "
                                    f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ output side

    def _publish(self, msg: Image, image, result: FrameResult) -> None:
        header = msg.header
        stamp_s = Time.from_msg(header.stamp).nanoseconds * 1e-9
        topics = self._topic_diagnostics
        self._mask_pub.publish(Image(header=header, **gray_to_image_fields(result.mask * 255)))
        topics["mask"].tick(stamp_s)
        self._lines_pub.publish(wires_to_msg(header, image.shape[1], image.shape[0], result.wires))
        topics["centrelines"].tick(stamp_s)
        self._cloud_pub.publish(centrelines_to_cloud(header, result.wires, self.params.pixel_spacing_m))
        topics["centreline_points"].tick(stamp_s)
        if self.params.publish_overlay:
            overlay = render_overlay(image, result.mask, result.wires)
            self._overlay_pub.publish(Image(header=header, **bgr_to_image_fields(overlay[..., ::-1])))
            topics["overlay"].tick(stamp_s)

    def _publish_diagnostics(self) -> None:
        # The topic statuses first and the node's own status last: readers that keep the last status
        # whose name starts with the node's name (node_bench) keep reading the node's.
        statuses = []
        if self._serving.is_set():
            statuses = [d.status(self._hardware_id) for key, d in self._topic_diagnostics.items()
                        if key != "overlay" or self.params.publish_overlay]
        statuses.append(self._node_status())
        self._diag_pub.publish(DiagnosticArray(header=_stamp_header(self), status=statuses))

    def _node_status(self) -> DiagnosticStatus:
        status = DiagnosticStatus(name=self.get_name() + NODE_STATUS_SUFFIX, hardware_id=self._hardware_id)
        if self.pipeline is None:
            status.level = DiagnosticStatus.OK
            status.message = ("unconfigured: no model loaded" if self.configure_error is None
                              else f"unconfigured: configure failed: {self.configure_error}")
            status.values = [KeyValue(key="lifecycle_state", value="unconfigured")]
            return status
        fps = self._published.rate()
        values = {
            "fps": f"{fps:.2f}",
            "latency_p50_ms": f"{self._latency_ms.percentile(50):.2f}",
            "latency_p99_ms": f"{self._latency_ms.percentile(99):.2f}",
            "queue_ms_p50": f"{self._queue_ms.percentile(50):.2f}",
            "pipeline_ms_p50": f"{self._pipeline_ms.percentile(50):.2f}",
            "node_own_ms_p50": f"{self._own_ms.percentile(50):.2f}",
            "frames_received": str(self._counts["received"]),
            "frames_published": str(self._counts["published"]),
            "frames_dropped": str(self._counts["dropped"]),
            "frames_malformed": str(self._counts["malformed"]),
            "frames_failed": str(self._counts["failed"]),
            "frames_publish_failed": str(self._counts["publish_failed"]),
            "frames_internal_error": str(self._counts["internal_error"]),
            "backend": self.pipeline.backend.name,
            "model": str(self.model_path),
            "threshold": f"{self.pipeline.threshold:.4f}",
            "max_wires": str(self.pipeline.max_wires),
            "lifecycle_state": "active" if self._serving.is_set() else "inactive",
            "frames_ignored_inactive": str(self._counts["ignored_inactive"]),
        }
        values.update({f"malformed_{k}": str(v) for k, v in sorted(self._bad_kinds.items())})
        now = time.monotonic()
        since_input = now - (self._last_input or self._started)
        since_output = now - (self._last_output or self._started)
        values.update({
            "frames_expired": str(self._counts["expired"]),
            "frames_not_served": str(self._counts["not_served"]),
            "frames_lost_in_transport": str(self._counts["lost_in_transport"]),
            "max_age_ms": f"{self.max_age_ms:.0f}",
            "last_result_age_ms": f"{self._last_result_age_ms:.1f}",
            "seconds_since_last_input": f"{since_input:.2f}",
            "seconds_since_last_result": f"{since_output:.2f}",
        })
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        status.level, status.message = self._health(since_input, since_output)
        return status

    def _health(self, since_input: float, since_output: float) -> tuple[bytes, str]:
        """Diagnostic level and the reason, worst first."""
        p = self.params
        if self._halt_reason is not None:
            return DiagnosticStatus.ERROR, f"not publishing: {self._halt_reason}"
        if not self._serving.is_set():
            return DiagnosticStatus.OK, "inactive: model loaded, frames are ignored until activated"
        if since_input > p.stale_s:
            return DiagnosticStatus.STALE, f"no image received for {since_input:.1f} s"
        if since_output > p.stale_s:
            return DiagnosticStatus.STALE, (f"no result published for {since_output:.1f} s although images arrive "
                                            f"(malformed {self._counts['malformed']}, expired "
                                            f"{self._counts['expired']}, failed {self._counts['failed']}, "
                                            f"publish failed {self._counts['publish_failed']})")
        if since_input > p.stale_warn_s:
            return DiagnosticStatus.WARN, f"no image received for {since_input:.1f} s"
        if since_output > p.stale_warn_s:
            return DiagnosticStatus.WARN, f"no result published for {since_output:.1f} s"
        if self._fallback_reason is not None:
            return DiagnosticStatus.WARN, f"running on the fallback backend: {self._fallback_reason}"
        return DiagnosticStatus.OK, "ok"

    # ------------------------------------------------------------------ parameters and lifetime

    def _on_set_parameters(self, changes) -> SetParametersResult:
        """Apply live parameter changes, all or none: each changed name takes effect from the next frame."""
        updated = {f: getattr(self.params, f) for f in self.params.__dataclass_fields__}
        for p in changes:
            if p.name not in RUNTIME_PARAMETERS:
                return SetParametersResult(successful=False, reason=f"'{p.name}' can only be set at start")
            updated[p.name] = p.value
        pipeline = self.pipeline
        try:
            params = validate(updated, source=f"node '{self.get_name()}'")
            if pipeline is not None:
                pipeline.configure(**postprocess_kwargs(params))
        except (ParameterError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.params = params
        if pipeline is None:
            return SetParametersResult(successful=True)  # the next configure reads them
        changed = {p.name for p in changes}
        if "threshold" in changed:
            # Negative = the model's own threshold, as at start.
            pipeline.threshold = params.threshold if params.threshold >= 0 else pipeline.backend.info.threshold
        if "max_age_ms" in changed:
            if params.max_age_ms:
                self.max_age_ms = params.max_age_ms
            else:
                self._remeasure.set()  # 0 = sized to the model's measured speed, as at start
        if "max_wires" in changed:
            pipeline.max_wires = params.max_wires
        return SetParametersResult(successful=True)

    def stop(self) -> None:
        """Stop the worker, release the backend and stop forwarding the runtime's log (idempotent)."""
        if self.pipeline is not None:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(self._counts.items()))
            self.get_logger().info(f"stopped; frames: {counts or 'none'}")
        self._release()
        self._log_forwarding.remove()

    def counters(self) -> dict[str, int]:
        return dict(self._counts)


def _stamp_header(node: Node):
    from std_msgs.msg import Header

    return Header(stamp=node.get_clock().now().to_msg())


def main(args: list[str] | None = None) -> int:
    """Entry point: run the node until SIGINT/SIGTERM; exit 1 with a clear message on a bad start.

    Ctrl-C ends the node with exit status 0 and no traceback wherever it lands: during the imports
    (the entry points defer it, :mod:`guidewire_seg_ros.sigint`), ``rclpy.init``, the model loading,
    spinning or the shutdown. Only the first SIGINT raises, so the shutdown (worker, backend, node,
    ``rclpy.try_shutdown``) always runs to its end.
    """
    node: GuidewireSegNode | None = None
    code = 0
    try:  # the one KeyboardInterrupt, wherever it lands (sigint.raise_sigint_once)
        try:
            if raise_sigint_once():
                return 0  # Ctrl-C during the imports: nothing started yet
            rclpy.init(args=args)
            try:
                node = GuidewireSegNode()
                started = not node.params.autostart or node.start_serving()
            except Exception as exc:
                if not rclpy.ok():
                    # rclpy's SIGINT/SIGTERM handler shut the context down (from its own thread) while the
                    # node was being built, and an rclpy call failed before a SIGINT's KeyboardInterrupt
                    # was raised: a stop, not a start error.
                    pass
                elif isinstance(exc, (ParameterError, ValueError, RuntimeError, OSError)):
                    rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}")
                    code = 1
                else:
                    raise
            else:
                if started:
                    rclpy.spin(node)
                elif rclpy.ok():
                    # autostart: a configure that fails (bad model file, TensorRT engine refused) ends the process.
                    rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {node.configure_error}")
                    code = 1
        except ExternalShutdownException:
            pass  # SIGTERM: rclpy shut the context down
        finally:
            _shut_down(node)
    except KeyboardInterrupt:
        # Landed before or inside the shutdown above. No second one can be raised, and each step is
        # idempotent, so running the shutdown again completes it.
        _shut_down(node)
    return code


def _shut_down(node: GuidewireSegNode | None) -> None:
    """Stop the worker, release the backend, destroy the node and shut rclpy down; each step idempotent."""
    if node is not None:
        node.stop()
        node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
