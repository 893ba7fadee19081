"""pip install of the offline package ``guidewire_model`` on a machine without ROS.

On a ROS 2 install the root is built by colcon as the ament_cmake package ``guidewire_seg``
(CMakeLists.txt); this file serves ``pip install .`` only.
"""

from glob import glob

from setuptools import find_packages, setup

# What the node needs on a robot computer: numpy, OpenCV, ONNX Runtime (and onnx
# to read a model's metadata), scipy/scikit-image for the centrelines, PyYAML for the parameters.
# No PyTorch: with ONNX Runtime or TensorRT the node never imports it (test_node_torch_free.py).
RUNTIME = [
    "numpy>=1.24",
    "opencv-python-headless>=4.8",
    "pyyaml>=6",
    "tqdm>=4.60",
    "onnx>=1.15",
    "onnxruntime>=1.17",
    "scikit-image>=0.22",
    "scipy>=1.10",
]
# Training, checkpoints (.pt, the torch backend) and ONNX export.
TRAIN = ["torch>=2.2", "tensorboard>=2.14"]
# Evaluation reports, bags, the soak and node benchmarks, and DICOM import (pylibjpeg-libjpeg decodes
# JPEG baseline/extended/lossless and JPEG-LS, -openjpeg JPEG 2000).
TOOLS = [
    "matplotlib>=3.7",
    "rosbags>=0.10",
    "mcap>=1.6,<2",  # damaged MCAP bags read record by record (bag_storage); 1.6 is the version tried
    "psutil>=5.9",
    "pydicom>=3.0",
    "pylibjpeg>=2.0",
    "pylibjpeg-libjpeg>=2.1",
    "pylibjpeg-openjpeg>=2.3",
]

setup(
    name="guidewire-seg",
    version="0.1.0",
    description="Dual-guidewire segmentation for robot-assisted PCI: training, evaluation, export",
    python_requires=">=3.10",
    # guidewire_seg_ros comes along for guidewire-eval-bag, whose offline mode needs no ROS; its node
    # and live modes import rclpy only when run, on a machine with a ROS 2 install.
    packages=find_packages(include=["guidewire_model", "guidewire_model.*", "guidewire_seg_ros", "guidewire_seg_ros.*"]),
    # The shipped YAML configs land where guidewire_model.core.shipped_files.config_dir() looks for them.
    data_files=[
        ("share/guidewire_seg/config", glob("config/*.yaml") + glob("config/*.xml")),
        # Bags carry our message type; the bag tools register it from these definitions.
        ("share/guidewire_seg/msg", glob("msg/*.msg")),
        # The shipped default model, where shipped_files.shipped_models_dir() looks for it.
        ("share/guidewire_seg/models", glob("models/*.onnx")),
    ],
    # `pip install .` is the runtime; `.[runtime]` says so explicitly (deployment scripts), `.[train]`
    # adds PyTorch for training and checkpoints, `.[tools]` the evaluation and import tools, `.[all]` both.
    install_requires=RUNTIME,
    extras_require={
        "runtime": RUNTIME,
        "train": TRAIN,
        "tools": TOOLS,
        "all": TRAIN + TOOLS,
        # TensorRT 10 (JetPack) and 11 (desktop) are the majors the engine code is written for; a later
        # major is untried and may remove APIs again (11 removed BuilderFlag.FP16), so it is not allowed.
        "tensorrt": ["tensorrt-cu12>=10,<12", "cuda-python>=12.3,<13"],  # cuda-python 13 needs a CUDA 13 driver
        "test": ["pytest>=8", "pytest-timeout>=2", "hypothesis>=6"],
    },
    entry_points={
        "console_scripts": [
            "guidewire-synth=guidewire_model.synthetic.cli:main",
            "guidewire-train=guidewire_model.training.train:main",
            "guidewire-eval=guidewire_model.evaluation.evaluate:main",
            "guidewire-sweep=guidewire_model.evaluation.sweep:main",
            "guidewire-contrast=guidewire_model.evaluation.contrast:main",
            "guidewire-export=guidewire_model.training.export:main",
            "guidewire-quantize=guidewire_model.training.quantize:main",
            "guidewire-bench=guidewire_model.evaluation.benchmark:main",
            "guidewire-demo-offline=guidewire_model.evaluation.offline_demo:main",
            "guidewire-synth-bag=guidewire_model.evaluation.bags:main",
            "guidewire-eval-bag=guidewire_seg_ros.tools.eval_bag:main",
            "guidewire-soak=guidewire_seg_ros.tools.soak:main",
            "guidewire-import=guidewire_model.importers.cli:main",
            "guidewire-segment=guidewire_model.inference.segment:main",
            "guidewire-build-engine=guidewire_model.runtime.backends.build_engine:main",
        ]
    },
)
