"""Node parameter validation (pure Python) and the shipped parameters file."""

import dataclasses

import pytest

from guidewire_model.runtime.pipeline import PostprocessSettings
from guidewire_seg_ros.parameters import (POSTPROCESS_PARAMETERS, NodeParameters, ParameterError, load_defaults,
                                          postprocess_kwargs, validate)


def test_shipped_file_is_valid():
    params = validate(load_defaults())
    assert isinstance(params, NodeParameters)
    assert params.backend == "auto" and params.qos_reliability == "best_effort" and params.qos_depth == 1
    assert params.publish_overlay is False


@pytest.mark.parametrize("name, value, words", [
    ("backend", "cuda-magic", ["backend", "tensorrt", "onnxruntime"]),
    ("max_wires", 0, ["max_wires", "[1, 8]"]),
    ("max_wires", 2.5, ["max_wires", "int"]),
    ("threshold", 1.5, ["threshold", "[-1.0, 1.0]"]),
    ("qos_reliability", "sometimes", ["qos_reliability", "best_effort", "reliable"]),
    ("qos_depth", 0, ["qos_depth"]),
    ("publish_overlay", "yes", ["publish_overlay", "bool"]),
    ("input_size", -1, ["input_size"]),
    ("field_margin_px", 100.0, ["field_margin_px", "[0.0, 64.0]"]),
    ("min_mean_probability", -0.1, ["min_mean_probability", "[0.0, 1.0]"]),
    ("field_of_view", "yes", ["field_of_view", "bool"]),
    ("edge_reject_run_px", 0.5, ["edge_reject_run_px", "[1.0, 10000.0]"]),
    ("free_tip_margin_px", -1.0, ["free_tip_margin_px", "[0.0, 128.0]"]),
    ("require_free_tip", "yes", ["require_free_tip", "bool"]),
])
def test_bad_values_name_the_parameter_and_what_is_allowed(name, value, words):
    values = load_defaults()
    values[name] = value
    with pytest.raises(ParameterError) as err:
        validate(values)
    for word in words:
        assert word in str(err.value)


def test_int_accepted_for_float_parameter():
    values = load_defaults()
    values["threshold"] = 0
    assert validate(values).threshold == 0.0


def test_unknown_and_missing_parameters(tmp_path):
    values = load_defaults()
    values["treshold"] = 0.5
    with pytest.raises(ParameterError, match="unknown parameter"):
        validate(values)
    values = load_defaults()
    del values["backend"]
    with pytest.raises(ParameterError, match="'backend' is not set"):
        validate(values)
    bad = tmp_path / "p.yaml"
    bad.write_text("other_node:\n  ros__parameters: {}\n")
    with pytest.raises(ParameterError, match=str(bad)):
        load_defaults(bad)


def test_post_processing_defaults_and_ranges_have_one_source():
    """The shipped file holds the pipeline's own defaults, and the node takes the pipeline's ranges."""
    params = validate(load_defaults())
    assert set(POSTPROCESS_PARAMETERS) == {f.name for f in dataclasses.fields(PostprocessSettings)}
    assert PostprocessSettings(**postprocess_kwargs(params)) == PostprocessSettings()
    meta = {f.name: f.metadata for f in dataclasses.fields(NodeParameters)}
    for name in POSTPROCESS_PARAMETERS:
        assert (meta[name]["lo"], meta[name]["hi"]) == PostprocessSettings.range_of(name), name
        assert meta[name]["read_only"] is False, name


@pytest.mark.ros
def test_live_parameter_changes_reach_the_pipeline():
    """In a running node, `ros2 param set` of a post-processing parameter changes the pipeline's
    settings for the next frame; a refused value changes nothing."""
    pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from guidewire_model.core.shipped_files import shipped_models_dir
    from guidewire_seg_ros.node import RUNTIME_PARAMETERS, GuidewireSegNode
    from ros_probe import ensure_rclpy

    assert set(POSTPROCESS_PARAMETERS) <= set(RUNTIME_PARAMETERS)
    ensure_rclpy()
    node = GuidewireSegNode(parameter_overrides=[
        Parameter("model_path", value=str(shipped_models_dir() / "default.onnx")),
        Parameter("backend", value="onnxruntime"), Parameter("inference_threads", value=1)])
    try:
        assert node.pipeline is None  # constructed = unconfigured: nothing loaded yet
        assert node.start_serving(), node.configure_error
        assert node.pipeline.settings == PostprocessSettings()
        changes = {"field_of_view": False, "field_margin_px": 9.0, "border_margin_px": 1.0,
                   "detect_burned_in_text": False, "edge_reject_px": 4.0, "edge_reject_run_px": 40.0,
                   "min_mean_probability": 0.75, "min_wire_length_px": 35.0,
                   "require_free_tip": False, "free_tip_margin_px": 20.0}
        results = node.set_parameters([Parameter(k, value=v) for k, v in changes.items()])
        assert all(r.successful for r in results), [r.reason for r in results]
        assert node.pipeline.settings == PostprocessSettings(**changes)
        (refused,) = node.set_parameters([Parameter("field_margin_px", value=100.0)])
        assert not refused.successful
        assert node.pipeline.settings.field_margin_px == 9.0
    finally:
        node.stop()
        node.destroy_node()
