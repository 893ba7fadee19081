"""A publisher that fails on purpose: the stand-in for a fault while publishing, for tests only.

An exception while building or publishing a frame's messages (a middleware error, a bug in a message
builder met by one odd frame) must not end the node's worker. No such fault can be provoked from
outside a real node, so the node wraps its ``~/centrelines`` publisher in :class:`FaultyPublisher`
when ``GUIDEWIRE_TEST_PUBLISH_FAULTS`` is set in its environment (tests set it; nothing else does),
as :mod:`guidewire_model.runtime.backends.fault_injection` does for inference faults.
"""

from __future__ import annotations

from typing import Any

from guidewire_model.runtime.backends.fault_injection import InjectedFault

__all__ = ["PUBLISH_FAULT_ENV", "FaultyPublisher", "parse_failing_calls"]

#: Environment variable: comma-separated 1-based numbers of the ``publish`` calls that raise.
PUBLISH_FAULT_ENV = "GUIDEWIRE_TEST_PUBLISH_FAULTS"


def parse_failing_calls(text: str) -> frozenset[int]:
    """``"2,3"`` -> ``{2, 3}``.

    Raises
    ------
    ValueError
        Naming the variable, if an item is not a positive integer.
    """
    calls = set()
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise ValueError(f"{PUBLISH_FAULT_ENV}={text!r}: expected positive integers separated by commas")
        calls.add(int(item))
    return frozenset(calls)


class FaultyPublisher:
    """Delegates to ``inner``, but its ``publish`` calls numbered in ``failing_calls`` raise
    :class:`~guidewire_model.runtime.backends.fault_injection.InjectedFault` before anything is sent."""

    def __init__(self, inner: Any, failing_calls: frozenset[int]) -> None:
        self.inner = inner
        self.failing_calls = failing_calls
        self.calls = 0

    def publish(self, msg: Any) -> None:
        self.calls += 1
        if self.calls in self.failing_calls:
            raise InjectedFault(f"injected fault in publish call {self.calls} on {self.inner.topic_name}")
        self.inner.publish(msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
