"""Ctrl-C at any moment of the node's life ends it cleanly: exit status 0, no traceback, rclpy shut down.

By default Python turns every SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread is.
While the node imports its libraries (numpy, OpenCV, rclpy, the runtime) or loads its model, that
prints a traceback from deep inside a library and the process dies by the signal (exit status -2),
which is what ``ros2 launch`` reports when it is stopped while the node starts; a second Ctrl-C can
also cut the shutdown short. Two calls prevent it:

1. :func:`defer_sigint`, called by the node's entry points (``python -m guidewire_seg_ros.node``,
   ``scripts/guidewire_seg_node``) before their imports: a SIGINT is recorded and does not raise, so the
   imports finish.
2. :func:`raise_sigint_once`, called first in ``node.main``: the first SIGINT raises one
   ``KeyboardInterrupt``, which ``main`` handles wherever it lands (rclpy's start, the model loading,
   spinning, the shutdown); later ones are dropped, so nothing interrupts the shutdown that follows.
   It returns whether step 1 recorded a SIGINT, in which case ``main`` ends before it starts rclpy.

rclpy's own signal handler (installed by ``rclpy.init``) runs first and then calls this one, so the
executor still wakes up. A process started with SIGINT ignored (``SIG_IGN``, as for a background job
of a script) or with another handler keeps it: both functions then change nothing. Standard library
only, so the entry points can import it before anything heavy. Main thread only, like every signal
handler in Python.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["defer_sigint", "raise_sigint_once"]

_received = False  # a SIGINT arrived since this module's handler was installed
_raising = False  # raise_sigint_once was called: the first SIGINT raises KeyboardInterrupt


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _received
    first = not _received
    _received = True
    if first and _raising:
        raise KeyboardInterrupt


def _install() -> bool:
    """Install the handler where SIGINT would raise KeyboardInterrupt; whether the handler is ours now."""
    current = signal.getsignal(signal.SIGINT)
    if current is _on_sigint:
        return True
    if current is not signal.default_int_handler:
        return False  # ignored, or someone else's handler: theirs to keep
    signal.signal(signal.SIGINT, _on_sigint)
    return True


def defer_sigint() -> None:
    """Record a SIGINT from now on instead of raising ``KeyboardInterrupt``, until :func:`raise_sigint_once`.

    Call it before slow imports, from the main thread.
    """
    _install()


def raise_sigint_once() -> bool:
    """Let the first SIGINT raise one ``KeyboardInterrupt``, and drop any later one.

    Returns
    -------
    bool
        Whether a SIGINT arrived while it was deferred (:func:`defer_sigint`): the caller should end
        now, quietly. ``False`` where SIGINT is ignored or handled by another handler (left as it is).
    """
    global _raising
    if not _install():
        return False
    _raising = True
    return _received
