"""A stand-in for cuda-python's runtime module (``cuda.bindings.runtime``) on a machine without a GPU.

Implements only the calls the TensorRT backend makes, with cuda-python's conventions: every function
returns a tuple whose first item is a ``cudaError_t``. "Device" and pinned memory are ordinary host
memory at real addresses (so copies and the fake engine really move bytes), and every allocation,
free and copy is counted so tests can check buffer reuse and that nothing leaks.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import threading
import types
from dataclasses import dataclass

import numpy as np


class cudaError_t(enum.IntEnum):  # noqa: N801 - cuda-python's name
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorNoDevice = 100


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


@dataclass
class _Props:
    name: bytes
    major: int
    minor: int


class _Stream:
    def __init__(self, ident: int) -> None:
        self.ident = ident

    def __int__(self) -> int:
        return self.ident


class FakeCudart(types.ModuleType):
    """The fake runtime; attributes after construction are knobs and counters for tests."""

    cudaError_t = cudaError_t
    cudaMemcpyKind = cudaMemcpyKind

    def __init__(self, devices: int = 1, gpu_name: str = "Fake GPU 8GB", capability: tuple[int, int] = (8, 7),
                 memory_limit: int | None = None) -> None:
        super().__init__("cuda.bindings.runtime")
        self.devices = devices
        self.gpu_name = gpu_name
        self.capability = capability
        self.memory_limit = memory_limit  # largest single allocation, None = unlimited
        self.device_allocs: dict[int, np.ndarray] = {}
        self.host_allocs: dict[int, np.ndarray] = {}
        self.malloc_sizes: list[int] = []
        self.host_malloc_sizes: list[int] = []
        self.copies: list[tuple[str, int]] = []
        self.streams: set[int] = set()
        self._thread = threading.local()  # the current device is per host thread, default 0
        self.alloc_device: dict[int, int] = {}
        self._next_stream = 1

    # --- devices
    def cudaGetDeviceCount(self):
        if self.devices == 0:
            return (cudaError_t.cudaErrorNoDevice, 0)
        return (cudaError_t.cudaSuccess, self.devices)

    def cudaGetDeviceProperties(self, index):
        if not 0 <= index < self.devices:
            return (cudaError_t.cudaErrorInvalidValue, None)
        name = self.gpu_name.encode() + b"\x00" * 8  # cuda-python gives the C char array, NUL-padded
        return (cudaError_t.cudaSuccess, _Props(name, *self.capability))

    def cudaSetDevice(self, index):
        if not 0 <= index < self.devices:
            return (cudaError_t.cudaErrorInvalidValue,)
        self._thread.device = index
        return (cudaError_t.cudaSuccess,)

    @property
    def current_device(self) -> int:
        return getattr(self._thread, "device", 0)

    def cudaGetErrorName(self, err):
        return (cudaError_t.cudaSuccess, cudaError_t(err).name.encode())

    # --- memory
    def _alloc(self, table: dict, sizes: list, nbytes: int):
        if self.memory_limit is not None and nbytes > self.memory_limit:
            return (cudaError_t.cudaErrorMemoryAllocation, 0)
        block = np.zeros(max(nbytes, 1), np.uint8)
        table[block.ctypes.data] = block
        self.alloc_device[block.ctypes.data] = self.current_device
        sizes.append(nbytes)
        return (cudaError_t.cudaSuccess, block.ctypes.data)

    def cudaMalloc(self, nbytes):
        return self._alloc(self.device_allocs, self.malloc_sizes, nbytes)

    def cudaMallocHost(self, nbytes):
        return self._alloc(self.host_allocs, self.host_malloc_sizes, nbytes)

    def cudaFree(self, ptr):
        return (cudaError_t.cudaSuccess,) if self.device_allocs.pop(int(ptr), None) is not None \
            else (cudaError_t.cudaErrorInvalidValue,)

    def cudaFreeHost(self, ptr):
        return (cudaError_t.cudaSuccess,) if self.host_allocs.pop(int(ptr), None) is not None \
            else (cudaError_t.cudaErrorInvalidValue,)

    def _inside(self, table: dict, ptr: int, nbytes: int) -> bool:
        return any(base <= ptr and ptr + nbytes <= base + block.size for base, block in table.items())

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):
        if int(stream) not in self.streams:
            return (cudaError_t.cudaErrorInvalidValue,)
        if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
            ok = self._inside(self.device_allocs, dst, nbytes) and self._inside(self.host_allocs, src, nbytes)
        elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
            ok = self._inside(self.host_allocs, dst, nbytes) and self._inside(self.device_allocs, src, nbytes)
        else:
            ok = False
        if not ok:  # only pinned host <-> allocated device copies are expected
            return (cudaError_t.cudaErrorInvalidValue,)
        device_ptr = dst if kind == cudaMemcpyKind.cudaMemcpyHostToDevice else src
        owner = next(self.alloc_device[b] for b, blk in self.device_allocs.items() if b <= device_ptr < b + blk.size)
        if owner != self.current_device:  # memory of another device than this thread's current one
            return (cudaError_t.cudaErrorInvalidValue,)
        ctypes.memmove(dst, src, nbytes)
        self.copies.append((cudaMemcpyKind(kind).name, nbytes))
        return (cudaError_t.cudaSuccess,)

    # --- streams
    def cudaStreamCreate(self):
        stream = _Stream(self._next_stream)
        self._next_stream += 1
        self.streams.add(stream.ident)
        return (cudaError_t.cudaSuccess, stream)

    def cudaStreamSynchronize(self, stream):
        return (cudaError_t.cudaSuccess,) if int(stream) in self.streams else (cudaError_t.cudaErrorInvalidValue,)

    def cudaStreamDestroy(self, stream):
        if int(stream) not in self.streams:
            return (cudaError_t.cudaErrorInvalidValue,)
        self.streams.discard(int(stream))
        return (cudaError_t.cudaSuccess,)

    # --- for tests
    def device_view(self, ptr: int, nbytes: int) -> np.ndarray:
        """uint8 view of ``nbytes`` of fake device memory at ``ptr`` (used by the fake engine)."""
        if not self._inside(self.device_allocs, ptr, nbytes):
            raise ValueError(f"fake CUDA: {nbytes} bytes at {ptr:#x} are not inside a device allocation")
        return np.frombuffer((ctypes.c_uint8 * nbytes).from_address(ptr), np.uint8)

    def live(self) -> int:
        return len(self.device_allocs) + len(self.host_allocs) + len(self.streams)


def install(monkeypatch, cudart: FakeCudart) -> FakeCudart:
    """Make ``from cuda.bindings import runtime`` return ``cudart`` for the test."""
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cudart
    cuda.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    return cudart
