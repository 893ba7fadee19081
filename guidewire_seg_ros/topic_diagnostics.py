"""Per-topic diagnostics in the layout of ROS's ``diagnostic_updater`` (its TopicDiagnostic).

``diagnostic_updater`` is not installable from PyPI (there is no wheel for it, unlike
``diagnostic_msgs``), and a ROS install may lack it too, so this module writes the same
``DiagnosticStatus`` a ``diagnostic_updater.TopicDiagnostic`` writes, key for key and message for
message, so that ``diagnostic_aggregator``, ``rqt_runtime_monitor`` and a robot's own monitors read
it as they read any driver's:

* status name ``"<node>: <topic> topic status"``, ``hardware_id`` set;
* the frequency part (``FrequencyStatus``): events counted over the last ``window_size`` updates;
  ERROR "No events recorded.", WARN "Frequency too low." / "Frequency too high." outside
  ``[min_hz * (1 - tolerance), max_hz * (1 + tolerance)]``, else OK "Desired frequency met";
* the stamp part (``TimeStampStatus``): the age ``now - header.stamp`` of every message published
  since the last update; ERROR "Timestamps too far in future seen." / "Timestamps too far in past
  seen." / "Zero timestamp seen.", WARN "No data since last update.", else OK "Timestamps are
  reasonable.";
* the two merged as ``CompositeDiagnosticTask`` merges: the worse level, and the messages of the
  parts at that level (OK messages joined with "; ").

Pure Python apart from the message types, and the clock is passed in, so the rules are unit-tested.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

__all__ = ["NODE_STATUS_SUFFIX", "FrequencyBounds", "TopicDiagnostic", "merge_summary"]

#: The node's own status is named "<node name>" + this; readers find it by it, not by its position.
NODE_STATUS_SUFFIX = ": guidewire segmentation"

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass(frozen=True)
class FrequencyBounds:
    """``diagnostic_updater.FrequencyStatusParam`` and ``TimeStampStatusParam`` in one.

    Attributes
    ----------
    min_hz, max_hz : float
        Expected publication rate; ``max_hz`` may be ``inf`` (no upper bound).
    tolerance : float
        Relative slack on both bounds (diagnostic_updater's default 0.1).
    window_size : int
        Number of diagnostic updates the frequency is measured over (diagnostic_updater's default 5).
    min_stamp_age_s, max_stamp_age_s : float
        Acceptable ``now - header.stamp`` of a published message [s] (defaults -1 and 5 there).
    """

    min_hz: float
    max_hz: float = math.inf
    tolerance: float = 0.1
    window_size: int = 5
    min_stamp_age_s: float = -1.0
    max_stamp_age_s: float = 5.0


def _level(value) -> int:
    return value[0] if isinstance(value, (bytes, bytearray)) else int(value)


def merge_summary(level: int, message: str, other_level: int, other_message: str) -> tuple[int, str]:
    """``DiagnosticStatusWrapper.mergeSummary``: the worse level wins; equal severities join messages."""
    if (other_level > 0) == (level > 0):
        message = f"{message}; {other_message}" if message else other_message
    elif other_level > level:
        message = other_message
    return max(level, other_level), message


class TopicDiagnostic:
    """Frequency and stamp-age status of one published topic (``diagnostic_updater.TopicDiagnostic``).

    Parameters
    ----------
    topic : str
        Fully qualified topic name; the status is named ``"<node_name>: <topic> topic status"``.
    node_name : str
    bounds : FrequencyBounds
    now_s : callable returning float
        The node's clock in seconds (ROS time, so simulated time works as for header stamps).
    monotonic_s : callable returning float
        Steady clock for the frequency window (diagnostic_updater uses STEADY_TIME there).

    :meth:`tick` may be called from any thread (the worker publishes); :meth:`status` from the
    diagnostics timer.
    """

    def __init__(self, topic: str, node_name: str, bounds: FrequencyBounds, now_s: Callable[[], float],
                 monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self.name = f"{node_name}: {topic} topic status"
        self.bounds = bounds
        self._now_s = now_s
        self._monotonic_s = monotonic_s
        self._lock = threading.Lock()
        self.count = 0
        start = monotonic_s()
        self._times = [start] * bounds.window_size
        self._seq = [0] * bounds.window_size
        self._index = 0
        self._min_delta = self._max_delta = 0.0
        self._deltas_valid = False
        self._zero_seen = False
        self._early = self._late = self._zero = 0

    def tick(self, stamp_s: float) -> None:
        """Count one published message whose header stamp is ``stamp_s`` seconds."""
        with self._lock:
            self.count += 1
            if stamp_s == 0:
                self._zero_seen = True
                return
            delta = self._now_s() - stamp_s
            if not self._deltas_valid or delta > self._max_delta:
                self._max_delta = delta
            if not self._deltas_valid or delta < self._min_delta:
                self._min_delta = delta
            self._deltas_valid = True

    def status(self, hardware_id: str) -> DiagnosticStatus:
        """The status for this update (advances the frequency window and resets the stamp window)."""
        with self._lock:
            f_level, f_message, f_values = self._frequency()
            s_level, s_message, s_values = self._stamps()
        level, message = merge_summary(f_level, f_message, s_level, s_message)
        values = [KeyValue(key=k, value=v) for k, v in f_values + s_values]
        return DiagnosticStatus(level=bytes([level]), name=self.name, message=message,
                                hardware_id=hardware_id, values=values)

    def _frequency(self) -> tuple[int, str, list[tuple[str, str]]]:
        b = self.bounds
        now = self._monotonic_s()
        events = self.count - self._seq[self._index]
        window = max(now - self._times[self._index], 1e-9)
        freq = events / window
        self._seq[self._index], self._times[self._index] = self.count, now
        self._index = (self._index + 1) % b.window_size
        if events == 0:
            level, message = ERROR, "No events recorded."
        elif freq < b.min_hz * (1 - b.tolerance):
            level, message = WARN, "Frequency too low."
        elif math.isfinite(b.max_hz) and freq > b.max_hz * (1 + b.tolerance):
            level, message = WARN, "Frequency too high."
        else:
            level, message = OK, "Desired frequency met"
        values = [("Events in window", f"{events:d}"), ("Events since startup", f"{self.count:d}"),
                  ("Duration of window (s)", f"{window:f}"), ("Actual frequency (Hz)", f"{freq:f}")]
        if b.min_hz == b.max_hz:
            values.append(("Target frequency (Hz)", f"{b.min_hz:f}"))
        if b.min_hz > 0:
            values.append(("Minimum acceptable frequency (Hz)", f"{b.min_hz * (1 - b.tolerance):f}"))
        if math.isfinite(b.max_hz):
            values.append(("Maximum acceptable frequency (Hz)", f"{b.max_hz * (1 + b.tolerance):f}"))
        return _level(level), message, values

    def _stamps(self) -> tuple[int, str, list[tuple[str, str]]]:
        b = self.bounds
        level, message = _level(OK), "Timestamps are reasonable."
        if not self._deltas_valid and not self._zero_seen:
            level, message = _level(WARN), "No data since last update."
        else:
            # As TimeStampStatus: each later finding replaces the summary (all are ERROR).
            if self._deltas_valid and self._min_delta < b.min_stamp_age_s:
                level, message = _level(ERROR), "Timestamps too far in future seen."
                self._early += 1
            if self._deltas_valid and self._max_delta > b.max_stamp_age_s:
                level, message = _level(ERROR), "Timestamps too far in past seen."
                self._late += 1
            if self._zero_seen:
                level, message = _level(ERROR), "Zero timestamp seen."
                self._zero += 1
        values = [("Earliest timestamp delay:", f"{self._min_delta:f}"),
                  ("Latest timestamp delay:", f"{self._max_delta:f}"),
                  ("Earliest acceptable timestamp delay:", f"{b.min_stamp_age_s:f}"),
                  ("Latest acceptable timestamp delay:", f"{b.max_stamp_age_s:f}"),
                  ("Late diagnostic update count:", f"{self._late:d}"),
                  ("Early diagnostic update count:", f"{self._early:d}"),
                  ("Zero seen diagnostic update count:", f"{self._zero:d}")]
        self._deltas_valid = self._zero_seen = False
        self._min_delta = self._max_delta = 0.0
        return level, message, values
