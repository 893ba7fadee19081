"""A keep-latest hand-over between the subscription callback and the inference worker."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["FrameSlot"]


class FrameSlot:
    """Holds at most one item; a new item replaces an unconsumed one.

    The producer (the ROS callback) never waits; the consumer (the worker) blocks in :meth:`take`
    until an item arrives, the timeout passes or the slot is closed. Memory is bounded by one item
    whatever the input rate.
    """

    def __init__(self) -> None:
        self._item: Any = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: Any) -> bool:
        """Store ``item``; return True when it replaced an item nobody took (a dropped frame)."""
        with self._cond:
            replaced = self._full
            self._item, self._full = item, True
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """Remove and return the item, or ``None`` after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        """Wake a waiting consumer; later takes return what is left, then ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
