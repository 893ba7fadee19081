"""Whether an NVIDIA GPU is usable, asked of the CUDA driver itself (no PyTorch, no CUDA toolkit).

The runtime must not import torch only to learn whether a GPU is there (``backend: auto``,
``device: auto``): the driver library ``libcuda`` answers the same question through two calls of its
C API, and it is present wherever a CUDA GPU can be used at all (desktop driver, Jetson L4T).
"""

from __future__ import annotations

import ctypes
import functools
import logging

__all__ = ["cuda_device_count"]

log = logging.getLogger(__name__)

#: Names of the CUDA driver library, in the order they are tried.
DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


@functools.lru_cache(maxsize=1)
def cuda_device_count() -> int:
    """Number of CUDA devices this process may use; 0 without a driver, a GPU, or on any driver error.

    Honours ``CUDA_VISIBLE_DEVICES`` (the driver applies it). The answer is cached for the
    process: devices do not come and go while a node runs.
    """
    for name in DRIVER_LIBRARIES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        status = lib.cuInit(0)
        if status != 0:
            log.info("CUDA driver %s found but cuInit failed (CUresult %d): no usable GPU", name, status)
            return 0
        count = ctypes.c_int(0)
        status = lib.cuDeviceGetCount(ctypes.byref(count))
        if status != 0:
            log.info("CUDA driver %s: cuDeviceGetCount failed (CUresult %d): no usable GPU", name, status)
            return 0
        return int(count.value)
    return 0
