"""Training and exporting the network (PyTorch): configuration, data sets, network, losses, checkpoints, training, sweeps, ONNX export and INT8 quantisation."""
