"""The demo on a ROS 2 install: synthetic fluoroscope (15 fps) -> guidewire_seg node -> recorder.

    ros2 launch guidewire_seg demo.launch.py frames:=90 preset:=hard

The recorder prints FPS, latency, drops, F1 and centreline errors and writes overlays to `out`,
then the whole launch ends. Each of the three processes gets the Fast DDS profile in its own
environment (`dds_profile`), so a launch that includes this one keeps its other processes' environment.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, IncludeLaunchDescription, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    args = [
        DeclareLaunchArgument("frames", default_value="90", description="frames the fluoroscope publishes"),
        DeclareLaunchArgument("rate_hz", default_value="15.0", description="fluoroscopy frame rate [Hz]"),
        DeclareLaunchArgument("size", default_value="512", description="frame side [px]"),
        DeclareLaunchArgument("preset", default_value="medium", description="easy | medium | hard"),
        DeclareLaunchArgument("seed", default_value="2026", description="synthetic sequence seed"),
        DeclareLaunchArgument("backend", default_value="auto", description="auto | tensorrt | onnxruntime | torch"),
        DeclareLaunchArgument("out", default_value="out/demo", description="folder for the figures and overlays"),
        DeclareLaunchArgument(
            "dds_profile",
            default_value=EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", default_value=PathJoinSubstitution(
                [FindPackageShare("guidewire_seg"), "config", "fastdds_large_frames.xml"])),
            description="Fast DDS profile (rmw_fastrtps) of the demo's three processes: the shipped one enlarges "
                        "the shared-memory segment for full-size frames"),
    ]
    # Every process of the demo (the fluoroscope publishes the frames) uses the large-frame transport, each
    # in its own environment.
    dds_env = {"FASTDDS_DEFAULT_PROFILES_FILE": LaunchConfiguration("dds_profile")}
    segmentation = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("guidewire_seg"), "launch", "guidewire_seg.launch.py"])),
        launch_arguments={"image_topic": "/fluoro/image", "backend": LaunchConfiguration("backend"),
                          "dds_profile": LaunchConfiguration("dds_profile")}.items(),
    )
    fluoroscope = Node(
        package="guidewire_seg", executable="synthetic_fluoroscope", namespace="fluoro", output="screen",
        additional_env=dds_env,
        parameters=[{
            "frames": LaunchConfiguration("frames"), "rate_hz": LaunchConfiguration("rate_hz"),
            "size": LaunchConfiguration("size"), "preset": LaunchConfiguration("preset"),
            "seed": LaunchConfiguration("seed"), "wait_for_subscribers": 2,
        }],
    )
    recorder = Node(
        package="guidewire_seg", executable="demo_recorder", output="screen", additional_env=dds_env,
        parameters=[{"out": LaunchConfiguration("out"), "rate_hz": LaunchConfiguration("rate_hz")}],
    )
    end_with_recorder = RegisterEventHandler(
        OnProcessExit(target_action=recorder, on_exit=[EmitEvent(event=Shutdown(reason="demo finished"))]))
    return LaunchDescription(args + [segmentation, recorder, fluoroscope, end_with_recorder])
