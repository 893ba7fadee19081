"""Run a deserialized TensorRT engine on batches: buffers allocated once, shapes checked, one stream.

Everything the frame loop needs is prepared when the runner is made: the execution context, pinned
host and device buffers sized for the profile's largest batch (the output buffer from the *engine's*
output shape and data type, not the input's), tensor addresses bound once, and a CUDA stream. A frame
then costs one host copy, two async copies, one ``execute_async_v3`` and one synchronisation; the
input shape is set again only when the batch size changes, and TensorRT's answer is checked.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from guidewire_model.runtime.backends.base import BackendError
from guidewire_model.runtime.backends.cuda_memory import CudaRuntime, HostDeviceBuffer

__all__ = ["EngineRunner"]


def _dims(shape: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in shape)


class EngineRunner:
    """Execute one engine with one input (N, C_in, S, S) and one output (N, C, S, S).

    Parameters
    ----------
    trt : module
        ``tensorrt``.
    engine : trt.ICudaEngine
    cuda : CudaRuntime
    input_size : int
        S.
    max_batch : int
        Largest batch this runner takes (at most the profile's maximum).
    channels : int
        C, the output's channels (``ModelInfo.channels``).
    input_channels : int
        C_in, the input's channels (``ModelInfo.input_channels``).
    source : str
        Named in error messages (the model file).
    device_index : int
        The CUDA device the engine was deserialized on; made current in every thread that runs it
        (the CUDA runtime's current device is per thread, and the node infers on a worker thread).

    Raises
    ------
    BackendError
        If the engine's tensors, profile or output shape do not fit, or CUDA allocation fails.
    """

    def __init__(self, trt: Any, engine: Any, cuda: CudaRuntime, input_size: int, max_batch: int, source: str,
                 device_index: int = 0, channels: int = 1, input_channels: int = 1) -> None:
        self._cuda = cuda
        self.channels = int(channels)
        self.input_channels = int(input_channels)
        self.device_index = int(device_index)
        self.engine = engine
        self.source = source
        self.input_size = int(input_size)
        self.context = None
        self.stream = None
        self._in: HostDeviceBuffer | None = None
        self._out: HostDeviceBuffer | None = None
        self._batch = 0
        self._out_shape: tuple[int, ...] = ()
        try:
            self._prepare(trt, max_batch)
        except BaseException:
            self.close()
            raise

    def _prepare(self, trt: Any, max_batch: int) -> None:
        engine = self.engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise BackendError(f"{self.source}: the engine has inputs {inputs} and outputs {outputs}; expected one each")
        self.input, self.output = inputs[0], outputs[0]
        low, _, high = (_dims(s) for s in engine.get_tensor_profile_shape(self.input, 0))
        s, c = self.input_size, self.input_channels
        if high[1:] != (c, s, s) or high[0] < max_batch or low[0] > 1:
            raise BackendError(f"{self.source}: the engine's profile takes inputs {low}..{high}, not (1..{max_batch}, {c}, "
                               f"{s}, {s}); delete the cached engine or rebuild it with guidewire-build-engine")
        self.max_batch = int(max_batch)
        self.input_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.input)))
        self.output_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.output)))

        self.context = engine.create_execution_context()
        if self.context is None:
            raise BackendError(f"{self.source}: TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = self._cuda.stream_create()
        self._set_batch(self.max_batch)  # the largest shapes size the buffers
        self._in = HostDeviceBuffer(self._cuda, math.prod((self.max_batch, c, s, s)), self.input_dtype)
        self._out = HostDeviceBuffer(self._cuda, math.prod(self._out_shape), self.output_dtype)
        for name, buf in ((self.input, self._in), (self.output, self._out)):
            if not self.context.set_tensor_address(name, buf.device):
                raise BackendError(f"{self.source}: TensorRT refused the device address of tensor {name!r}")

    def _set_batch(self, n: int) -> None:
        """Set the input shape for a batch of ``n`` (only when it changes) and read the output shape."""
        if n == self._batch:
            return
        s = self.input_size
        shape = (n, self.input_channels, s, s)
        if not self.context.set_input_shape(self.input, shape):
            raise BackendError(f"{self.source}: TensorRT refused input shape {shape} for tensor {self.input!r} "
                               f"(the engine was built for batches up to {self.max_batch})")
        out = _dims(self.context.get_tensor_shape(self.output))
        if out != (n, self.channels, s, s):
            raise BackendError(f"{self.source}: the engine's output {self.output!r} has shape {out} for input {shape}; "
                               f"expected ({n}, {self.channels}, {s}, {s}) (re-export the model with guidewire-export)")
        self._batch, self._out_shape = n, out

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities (N, C, S, S) float32 for a float32 batch of at most ``max_batch`` frames.

        Raises
        ------
        BackendError
            If TensorRT or CUDA fails.
        """
        if self.context is None:
            raise RuntimeError(f"{self.source}: TensorRT engine used after close()")
        n = int(batch.shape[0])
        if not 1 <= n <= self.max_batch:
            raise ValueError(f"{self.source}: batch of {n}; this engine runs 1..{self.max_batch} frames at a time")
        self._cuda.set_device(self.device_index)  # cheap (thread-local); see device_index
        self._set_batch(n)
        count_in, count_out = batch.size, math.prod(self._out_shape)
        np.copyto(self._in.host[:count_in].reshape(batch.shape), batch, casting="same_kind")
        nbytes_in = count_in * self.input_dtype.itemsize
        nbytes_out = count_out * self.output_dtype.itemsize
        self._cuda.copy_to_device(self._in.device, self._in.host_address, nbytes_in, self.stream)
        if not self.context.execute_async_v3(int(self.stream)):
            raise BackendError(f"{self.source}: TensorRT execution failed (see the TensorRT log)")
        self._cuda.copy_to_host(self._out.host_address, self._out.device, nbytes_out, self.stream)
        self._cuda.stream_synchronize(self.stream)
        # A copy: the pinned buffer is overwritten by the next frame.
        return self._out.host[:count_out].reshape(self._out_shape).astype(np.float32)

    def close(self) -> None:
        """Free the buffers and the stream, drop the context (idempotent)."""
        for buf in (self._in, self._out):
            if buf is not None:
                buf.free()
        self._in = self._out = None
        if self.stream is not None:
            stream, self.stream = self.stream, None
            self._cuda.stream_destroy(stream)
        self.context = None
