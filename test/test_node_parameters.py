"""Node parameter validation (pure Python) and the shipped parameters file."""

import pytest

from guidewire_seg_ros.parameters import NodeParameters, ParameterError, load_defaults, validate


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
