"""The few CUDA runtime calls the TensorRT backend needs, through cuda-python, with errors made clear.

Device buffers, pinned (page-locked) host buffers and a stream, without PyTorch: the node process
stays torch-free. Pinned host memory lets ``cudaMemcpyAsync`` run truly asynchronously (pageable
memory is staged through a driver buffer first). Every call's ``cudaError_t`` is checked and turned
into a :class:`~guidewire_model.runtime.backends.base.BackendError` naming the call and the error.

``cuda-python`` 12.x exposes the runtime as ``cuda.bindings.runtime`` (12.6+) and, deprecated,
as ``cuda.cudart``; both are accepted.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from guidewire_model.runtime.backends.base import BackendError

__all__ = ["CudaRuntime", "DeviceInfo", "HostDeviceBuffer", "import_cudart"]

_INSTALL = "pip install 'guidewire-seg[tensorrt]' (cuda-python), or use backend onnxruntime"


def import_cudart() -> Any:
    """The cuda-python runtime module.

    Raises
    ------
    BackendError
        If cuda-python is not installed.
    """
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError as exc:
            raise BackendError(f"the tensorrt backend needs the cuda-python module: {_INSTALL}") from exc
    return cudart


@dataclass(frozen=True)
class DeviceInfo:
    """A CUDA device's name and compute capability (``"8.7"``)."""

    index: int
    name: str
    compute_capability: str


class CudaRuntime:
    """Checked wrappers around the cuda-python runtime functions (which return ``(error, *values)``).

    Parameters
    ----------
    cudart : module
        From :func:`import_cudart` (or a stand-in with the same functions, in tests).
    """

    def __init__(self, cudart: Any) -> None:
        self.rt = cudart

    def _call(self, what: str, result: Any) -> Any:
        err, values = result[0], tuple(result[1:])
        if err != self.rt.cudaError_t.cudaSuccess:
            try:
                name = self.rt.cudaGetErrorName(err)[1]
                name = name.decode() if isinstance(name, bytes) else str(name)
            except Exception:  # noqa: BLE001 - the name is only for the message
                name = str(err)
            raise BackendError(f"CUDA {what} failed: {name}")
        if not values:
            return None
        return values[0] if len(values) == 1 else values

    def device_count(self) -> tuple[int, str]:
        """Visible CUDA devices and, when there are none, why (the CUDA error name); never raises.

        ``cudaErrorInsufficientDriver`` here usually means a cuda-python for a newer CUDA major than
        the driver (cuda-python 13 on a CUDA 12 driver).
        """
        err, count = self.rt.cudaGetDeviceCount()
        if err == self.rt.cudaError_t.cudaSuccess:
            return int(count), ""
        try:
            name = self.rt.cudaGetErrorName(err)[1]
            return 0, name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # noqa: BLE001 - the name is only for the message
            return 0, str(err)

    def device_info(self, index: int) -> DeviceInfo:
        prop = self._call(f"cudaGetDeviceProperties({index})", self.rt.cudaGetDeviceProperties(index))
        name = prop.name
        name = name.decode(errors="replace") if isinstance(name, (bytes, bytearray)) else str(name)
        return DeviceInfo(index, name.split("\x00", 1)[0].strip(), f"{int(prop.major)}.{int(prop.minor)}")

    def set_device(self, index: int) -> None:
        self._call(f"cudaSetDevice({index})", self.rt.cudaSetDevice(index))

    def stream_create(self) -> Any:
        return self._call("cudaStreamCreate", self.rt.cudaStreamCreate())

    def stream_synchronize(self, stream: Any) -> None:
        self._call("cudaStreamSynchronize", self.rt.cudaStreamSynchronize(stream))

    def stream_destroy(self, stream: Any) -> None:
        self._call("cudaStreamDestroy", self.rt.cudaStreamDestroy(stream))

    def copy_to_device(self, dst: int, src: int, nbytes: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync (host to device)", self.rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream))

    def copy_to_host(self, dst: int, src: int, nbytes: int, stream: Any) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync (device to host)", self.rt.cudaMemcpyAsync(dst, src, nbytes, kind, stream))


class HostDeviceBuffer:
    """A device buffer and a pinned host buffer of the same size, with a numpy view of the host side.

    Parameters
    ----------
    cuda : CudaRuntime
    count : int
        Elements.
    dtype : numpy dtype

    Attributes
    ----------
    host : ndarray, shape (count,)
        Writable view of the pinned host memory (valid until :meth:`free`).
    device : int
        Device address.
    nbytes : int
    """

    def __init__(self, cuda: CudaRuntime, count: int, dtype: Any) -> None:
        self._cuda = cuda
        self.dtype = np.dtype(dtype)
        self.count = int(count)
        self.nbytes = self.count * self.dtype.itemsize
        self.device = 0
        self._host_ptr = 0
        self._host_ptr = int(cuda._call(f"cudaMallocHost({self.nbytes})", cuda.rt.cudaMallocHost(self.nbytes)))
        try:
            self.device = int(cuda._call(f"cudaMalloc({self.nbytes})", cuda.rt.cudaMalloc(self.nbytes)))
        except BackendError:
            self.free()
            raise
        raw = (ctypes.c_uint8 * self.nbytes).from_address(self._host_ptr)
        self.host = np.frombuffer(raw, dtype=self.dtype, count=self.count)

    @property
    def host_address(self) -> int:
        return self._host_ptr

    def free(self) -> None:
        """Release both buffers (idempotent); the host view must not be used afterwards."""
        self.host = None
        if self.device:
            ptr, self.device = self.device, 0
            self._cuda._call("cudaFree", self._cuda.rt.cudaFree(ptr))
        if self._host_ptr:
            ptr, self._host_ptr = self._host_ptr, 0
            self._cuda._call("cudaFreeHost", self._cuda.rt.cudaFreeHost(ptr))
