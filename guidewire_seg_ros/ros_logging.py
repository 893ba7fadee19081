"""Python :mod:`logging` of the runtime, printed through a node's ROS logger.

The runtime (``guidewire_model``) is ROS-free and logs through Python loggers: the backend choice,
ONNX Runtime's providers, TensorRT's own log (``guidewire_model.tensorrt``, fed by an ``ILogger``
in :mod:`guidewire_model.runtime.backends.tensorrt_build`). Without a handler those records reach stderr
only from WARNING up, in a bare format, and never reach ``/rosout``. :func:`forward_python_logging`
attaches a :class:`RosLogHandler` to the ``guidewire_model`` logger tree, so each record is printed
by the node's rclpy logger at the matching severity, with the node's name, in the ROS console
format and on ``/rosout``::

    [INFO] [1795930238.04] [guidewire_seg]: [guidewire_model.runtime.backends] inference backend: onnxruntime ...
"""

from __future__ import annotations

import logging

from rclpy.impl.rcutils_logger import RcutilsLogger

__all__ = ["LogForwarding", "RosLogHandler", "forward_python_logging", "python_level"]

#: The Python logger tree that is forwarded: the runtime package.
RUNTIME_LOGGER = "guidewire_model"

#: (level, propagate) of each forwarded Python logger before its first handler was installed.
_ORIGINAL_SETTINGS: dict[str, tuple[int, bool]] = {}


def python_level(ros_logger: RcutilsLogger) -> int:
    """The Python level equivalent to the ROS logger's effective severity.

    rcutils severities DEBUG/INFO/WARN/ERROR/FATAL are 10/20/30/40/50, the values of Python's
    DEBUG/INFO/WARNING/ERROR/CRITICAL; UNSET (0) is read as rcutils' default, INFO.
    """
    level = int(ros_logger.get_effective_level())
    return level if level > 0 else logging.INFO


class RosLogHandler(logging.Handler):
    """Sends Python log records to an rclpy logger: DEBUG, INFO, WARNING, ERROR, CRITICAL become
    ``debug``, ``info``, ``warning`` (ROS WARN), ``error``, ``fatal``; other levels go to the next
    lower of these. The message is prefixed with the Python logger's name, so the origin stays visible.

    A failure inside the ROS logger never propagates to the code that logged: it is reported by
    :meth:`logging.Handler.handleError`, as Python's own handlers do.
    """

    def __init__(self, ros_logger: RcutilsLogger) -> None:
        super().__init__()
        self.ros_logger = ros_logger
        self.setFormatter(logging.Formatter("[%(name)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            # One call site per severity, on purpose: rclpy keys its per-caller state by the calling
            # line and raises "Logger severity cannot be changed between calls" when one line logs at
            # two severities.
            level = record.levelno
            if level >= logging.CRITICAL:
                self.ros_logger.fatal(text)
            elif level >= logging.ERROR:
                self.ros_logger.error(text)
            elif level >= logging.WARNING:
                self.ros_logger.warning(text)
            elif level >= logging.INFO:
                self.ros_logger.info(text)
            else:
                self.ros_logger.debug(text)
        except Exception:  # noqa: BLE001 - logging must never break the node
            self.handleError(record)


class LogForwarding:
    """An installed :class:`RosLogHandler`; :meth:`remove` undoes :func:`forward_python_logging`."""

    def __init__(self, logger: logging.Logger, handler: RosLogHandler) -> None:
        self.logger = logger
        self.handler = handler
        self._installed = False

    def install(self) -> LogForwarding:
        # Several nodes in one process each forward; the settings to restore are those from before the first.
        _ORIGINAL_SETTINGS.setdefault(self.logger.name, (self.logger.level, self.logger.propagate))
        self.logger.addHandler(self.handler)
        self.logger.setLevel(python_level(self.handler.ros_logger))
        # The ROS logger prints each record; handlers above (root, e.g. logging.basicConfig) must not
        # print it a second time.
        self.logger.propagate = False
        self._installed = True
        return self

    def remove(self) -> None:
        """Detach the handler and restore the logger's level and propagation (idempotent)."""
        if not self._installed:
            return
        self._installed = False
        self.logger.removeHandler(self.handler)
        # Another node of this process may still forward through its own handler; restore only when
        # none is left.
        if not any(isinstance(h, RosLogHandler) for h in self.logger.handlers):
            level, propagate = _ORIGINAL_SETTINGS.pop(self.logger.name, (logging.NOTSET, True))
            self.logger.setLevel(level)
            self.logger.propagate = propagate


def forward_python_logging(ros_logger: RcutilsLogger, logger_name: str = RUNTIME_LOGGER) -> LogForwarding:
    """Print the records of Python logger ``logger_name`` and its children through ``ros_logger``.

    Parameters
    ----------
    ros_logger : rclpy.impl.rcutils_logger.RcutilsLogger
        Usually ``node.get_logger()``.
    logger_name : str
        Root of the forwarded Python logger tree.

    Returns
    -------
    LogForwarding
        Call its ``remove()`` when the node shuts down.

    Notes
    -----
    The Python logger's level is set from the ROS logger's effective level once, here (``--ros-args
    --log-level guidewire_seg:=debug`` turns on the runtime's DEBUG records, including TensorRT's
    verbose log): records below it are never created, which matters for TensorRT's verbose output.
    """
    return LogForwarding(logging.getLogger(logger_name), RosLogHandler(ros_logger)).install()
