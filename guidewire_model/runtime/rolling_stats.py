"""Latency and rate statistics: a summary of a set of latencies, and bounded windows of the latest samples.

Shared by the ROS node's diagnostics, the bag evaluator, the demo, the soak test and the
benchmarks, so every figure of "latency p50/p99" or "FPS" in this project is computed the same way:
:func:`numpy.percentile` with its default linear interpolation.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Iterable

import numpy as np

__all__ = ["PERCENTILES", "RateMeter", "RollingPercentiles", "latency_summary"]

#: The percentiles of every latency summary.
PERCENTILES = (50, 90, 95, 99)


def latency_summary(samples_ms: Iterable[float]) -> dict[str, float]:
    """Summary statistics of per-frame latencies.

    Parameters
    ----------
    samples_ms : iterable of float
        One latency per timed frame, in milliseconds.

    Returns
    -------
    dict
        ``p50``, ``p90``, ``p95``, ``p99`` (linear-interpolation percentiles, as
        :class:`RollingPercentiles`), ``mean``, ``min``, ``max`` (ms) and ``runs`` (the sample count,
        int). With no samples, ``runs`` is 0 and every figure NaN.

    Raises
    ------
    ValueError
        If a sample is not finite.
    """
    times = np.fromiter((float(s) for s in samples_ms), dtype=np.float64)
    if not np.all(np.isfinite(times)):
        raise ValueError("latency_summary: every sample must be finite")
    if times.size == 0:
        return {**{f"p{q}": float("nan") for q in PERCENTILES}, "mean": float("nan"), "min": float("nan"),
                "max": float("nan"), "runs": 0}
    values = np.percentile(times, PERCENTILES)
    return {**{f"p{q}": float(v) for q, v in zip(PERCENTILES, values)}, "mean": float(times.mean()),
            "min": float(times.min()), "max": float(times.max()), "runs": int(times.size)}


class RollingPercentiles:
    """Percentiles of the last ``window`` samples (thread-safe; memory bounded by ``window``)."""

    def __init__(self, window: int = 1000) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._values: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        with self._lock:
            self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the window; NaN when empty."""
        with self._lock:
            if not self._values:
                return float("nan")
            return float(np.percentile(np.fromiter(self._values, dtype=np.float64), q))


class RateMeter:
    """Events per second over the last ``window_s`` seconds (monotonic clock; thread-safe)."""

    def __init__(self, window_s: float = 5.0, clock=time.monotonic) -> None:
        self._window = float(window_s)
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = self._clock()
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self) -> float:
        now = self._clock()
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], 1e-9)
            return (len(self._times) - 1) / span if span < self._window else len(self._times) / self._window

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()
