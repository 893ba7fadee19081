"""Launch the guidewire segmentation node with its parameters file.

    ros2 launch guidewire_seg guidewire_seg.launch.py image_topic:=/fluoro/image_raw backend:=tensorrt

Every argument has a default and a description (`ros2 launch ... --show-args`).
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node


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
            description="Fast DDS profile (rmw_fastrtps): the shipped one enlarges the shared-memory segment so "
                        "best-effort full-size frames are not overwritten in transit; the image publisher needs "
                        "it too"),
    ]
    dds_profile = SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("dds_profile"))
    node = Node(
        package="guidewire_seg",
        executable="guidewire_seg_node",
        name="guidewire_seg",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        # Launch-argument values come last so they win over the file's.
        parameters=[
            LaunchConfiguration("params_file"),
            {"model_path": LaunchConfiguration("model_path"), "backend": LaunchConfiguration("backend")},
        ],
        remappings=[("image", LaunchConfiguration("image_topic"))],
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
    )
    return LaunchDescription(args + [dds_profile, node])
