"""The launch files, read through stand-ins of `launch` and `launch_ros` (neither is installable here).

ROS 2's `launch` and `launch_ros` are not on PyPI (PyPI's `launch` is an unrelated project), so each
launch file is loaded with small STAND-IN modules put into ``sys.modules``: every stand-in class records
the arguments it was built with and, like the real class, refuses keyword arguments the real one does
not take (their lists follow launch/launch_ros of Kilted). ``get_package_share_directory`` is the real
one (ament_index_python is installed) and finds the repository's colcon install, so the default paths are
checked to exist. Where the real packages are importable (a ROS 2 install) one more test builds the
node's action with them.

What is checked: the Fast DDS profile reaches the processes through their own environment (no global
SetEnvironmentVariable); use_sim_time and autostart reach the node as parameters after the parameters
file; respawn and respawn_delay reach Node as the Python values launch takes; every argument has a
default and a description; every LaunchConfiguration a file reads is declared.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

LAUNCH_DIR = Path(__file__).resolve().parent.parent / "launch"
SEG_LAUNCH = LAUNCH_DIR / "guidewire_seg.launch.py"
DEMO_LAUNCH = LAUNCH_DIR / "demo.launch.py"
PROFILE_VAR = "FASTDDS_DEFAULT_PROFILES_FILE"
SEG_ARGUMENTS_BEFORE = {"params_file", "model_path", "backend", "image_topic", "namespace", "log_level", "dds_profile"}
DEMO_ARGUMENTS_BEFORE = {"frames", "rate_hz", "size", "preset", "seed", "backend", "out"}

# --- stand-ins of launch / launch_ros (the real ones cannot be installed here) ---------------------------

# Keyword arguments of launch_ros.actions.Node: its own, then ExecuteProcess's, ExecuteLocal's and Action's.
_NODE_KEYWORDS = frozenset({
    "executable", "package", "name", "namespace", "exec_name", "parameters", "remappings", "ros_arguments",
    "arguments", "cmd", "prefix", "cwd", "env", "additional_env", "shell", "sigterm_timeout", "sigkill_timeout",
    "emulate_tty", "output", "output_format", "cached_output", "log_cmd", "on_exit", "respawn", "respawn_delay",
    "respawn_max_retries", "condition",
})


class StandIn:
    """STAND-IN base: records ``args`` and ``kwargs``; refuses keywords the real class does not take."""

    KEYWORDS: frozenset = frozenset()
    built: list = []  # every stand-in object of the current load, in construction order

    def __init__(self, *args, **kwargs):
        unknown = set(kwargs) - self.KEYWORDS
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {sorted(unknown)}")
        self.args, self.kwargs = args, kwargs
        StandIn.built.append(self)

    def __repr__(self):
        return f"{type(self).__name__}{self.args}{self.kwargs}"


def _stand_in(name: str, keywords=()) -> type:
    return type(name, (StandIn,), {"KEYWORDS": frozenset(keywords) | {"condition"}})


class LaunchConfiguration(StandIn):
    """STAND-IN of launch.substitutions.LaunchConfiguration; ``perform`` reads the context's values."""

    KEYWORDS = frozenset({"default"})

    def __init__(self, variable_name, **kwargs):
        super().__init__(variable_name, **kwargs)
        self.variable_name = variable_name

    def perform(self, context):
        if self.variable_name not in context.launch_configurations:
            raise LookupError(f"launch configuration '{self.variable_name}' does not exist")
        return context.launch_configurations[self.variable_name]

    def __eq__(self, other):
        return isinstance(other, LaunchConfiguration) and other.variable_name == self.variable_name

    __hash__ = None


class LaunchContext:
    """STAND-IN of launch.LaunchContext: only the launch configurations."""

    def __init__(self, launch_configurations: dict[str, str]):
        self.launch_configurations = dict(launch_configurations)


class DeclareLaunchArgument(StandIn):
    """STAND-IN of launch.actions.DeclareLaunchArgument."""

    KEYWORDS = frozenset({"default_value", "description", "choices", "condition"})

    @property
    def name(self):
        return self.args[0]


def _stand_in_modules() -> dict[str, types.ModuleType]:
    """The STAND-IN ``launch`` and ``launch_ros`` modules, by their import names."""
    contents = {
        "launch": {"LaunchDescription": _stand_in("LaunchDescription"), "LaunchContext": LaunchContext},
        "launch.actions": {
            "DeclareLaunchArgument": DeclareLaunchArgument,
            "SetEnvironmentVariable": _stand_in("SetEnvironmentVariable"),
            "OpaqueFunction": _stand_in("OpaqueFunction", {"function", "args", "kwargs"}),
            "IncludeLaunchDescription": _stand_in("IncludeLaunchDescription", {"launch_description_source",
                                                                               "launch_arguments"}),
            "RegisterEventHandler": _stand_in("RegisterEventHandler", {"event_handler"}),
            "EmitEvent": _stand_in("EmitEvent", {"event"}),
        },
        "launch.substitutions": {
            "LaunchConfiguration": LaunchConfiguration,
            "EnvironmentVariable": _stand_in("EnvironmentVariable", {"name", "default_value"}),
            "PathJoinSubstitution": _stand_in("PathJoinSubstitution", {"substitutions"}),
        },
        "launch.event_handlers": {"OnProcessExit": _stand_in("OnProcessExit", {"target_action", "on_exit"})},
        "launch.events": {"Shutdown": _stand_in("Shutdown", {"reason"})},
        "launch.launch_description_sources": {
            "PythonLaunchDescriptionSource": _stand_in("PythonLaunchDescriptionSource", {"launch_file_path"})},
        "launch_ros": {},
        "launch_ros.actions": {"Node": _stand_in("Node", _NODE_KEYWORDS)},
        "launch_ros.substitutions": {"FindPackageShare": _stand_in("FindPackageShare", {"package"})},
    }
    modules = {}
    for name, attributes in contents.items():
        module = types.ModuleType(name, f"STAND-IN of {name} (not installable here), test/test_launch_files.py")
        module.__dict__.update(attributes)
        modules[name] = module
    for name, module in modules.items():  # `import launch.actions` also reads the parent's attribute
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(modules[parent], child, module)
    return modules


class Loaded:
    """A launch file's description built with the stand-ins, and what was built on the way."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch):
        for name, module in _stand_in_modules().items():
            monkeypatch.setitem(sys.modules, name, module)
        StandIn.built = self.built = []
        spec = importlib.util.spec_from_file_location(f"launch_file_{path.stem.replace('.', '_')}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.description = module.generate_launch_description()
        self.entities = list(self.description.args[0])
        self.arguments = {a.name: a for a in self.entities if isinstance(a, DeclareLaunchArgument)}

    def of_type(self, name: str) -> list:
        return [e for e in self.built if type(e).__name__ == name]

    def context(self, **overrides: str) -> LaunchContext:
        """The launch configurations ``ros2 launch`` would hold: the string defaults, then ``overrides``."""
        values = {name: a.kwargs["default_value"] for name, a in self.arguments.items()
                  if isinstance(a.kwargs.get("default_value"), str)}
        unknown = set(overrides) - set(self.arguments)
        assert not unknown, f"not declared: {unknown}"
        return LaunchContext({**values, **overrides})

    def run_opaque_functions(self, context: LaunchContext) -> list:
        """What the top-level OpaqueFunctions return in ``context`` (launch runs them at execution)."""
        StandIn.built = self.built  # what the functions build is this file's
        out = []
        for entity in self.entities:
            if type(entity).__name__ == "OpaqueFunction":
                out += entity.kwargs["function"](context, *entity.kwargs.get("args", ()),
                                                 **entity.kwargs.get("kwargs", {}))
        return out

    def configuration_names(self) -> set[str]:
        return {lc.variable_name for lc in self.built if isinstance(lc, LaunchConfiguration)}


@pytest.fixture
def seg(monkeypatch) -> Loaded:
    return Loaded(SEG_LAUNCH, monkeypatch)


@pytest.fixture
def demo(monkeypatch) -> Loaded:
    return Loaded(DEMO_LAUNCH, monkeypatch)


def _node(loaded: Loaded, **overrides: str):
    nodes = [e for e in loaded.run_opaque_functions(loaded.context(**overrides)) if type(e).__name__ == "Node"]
    assert len(nodes) == 1, nodes
    return nodes[0]


# --- guidewire_seg.launch.py ------------------------------------------------------------------------------

def test_every_argument_has_a_default_and_a_description(seg, demo):
    for loaded in (seg, demo):
        for name, argument in loaded.arguments.items():
            assert argument.kwargs.get("default_value") is not None, name
            assert str(argument.kwargs.get("description", "")).strip(), name


def test_existing_arguments_are_kept_and_the_new_ones_declared(seg, demo):
    assert SEG_ARGUMENTS_BEFORE | {"use_sim_time", "autostart", "respawn", "respawn_delay"} <= set(seg.arguments)
    assert DEMO_ARGUMENTS_BEFORE <= set(demo.arguments)
    defaults = {name: seg.arguments[name].kwargs["default_value"]
                for name in ("use_sim_time", "autostart", "respawn", "respawn_delay")}
    assert defaults == {"use_sim_time": "false", "autostart": "true", "respawn": "false", "respawn_delay": "2.0"}
    assert "lifecycle manager" in seg.arguments["autostart"].kwargs["description"]


def test_default_files_exist_in_the_installed_share(seg):
    for name in ("params_file", "model_path"):
        assert Path(seg.arguments[name].kwargs["default_value"]).is_file(), name
    profile = seg.arguments["dds_profile"].kwargs["default_value"]  # the variable's value, else the shipped file
    assert profile.args[0] == PROFILE_VAR and Path(profile.kwargs["default_value"]).is_file()


def test_the_profile_is_set_in_the_node_environment_only(seg):
    assert not seg.of_type("SetEnvironmentVariable")
    node = _node(seg)
    assert not seg.of_type("SetEnvironmentVariable")  # nor when the node is built
    assert node.kwargs["additional_env"] == {PROFILE_VAR: LaunchConfiguration("dds_profile")}
    assert "env" not in node.kwargs  # `env` would replace the whole environment


def test_sim_time_and_autostart_are_node_parameters_after_the_file(seg):
    parameters = _node(seg).kwargs["parameters"]
    assert parameters[0] == LaunchConfiguration("params_file")
    overrides = parameters[1]
    assert overrides["use_sim_time"] is False and overrides["autostart"] is True
    assert overrides["model_path"] == LaunchConfiguration("model_path")
    assert overrides["backend"] == LaunchConfiguration("backend")
    changed = _node(seg, use_sim_time="true", autostart="False").kwargs["parameters"][-1]
    assert changed["use_sim_time"] is True and changed["autostart"] is False


def test_respawn_reaches_the_node_as_python_values(seg):
    node = _node(seg)
    assert node.kwargs["respawn"] is False and node.kwargs["respawn_delay"] == 2.0
    node = _node(seg, respawn="true", respawn_delay="0.5")
    assert node.kwargs["respawn"] is True
    assert isinstance(node.kwargs["respawn_delay"], float) and node.kwargs["respawn_delay"] == 0.5


@pytest.mark.parametrize("overrides, message", [
    (dict(respawn="maybe"), "respawn:='maybe' must be true or false"),
    (dict(autostart="yes"), "autostart:='yes' must be true or false"),
    (dict(respawn_delay="soon"), "is not a number of seconds"),
    (dict(respawn_delay="-1"), "must be >= 0 seconds"),
    (dict(respawn_delay="nan"), "must be >= 0 seconds"),
])
def test_bad_values_are_refused_with_the_argument_named(seg, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        _node(seg, **overrides)


def test_the_other_node_settings_are_unchanged(seg):
    node = _node(seg)
    assert (node.kwargs["package"], node.kwargs["executable"], node.kwargs["name"]) == (
        "guidewire_seg", "guidewire_seg_node", "guidewire_seg")
    assert node.kwargs["namespace"] == LaunchConfiguration("namespace")
    assert node.kwargs["remappings"] == [("image", LaunchConfiguration("image_topic"))]
    assert node.kwargs["ros_arguments"] == ["--log-level", LaunchConfiguration("log_level")]


def test_every_configuration_read_is_declared(seg, demo):
    _node(seg)  # the OpaqueFunction's reads too
    assert seg.configuration_names() <= set(seg.arguments)
    assert demo.configuration_names() <= set(demo.arguments)


# --- demo.launch.py ---------------------------------------------------------------------------------------

def test_demo_sets_the_profile_per_process_and_passes_it_to_the_include(demo, seg):
    assert not demo.of_type("SetEnvironmentVariable")
    nodes = demo.of_type("Node")
    assert {n.kwargs["executable"] for n in nodes} == {"synthetic_fluoroscope", "demo_recorder"}
    for node in nodes:
        assert node.kwargs["additional_env"] == {PROFILE_VAR: LaunchConfiguration("dds_profile")}
    (include,) = demo.of_type("IncludeLaunchDescription")
    passed = dict(include.kwargs["launch_arguments"])
    assert passed["dds_profile"] == LaunchConfiguration("dds_profile")
    assert set(passed) <= set(seg.arguments)  # the included file declares every argument it is given
    profile = demo.arguments["dds_profile"].kwargs["default_value"]
    assert profile.args[0] == PROFILE_VAR


def test_stand_in_refuses_a_keyword_the_real_node_does_not_take(monkeypatch):
    # The checks above rely on the stand-ins being as strict as the real classes about keywords.
    node_class = _stand_in_modules()["launch_ros.actions"].Node
    with pytest.raises(TypeError, match="additional_environment"):
        node_class(executable="x", additional_environment={})


# --- the real packages, where installed -------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installable here (not on PyPI): the stand-in tests above cover it")
def test_real_launch_builds_the_node_action():  # pragma: no cover - only on a ROS 2 install
    from launch import LaunchContext as RealContext
    from launch.actions import DeclareLaunchArgument as RealDeclare
    from launch.actions import OpaqueFunction as RealOpaque
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node as RealNode

    spec = importlib.util.spec_from_file_location("real_guidewire_seg_launch", SEG_LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description().entities
    context = RealContext()
    for argument in (e for e in entities if isinstance(e, RealDeclare)):
        context.launch_configurations[argument.name] = perform_substitutions(context, argument.default_value)
    context.launch_configurations["respawn"] = "true"
    (function,) = [e for e in entities if isinstance(e, RealOpaque)]
    (node,) = function.execute(context)
    assert isinstance(node, RealNode)
