"""Launch the guidewire segmentation node with its parameters file.

    ros2 launch guidewire_seg guidewire_seg.launch.py image_topic:=/fluoro/image_raw backend:=tensorrt

Every argument has a default and a description (`ros2 launch ... --show-args`). The Fast DDS profile is
set in the node's own environment only, so a launch file that includes this one keeps its other
processes' environment.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

# The spellings launch's own conditions accept (evaluate_condition_expression).
_TRUE, _FALSE = ("true", "1"), ("false", "0")


def generate_launch_description() -> LaunchDescription:
    share = Path(get_package_share_directory("guidewire_seg"))
    args = [
        DeclareLaunchArgument("params_file", default_value=str(share / "config" / "guidewire_seg.yaml"),
                              description="ROS 2 parameters file of the node"),
        DeclareLaunchArgument("model_path", default_value=str(share / "models" / "default.onnx"),
                              description="ONNX model (or .pt checkpoint with backend:=torch)"),
        DeclareLaunchArgument("backend", default_value="auto",
                              description="auto | tensorrt | onnxruntime | torch"),
        DeclareLaunchArgument("image_topic", default_value="image",
                              description="sensor_msgs/Image topic of the fluoroscopy frames"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
        DeclareLaunchArgument("log_level", default_value="info", description="ROS log level"),
        DeclareLaunchArgument(
            "dds_profile",
            default_value=EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                                              default_value=str(share / "config" / "fastdds_large_frames.xml")),
            description="Fast DDS profile (rmw_fastrtps) of the node's process: the shipped one enlarges the "
                        "shared-memory segment so best-effort full-size frames are not overwritten in transit; "
                        "the image publisher needs it too"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="true: the node's clock is the /clock topic (a replayed bag, a simulator)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="true: the lifecycle node configures and activates itself at start; "
                                          "false: it stays unconfigured for a lifecycle manager"),
        DeclareLaunchArgument("respawn", default_value="false",
                              description="true: start the node again when its process dies"),
        DeclareLaunchArgument("respawn_delay", default_value="2.0",
                              description="seconds to wait before a respawn (with respawn:=true)"),
    ]
    return LaunchDescription(args + [OpaqueFunction(function=_node)])


def _node(context: LaunchContext) -> list:
    """The node, once the launch arguments that must be Python values (bool, float) are resolved."""
    return [Node(
        package="guidewire_seg",
        executable="guidewire_seg_node",
        name="guidewire_seg",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        # This process only: an including launch's other processes keep their environment.
        additional_env={"FASTDDS_DEFAULT_PROFILES_FILE": LaunchConfiguration("dds_profile")},
        # Launch-argument values come last so they win over the file's.
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "model_path": LaunchConfiguration("model_path"),
                "backend": LaunchConfiguration("backend"),
                "use_sim_time": _boolean(context, "use_sim_time"),
                "autostart": _boolean(context, "autostart"),
            },
        ],
        remappings=[("image", LaunchConfiguration("image_topic"))],
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
        # launch's ExecuteLocal takes respawn_delay as a float, not a substitution, hence the OpaqueFunction;
        # respawn is resolved here too, so it is a bool for every launch version.
        respawn=_boolean(context, "respawn"),
        respawn_delay=_seconds(context, "respawn_delay"),
    )]


def _boolean(context: LaunchContext, name: str) -> bool:
    """A true/false (or 1/0, any case) launch argument as a bool; a clear error otherwise."""
    text = LaunchConfiguration(name).perform(context)
    if text.strip().lower() in _TRUE + _FALSE:
        return text.strip().lower() in _TRUE
    raise ValueError(f"launch argument {name}:={text!r} must be true or false")


def _seconds(context: LaunchContext, name: str) -> float:
    """A non-negative number of seconds from a launch argument; a clear error otherwise."""
    text = LaunchConfiguration(name).perform(context)
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"launch argument {name}:={text!r} is not a number of seconds") from None
    if not value >= 0.0:  # also refuses nan
        raise ValueError(f"launch argument {name}:={text!r} must be >= 0 seconds")
    return value
