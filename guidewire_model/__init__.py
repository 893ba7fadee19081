"""guidewire_model: offline training, evaluation and export of the dual-guidewire segmentation network.

No ROS imports anywhere in this package: the ROS 2 node (``guidewire_seg_ros``) is a thin shell over it.
"""

__version__ = "0.1.0"
