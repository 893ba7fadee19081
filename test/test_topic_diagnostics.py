"""Per-topic diagnostics in diagnostic_updater's layout: the frequency and stamp-age rules, with fake clocks."""

from __future__ import annotations

import math

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from guidewire_seg_ros.topic_diagnostics import FrequencyBounds, TopicDiagnostic, merge_summary


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _diag(bounds: FrequencyBounds) -> tuple[TopicDiagnostic, Clock, Clock]:
    ros, steady = Clock(1_700_000_000.0), Clock(50.0)
    return TopicDiagnostic("/gw/mask", "gw", bounds, now_s=ros, monotonic_s=steady), ros, steady


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _run(diag: TopicDiagnostic, ros: Clock, steady: Clock, ticks: int, seconds: float = 1.0,
         age_s: float = 0.05) -> DiagnosticStatus:
    for _ in range(ticks):
        diag.tick(ros.t - age_s)
    ros.t += seconds
    steady.t += seconds
    return diag.status("host:cpu")


def test_name_hardware_id_and_the_keys_of_diagnostic_updater():
    diag, ros, steady = _diag(FrequencyBounds(min_hz=5.0, max_hz=20.0, max_stamp_age_s=1.0))
    status = _run(diag, ros, steady, ticks=10, age_s=1.5)
    assert status.name == "gw: /gw/mask topic status" and status.hardware_id == "host:cpu"
    values = _values(status)
    assert list(values) == [
        "Events in window", "Events since startup", "Duration of window (s)", "Actual frequency (Hz)",
        "Minimum acceptable frequency (Hz)", "Maximum acceptable frequency (Hz)",
        "Earliest timestamp delay:", "Latest timestamp delay:", "Earliest acceptable timestamp delay:",
        "Latest acceptable timestamp delay:", "Late diagnostic update count:", "Early diagnostic update count:",
        "Zero seen diagnostic update count:"]
    assert values["Events in window"] == "10" and float(values["Actual frequency (Hz)"]) == pytest.approx(10.0)
    assert float(values["Minimum acceptable frequency (Hz)"]) == pytest.approx(4.5)   # 10 % tolerance
    assert float(values["Maximum acceptable frequency (Hz)"]) == pytest.approx(22.0)
    # The age is the node clock at publication minus the stamp.
    assert float(values["Latest timestamp delay:"]) == pytest.approx(1.5)
    assert (status.level, status.message) == (DiagnosticStatus.ERROR, "Timestamps too far in past seen.")
    assert values["Late diagnostic update count:"] == "1"
    diag.tick(ros.t - 0.2)
    steady.t += 1.0
    ok = diag.status("host:cpu")  # 11 events over the 2 s since start: 5.5 Hz; the new stamp is fine
    assert (ok.level, ok.message) == (DiagnosticStatus.OK, "Desired frequency met; Timestamps are reasonable.")
    assert _values(ok)["Late diagnostic update count:"] == "1"  # a tally, as diagnostic_updater keeps


@pytest.mark.parametrize("ticks, level, message", [
    (0, DiagnosticStatus.ERROR, "No events recorded.; No data since last update."),
    (4, DiagnosticStatus.WARN, "Frequency too low."),      # 4 Hz < 5 * 0.9
    (5, DiagnosticStatus.OK, "Desired frequency met; Timestamps are reasonable."),
    (20, DiagnosticStatus.OK, "Desired frequency met; Timestamps are reasonable."),
    (23, DiagnosticStatus.WARN, "Frequency too high."),    # 23 Hz > 20 * 1.1
])
def test_frequency_rules(ticks, level, message):
    diag, ros, steady = _diag(FrequencyBounds(min_hz=5.0, max_hz=20.0, max_stamp_age_s=10.0))
    status = _run(diag, ros, steady, ticks=ticks)
    assert (status.level, status.message) == (level, message)


def test_frequency_is_measured_over_the_last_window_size_updates():
    diag, ros, steady = _diag(FrequencyBounds(min_hz=1.0, window_size=3, max_stamp_age_s=10.0))
    rates = [float(_values(_run(diag, ros, steady, ticks=n))["Actual frequency (Hz)"]) for n in (6, 0, 0, 0, 3)]
    # The window spans the last three updates once it is full: (6+0+0)/3, (0+0+0)/3, (0+0+3)/3.
    assert rates[2:] == pytest.approx([2.0, 0.0, 1.0])
    assert "Maximum acceptable frequency (Hz)" not in _values(diag.status("h"))  # no upper bound given


@pytest.mark.parametrize("age_s, level, message", [
    (0.5, DiagnosticStatus.OK, "Desired frequency met; Timestamps are reasonable."),
    (-2.0, DiagnosticStatus.ERROR, "Timestamps too far in future seen."),
    (3.0, DiagnosticStatus.ERROR, "Timestamps too far in past seen."),
])
def test_stamp_age_rules(age_s, level, message):
    diag, ros, steady = _diag(FrequencyBounds(min_hz=0.5, max_stamp_age_s=2.0))
    diag.tick(ros.t - age_s)
    steady.t += 1.0
    status = diag.status("h")
    assert (status.level, status.message) == (level, message)
    # The stamp window starts again at each update: nothing since the last one is a WARN of its own.
    steady.t += 1.0
    assert "No data since last update." not in status.message
    assert _values(diag.status("h"))["Latest timestamp delay:"] == f"{0.0:f}"


def test_zero_stamp_is_an_error():
    diag, ros, steady = _diag(FrequencyBounds(min_hz=0.5))
    diag.tick(0.0)
    steady.t += 1.0
    status = diag.status("h")
    assert status.level == DiagnosticStatus.ERROR and status.message == "Zero timestamp seen."
    assert _values(status)["Zero seen diagnostic update count:"] == "1"


def test_merge_summary_is_diagnostic_updaters():
    assert merge_summary(0, "a", 0, "b") == (0, "a; b")
    assert merge_summary(1, "low", 0, "fine") == (1, "low")
    assert merge_summary(0, "fine", 2, "bad") == (2, "bad")
    assert merge_summary(1, "low", 2, "bad") == (2, "low; bad")  # both non-OK: joined, worst level
    assert math.isinf(FrequencyBounds(min_hz=1.0).max_hz)
