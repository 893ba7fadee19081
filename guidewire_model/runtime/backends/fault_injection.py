"""A backend that fails on purpose: the stand-in for a GPU fault, for testing failure policies.

A real GPU fault (Xid error, lost device, out of memory mid-run) cannot be produced on a machine
without a GPU, so the node's ``on_backend_failure`` policy is exercised by wrapping a real backend in
:class:`FaultInjectingBackend`. The node does so only when ``GUIDEWIRE_TEST_FAULT_AFTER`` is set in
its environment (tests set it); nothing else uses this module.
"""

from __future__ import annotations

import numpy as np

from guidewire_model.runtime.backends.base import Backend

__all__ = ["FAULT_ENV", "FaultInjectingBackend", "InjectedFault"]

#: Environment variable: number of successful inferences before every further call fails.
FAULT_ENV = "GUIDEWIRE_TEST_FAULT_AFTER"


class InjectedFault(RuntimeError):
    """The error a :class:`FaultInjectingBackend` raises (reads like a CUDA failure in logs)."""


class FaultInjectingBackend(Backend):
    """Delegates to ``inner`` for ``fail_after`` calls of :meth:`infer`, then raises on every call."""

    def __init__(self, inner: Backend, fail_after: int) -> None:
        self.inner = inner
        self.fail_after = int(fail_after)
        self.calls = 0
        self.name = inner.name
        self.info = inner.info

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls > self.fail_after:
            raise InjectedFault(f"injected {self.name} fault after {self.fail_after} inferences "
                                "(simulated CUDA error: an illegal memory access was encountered)")
        return self.inner.infer(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.inner._run(batch)

    def warmup(self, runs: int = 2, batch_size: int = 1) -> None:
        self.inner.warmup(runs, batch_size)

    def close(self) -> None:
        self.inner.close()
