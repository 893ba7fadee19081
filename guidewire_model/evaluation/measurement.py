"""The measurement core of the benchmarks: latency summaries, memory high-water marks, drop simulation.

Contract shared by ``guidewire-bench``, the node benchmark and the bag evaluator, so a "p99" means
the same thing everywhere in this project:

* latencies are wall-clock milliseconds from :func:`time.perf_counter`, one sample per frame;
  warm-up frames are never among the samples;
* a set of latencies is summarised by :func:`~guidewire_model.runtime.rolling_stats.latency_summary`
  (:func:`numpy.percentile`, linear interpolation), as the node's diagnostics summarise their window;
* FPS of a serial stage is ``1000 / mean latency`` (frames one after another, no overlap);
* frames dropped at a given input rate come from :func:`simulate_keep_latest`, which replays the
  measured per-frame latencies through the node's keep-latest hand-over (``frame_slot``).
"""

from __future__ import annotations

import math
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from guidewire_model.runtime.rolling_stats import latency_summary

__all__ = ["MemoryProbe", "simulate_keep_latest"]

_PROC_STATUS = Path("/proc/self/status")
_PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def simulate_keep_latest(service_ms: Sequence[float], period_ms: float) -> dict[str, float]:
    """Replay measured per-frame latencies through a keep-latest worker fed at a fixed rate.

    Frames arrive every ``period_ms`` (frame k at ``k * period_ms``). The worker, whenever it is
    free, takes the newest frame that has arrived (waiting for the next one if none has) and is
    busy for the next service time; frames overwritten in the slot meanwhile are dropped. This is
    the node's ``FrameSlot`` policy, so the figures say what the node would achieve with these
    stage latencies and no other load.

    Parameters
    ----------
    service_ms : sequence of float
        Processing time of each served frame, in order (e.g. measured end-to-end latencies); >= 1.
    period_ms : float
        Input frame period, > 0 (1000 / rate in Hz).

    Returns
    -------
    dict
        ``served`` and ``dropped`` frame counts, ``drop_fraction`` = dropped / (served + dropped),
        ``fps`` = input rate x (1 - drop_fraction), the output rate the node would sustain, and
        ``latency`` (a :func:`~guidewire_model.runtime.rolling_stats.latency_summary` of arrival -> completion, queueing included).

    Raises
    ------
    ValueError
        If ``service_ms`` is empty or has a negative value, or ``period_ms`` <= 0.
    """
    if period_ms <= 0 or not math.isfinite(period_ms):
        raise ValueError(f"period_ms must be a positive number, got {period_ms}")
    if len(service_ms) == 0 or min(service_ms) < 0:
        raise ValueError("service_ms must hold at least one non-negative latency")
    free_at = 0.0
    next_frame = 0  # oldest frame not yet served or dropped
    dropped = 0
    latencies = []
    for service in service_ms:
        # Newest frame that has arrived by the time the worker is free (at least the next one).
        newest = max(next_frame, int(math.floor(free_at / period_ms + 1e-9)))
        dropped += newest - next_frame
        arrival = newest * period_ms
        free_at = max(free_at, arrival) + float(service)
        latencies.append(free_at - arrival)
        next_frame = newest + 1
    served = len(service_ms)
    return {"served": served, "dropped": dropped, "drop_fraction": dropped / (served + dropped),
            "fps": 1e3 / period_ms * served / (served + dropped),
            "latency": latency_summary(latencies)}


def _status_kib(field: str) -> int | None:
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _maxrss_kib() -> int:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


@dataclass
class MemoryProbe:
    """Peak memory above the level at entry, over a ``with`` block.

    Process RSS: on Linux the kernel's high-water mark (``VmHWM``) is reset on entry by writing 5
    to ``/proc/self/clear_refs``, so the peak is this block's alone (method ``"vmhwm"``). Where that
    is not possible, ``resource.getrusage`` ``ru_maxrss`` is used (method ``"ru_maxrss"``): it is the
    process's lifetime peak, so a block that stays below an earlier peak reads 0 (a lower bound).
    On CUDA, ``torch.cuda.max_memory_allocated`` (PyTorch's allocator only: TensorRT and ONNX Runtime
    allocate outside it) and the device-wide used memory from ``torch.cuda.mem_get_info``.

    Parameters
    ----------
    cuda : bool
        Also track CUDA memory (needs torch with a visible GPU).

    Attributes (set on exit)
    ------------------------
    rss_peak_delta_mb : float
        Peak RSS inside the block minus RSS at entry, MiB (>= 0).
    rss_method : str
    cuda_max_allocated_mb, cuda_used_delta_mb : float or None
        ``None`` when ``cuda`` is false.
    """

    cuda: bool = False
    rss_peak_delta_mb: float = 0.0
    rss_method: str = ""
    cuda_max_allocated_mb: float | None = None
    cuda_used_delta_mb: float | None = None

    def __enter__(self) -> "MemoryProbe":
        self._rss0 = _status_kib("VmRSS")
        self.rss_method = "ru_maxrss"
        if self._rss0 is not None:
            try:
                _PROC_CLEAR_REFS.write_text("5")
                self.rss_method = "vmhwm"
            except OSError:
                pass
        if self.rss_method == "ru_maxrss":
            self._rss0 = _maxrss_kib()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._cuda_alloc0 = torch.cuda.memory_allocated()
            free, total = torch.cuda.mem_get_info()
            self._cuda_used0 = total - free
        return self

    def __exit__(self, *exc) -> None:
        peak = _status_kib("VmHWM") if self.rss_method == "vmhwm" else _maxrss_kib()
        self.rss_peak_delta_mb = max(0, (peak or 0) - self._rss0) / 1024
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.cuda_max_allocated_mb = (torch.cuda.max_memory_allocated() - self._cuda_alloc0) / 2**20
            free, total = torch.cuda.mem_get_info()
            self.cuda_used_delta_mb = (total - free - self._cuda_used0) / 2**20
