"""guidewire_seg_ros: the rclpy shell around the guidewire_model pipeline (ROS types live only here)."""
