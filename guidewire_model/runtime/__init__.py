"""The node's runtime: image decoding, preprocessing, inference backends, the valid field of view, centrelines, tracking and the pipeline that chains them. No PyTorch."""
