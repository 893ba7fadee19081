"""The second input channel of a motion-input model: the frame minus an earlier frame of its run.

A guidewire in a coronary artery moves with the heart; ECG leads and sternal wires lie on the
skin and move only with breathing. Without contrast agent in the vessels a wire and a lead are
the same thin dark line in one frame, but not in the difference of two (``docs/accuracy.md``,
"A motion input"). Training (``model.motion_input``) and every runtime build the channel here.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["MOTION_GAIN", "MOTION_LAG", "MotionHistory", "motion_channel", "with_motion"]

#: Scale of the channel over the frame's own normalisation: a frame difference is mostly noise
#: with about a quarter of the frame's spread, and a channel that small is learned slowly.
MOTION_GAIN = 4.0
#: Frames between a frame and the one subtracted from it at run time (two frames at 15 fps).
MOTION_LAG = 2


def motion_channel(frame: np.ndarray, earlier: np.ndarray, std: float) -> np.ndarray:
    """``(frame - earlier) * MOTION_GAIN / std`` as float32.

    Parameters
    ----------
    frame, earlier : ndarray, same shape
        The frame and an earlier frame of its run, both in [0, 1] (``std`` the model's
        ``input_std``) or both already normalised (``std`` 1).
    std : float
        The normalisation's standard deviation; > 0.
    """
    if frame.shape != earlier.shape:
        raise ValueError(f"frame {frame.shape} and earlier frame {earlier.shape} must have one shape")
    out = np.subtract(frame, earlier, dtype=np.float32)
    out *= np.float32(MOTION_GAIN / std)
    return out


def with_motion(batch: np.ndarray, earlier: list[np.ndarray | None] | None = None) -> np.ndarray:
    """A motion-input model's input: each normalised frame, then its motion channel.

    Parameters
    ----------
    batch : ndarray, float32, (N, 1, S, S)
        Normalised frames (``preprocess.prepare_batch``).
    earlier : list of (ndarray (S, S) or None), optional
        Each frame's earlier frame of its run, normalised alike; None (or a frame of another size):
        a zero motion channel, as for frames without a run. None for all: every channel zero.

    Returns
    -------
    ndarray, float32, (N, 2, S, S)
    """
    earlier = [None] * len(batch) if earlier is None else earlier
    if len(earlier) != len(batch):
        raise ValueError(f"earlier has {len(earlier)} entries for {len(batch)} frames")
    out = np.concatenate([batch, np.zeros_like(batch)], axis=1)
    for i, before in enumerate(earlier):
        if before is not None and before.shape == batch[i, 0].shape:
            out[i, 1] = motion_channel(batch[i, 0], before, 1.0)
    return out


class MotionHistory:
    """Gives a motion-input model its two channels, frame after frame of one run.

    Keeps the last ``lag`` normalised frames; a frame with no frame ``lag`` before it (a run's
    first frames, after :meth:`reset`) gets a zero motion channel, as training's dropped samples
    do. Thread-safe: the node preprocesses frames on several worker threads, and the order in
    which they take their place is the order they arrive here.
    """

    def __init__(self, lag: int = MOTION_LAG) -> None:
        if int(lag) < 1:
            raise ValueError(f"lag must be >= 1, got {lag}")
        self.lag = int(lag)
        self._frames: list[np.ndarray] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the run's frames (a new run starts)."""
        with self._lock:
            self._frames = []

    def stack(self, batch: np.ndarray) -> np.ndarray:
        """The model's input for the run's next frame.

        Parameters
        ----------
        batch : ndarray, float32, (1, 1, S, S)
            The frame, normalised (``preprocess.prepare_batch``).

        Returns
        -------
        ndarray, float32, (1, 2, S, S)
            The frame, then :func:`motion_channel` against the frame ``lag`` before it (zeros
            without one, or when that frame had another size).
        """
        if batch.ndim != 4 or batch.shape[:2] != (1, 1):
            raise ValueError(f"batch must be one normalised frame (1, 1, S, S), got {batch.shape}")
        with self._lock:
            earlier = self._frames[0][0, 0] if len(self._frames) == self.lag else None
            self._frames = (self._frames + [batch.copy()])[-self.lag:]
        return with_motion(batch, [earlier])
