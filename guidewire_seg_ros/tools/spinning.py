"""Spinning an executor on a background thread, and stopping it without a race.

The demo, benchmarks, soak, bag evaluator and test probes all publish from their main thread while a
second thread spins the executor that receives the node's answers. rclpy's ``Executor.shutdown()``
destroys the executor's guard condition without waiting for a thread that is inside ``spin()``; if the
caller then destroys its node and the context, that thread can still be waiting on the freed entities,
and the process can abort at exit ("terminate called without an active exception"). So the spin thread
here polls a stop flag between short ``spin_once`` calls, and :meth:`BackgroundSpinner.stop` joins it
*before* the executor is shut down.
"""

from __future__ import annotations

import threading

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

__all__ = ["BackgroundSpinner"]


class BackgroundSpinner:
    """Spin ``node`` with its own single-threaded executor on a daemon thread until :meth:`stop`.

    Parameters
    ----------
    node : rclpy.node.Node
        The node whose callbacks run on the thread.
    poll_s : float
        Longest wait inside one ``spin_once``; bounds how long :meth:`stop` takes when idle.
    """

    def __init__(self, node: Node, poll_s: float = 0.05) -> None:
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guidewire_spin", daemon=True)

    def start(self) -> "BackgroundSpinner":
        self._thread.start()
        return self

    def _run(self) -> None:
        context = self.executor.context
        while not self._stop.is_set() and context.ok():
            self.executor.spin_once(timeout_sec=self._poll_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Join the spin thread, then shut the executor down; idempotent."""
        self._stop.set()
        if self._thread.is_alive():
            self.executor.wake()
            self._thread.join(timeout_s)
        self.executor.shutdown(timeout_sec=timeout_s)

    def __enter__(self) -> "BackgroundSpinner":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
