"""The node's parameters: one typed dataclass, declared and read in one loop with descriptors and ranges.

Values come from ``config/guidewire_seg.yaml`` (the single source of the defaults; the launch file
passes it, and the node reads the shipped copy for anything not set), and every value is validated
before the node starts: a bad one stops it with a message naming the parameter and what is allowed.
This module's validation is pure Python so it is tested without ROS; the rclpy glue is
:func:`declare_parameters`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.runtime.pipeline import PostprocessSettings

__all__ = [
    "NODE_NAME",
    "POSTPROCESS_PARAMETERS",
    "NodeParameters",
    "ParameterError",
    "declare_parameters",
    "load_defaults",
    "postprocess_kwargs",
    "validate",
]

NODE_NAME = "guidewire_seg"


class ParameterError(ValueError):
    """A node parameter is invalid; the message names it and what is allowed."""


def _p(description: str, *, choices: tuple[str, ...] = (), lo: float | None = None, hi: float | None = None,
       read_only: bool = True) -> dict:
    return {"description": description, "choices": choices, "lo": lo, "hi": hi, "read_only": read_only}


def _post(name: str) -> dict:
    """Metadata of a post-processing parameter: description and range from the pipeline's settings
    (one source), changeable while the node runs."""
    lo, hi = PostprocessSettings.range_of(name)
    return _p(PostprocessSettings.description_of(name), lo=lo, hi=hi, read_only=False)


#: Node parameters that are the pipeline's :class:`PostprocessSettings` of the same name.
POSTPROCESS_PARAMETERS = tuple(f.name for f in dataclasses.fields(PostprocessSettings))


@dataclass(frozen=True)
class NodeParameters:
    """Parameters of the ``guidewire_seg`` node (see config/guidewire_seg.yaml for the values)."""

    autostart: bool = field(metadata=_p(
        "configure (load the model) and activate (serve) at start; false = wait in the unconfigured state "
        "for a lifecycle manager's transitions"))
    model_path: str = field(metadata=_p(
        "ONNX model (or .pt checkpoint for backend torch); empty = the shipped default model"))
    backend: str = field(metadata=_p(
        "inference backend; auto = tensorrt when a CUDA GPU and tensorrt are present, else onnxruntime",
        choices=("auto", "tensorrt", "onnxruntime", "torch")))
    device: str = field(metadata=_p("where inference runs; auto = cuda when available", choices=("auto", "cpu", "cuda")))
    fp16: bool = field(metadata=_p("build TensorRT engines in FP16 (ignored by other backends)"))
    inference_threads: int = field(metadata=_p(
        "CPU threads for inference (onnxruntime/torch); 0 = every core this process may run on. On a computer "
        "whose cores other nodes also use, 1 avoids threads waiting on each other", lo=0, hi=256))
    engine_cache_dir: str = field(metadata=_p(
        "folder for TensorRT engines and the timing cache; empty = ~/.cache/guidewire_seg/engines"))
    threshold: float = field(metadata=_p(
        "probability above which a pixel is guidewire; negative = the model file's threshold", lo=-1.0, hi=1.0,
        read_only=False))
    input_size: int = field(metadata=_p(
        "network input side in pixels; 0 = the model's own (a fixed-size model refuses any other)", lo=0, hi=4096))
    max_wires: int = field(metadata=_p("most wire instances traced per frame", lo=1, hi=8, read_only=False))
    min_wire_length_px: float = field(metadata=_post("min_wire_length_px"))
    min_mean_probability: float = field(metadata=_post("min_mean_probability"))
    field_of_view: bool = field(metadata=_post("field_of_view"))
    field_margin_px: float = field(metadata=_post("field_margin_px"))
    border_margin_px: float = field(metadata=_post("border_margin_px"))
    detect_burned_in_text: bool = field(metadata=_post("detect_burned_in_text"))
    edge_reject_px: float = field(metadata=_post("edge_reject_px"))
    edge_reject_run_px: float = field(metadata=_post("edge_reject_run_px"))
    require_free_tip: bool = field(metadata=_post("require_free_tip"))
    free_tip_margin_px: float = field(metadata=_post("free_tip_margin_px"))
    catheter_orientation: bool = field(metadata=_post("catheter_orientation"))
    tip_threshold: float = field(metadata=_post("tip_threshold"))
    corner_deg: float = field(metadata=_post("corner_deg"))
    faint_tail_ratio: float = field(metadata=_post("faint_tail_ratio"))
    publish_overlay: bool = field(metadata=_p("publish ~/overlay (bgr8) for viewing; costs CPU", read_only=False))
    qos_reliability: str = field(metadata=_p(
        "input subscription reliability; best_effort = sensor-data QoS", choices=("best_effort", "reliable")))
    output_qos_reliability: str = field(metadata=_p(
        "reliability of the mask, centreline, point and overlay publishers; reliable also serves best-effort "
        "subscribers", choices=("reliable", "best_effort")))
    qos_depth: int = field(metadata=_p("queue depth of the input subscription and of the publishers", lo=1, hi=100))
    pixel_spacing_m: float = field(metadata=_p(
        "~/centreline_points units: 0 = pixels, in the frame '<image frame_id>_pixels' (not metres, so not the "
        "image frame of REP-103); > 0 = metres per pixel at the detector, in the image's own frame", lo=0.0,
        hi=1.0))
    max_input_pixels: int = field(metadata=_p(
        "frames with more pixels are refused before decoding", lo=1, hi=268435456))
    diagnostics_period_s: float = field(metadata=_p("period of /diagnostics updates [s]", lo=0.05, hi=60.0))
    diagnostics_min_hz: float = field(metadata=_p(
        "each output topic's status goes WARN below this rate (less 10 %, as diagnostic_updater) [Hz]",
        lo=0.0, hi=1000.0))
    diagnostics_max_hz: float = field(metadata=_p(
        "and above this rate (plus 10 %) [Hz]", lo=0.0, hi=1000.0))
    diagnostics_max_stamp_age_s: float = field(metadata=_p(
        "each output topic's status goes ERROR when a published message's stamp is older than this on the "
        "node's clock (a late or unsynchronised image source) [s]", lo=0.001, hi=3600.0))
    max_age_ms: float = field(metadata=_p(
        "a result ready later than this after its frame arrived is dropped, never published late [ms]; "
        "0 = sized to the model's measured speed at start", lo=0.0, hi=60000.0, read_only=False))
    stale_warn_s: float = field(metadata=_p(
        "diagnostics go WARN when no frame arrived or no result was published for this long [s]", lo=0.1, hi=3600.0))
    stale_s: float = field(metadata=_p(
        "diagnostics go STALE when no frame arrived or no result was published for this long [s]", lo=0.1, hi=3600.0))
    on_backend_failure: str = field(metadata=_p(
        "when inference raises: fallback = switch to ONNX Runtime (or PyTorch for a checkpoint) on the CPU "
        "and keep serving; stop = stop publishing and report ERROR", choices=("fallback", "stop")))


def postprocess_kwargs(params: NodeParameters) -> dict[str, Any]:
    """The node's post-processing parameters as keyword arguments of ``GuidewirePipeline`` /
    ``GuidewirePipeline.configure`` (at start and on every live change)."""
    return {name: getattr(params, name) for name in POSTPROCESS_PARAMETERS}


def load_defaults(path: str | Path | None = None) -> dict[str, Any]:
    """Read the node's section of a ROS 2 parameters file (default: the shipped one).

    Raises
    ------
    ParameterError
        If the file is missing, not YAML, or lacks ``guidewire_seg: ros__parameters:``.
    """
    path = Path(path) if path is not None else config_dir() / "guidewire_seg.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        params = data[NODE_NAME]["ros__parameters"]
    except (OSError, yaml.YAMLError) as exc:
        raise ParameterError(f"{path}: cannot read the node parameters file ({exc})") from exc
    except (KeyError, TypeError) as exc:
        raise ParameterError(f"{path}: expected '{NODE_NAME}: ros__parameters: ...' at the top") from exc
    if not isinstance(params, dict):
        raise ParameterError(f"{path}: '{NODE_NAME}.ros__parameters' must be a mapping")
    return params


def validate(values: Mapping[str, Any], source: str = "parameters") -> NodeParameters:
    """Check every parameter's type, choices and range and build :class:`NodeParameters`.

    Raises
    ------
    ParameterError
        Naming the first offending parameter, its value and the allowed values or range.
    """
    names = {f.name for f in dataclasses.fields(NodeParameters)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ParameterError(f"{source}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    kwargs = {}
    for f in dataclasses.fields(NodeParameters):
        if f.name not in values:
            raise ParameterError(f"{source}: parameter '{f.name}' is not set")
        value = values[f.name]
        meta = f.metadata
        if f.type in ("bool", bool):
            ok = isinstance(value, bool)
        elif f.type in ("int", int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif f.type in ("float", float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ParameterError(f"{source}: parameter '{f.name}' must be {f.type}, got {value!r}")
        if meta["choices"] and value not in meta["choices"]:
            raise ParameterError(
                f"{source}: parameter '{f.name}' is {value!r}; allowed: {', '.join(meta['choices'])}")
        lo, hi = meta["lo"], meta["hi"]
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ParameterError(f"{source}: parameter '{f.name}' is {value}; allowed range [{lo}, {hi}]")
        kwargs[f.name] = value
    params = NodeParameters(**kwargs)
    if params.diagnostics_max_hz < params.diagnostics_min_hz:
        raise ParameterError(f"{source}: parameter 'diagnostics_max_hz' ({params.diagnostics_max_hz}) must be >= "
                             f"'diagnostics_min_hz' ({params.diagnostics_min_hz})")
    if params.stale_s < params.stale_warn_s:
        raise ParameterError(f"{source}: parameter 'stale_s' ({params.stale_s}) must be >= 'stale_warn_s' "
                             f"({params.stale_warn_s})")
    return params


def declare_parameters(node: Any, defaults: Mapping[str, Any] | None = None) -> NodeParameters:
    """Declare every parameter on an rclpy node with a descriptor, read them back, validate.

    Defaults come from the shipped parameters file; values given at launch override them. Ranges go
    into the descriptors, so ``ros2 param describe`` shows them and rclpy refuses out-of-range runtime
    changes; rclpy's refusal at declaration is turned into a :class:`ParameterError` with our wording.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    defaults = dict(load_defaults() if defaults is None else defaults)
    values = {}
    for f in dataclasses.fields(NodeParameters):
        meta = f.metadata
        text = meta["description"]
        if meta["choices"]:
            text += f" (one of: {', '.join(meta['choices'])})"
        # dynamic_typing lets `threshold: 1` (an int) through to validate(), which accepts it as 1.0.
        descriptor = ParameterDescriptor(name=f.name, description=text, read_only=meta["read_only"],
                                         dynamic_typing=True)
        if meta["lo"] is not None and f.type in ("int", int):
            descriptor.integer_range = [IntegerRange(from_value=int(meta["lo"]), to_value=int(meta["hi"]), step=0)]
        elif meta["lo"] is not None:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(meta["lo"]), to_value=float(meta["hi"]), step=0.0)]
        if f.name not in defaults:
            raise ParameterError(f"the node parameters file lacks '{f.name}'")
        try:
            values[f.name] = node.declare_parameter(f.name, defaults[f.name], descriptor).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            allowed = meta["choices"] or f"[{meta['lo']}, {meta['hi']}]"
            raise ParameterError(f"node '{node.get_name()}': parameter '{f.name}' refused ({exc}); allowed: {allowed}") \
                from None
    return validate(values, source=f"node '{node.get_name()}'")
