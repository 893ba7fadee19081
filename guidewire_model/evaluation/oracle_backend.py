"""A backend that answers with a given mask: the node's post-processing on perfect segmentation.

:class:`OracleBackend` stands in for a model inside :class:`~guidewire_model.runtime.pipeline.GuidewirePipeline`,
so a ground-truth mask (or a deliberately damaged one, :mod:`guidewire_model.evaluation.mask_damage`) goes through
exactly what the node runs after inference: field of view, threshold, centrelines, edge rules and
tracking. The difference between its scores and a model's separates segmentation errors from
post-processing errors.
"""

from __future__ import annotations

import numpy as np

from guidewire_model.runtime.backends.base import Backend
from guidewire_model.runtime.model_info import OUTPUT_PROBABILITY, OUTPUT_PROBABILITY_AND_TIP, ModelInfo

__all__ = ["OracleBackend"]


class OracleBackend(Backend):
    """Returns the mask set by :meth:`set_mask` as the probability map of the next frame.

    Parameters
    ----------
    size : int
        Side of the square frames it will be given (no resizing happens, so frames must be
        ``size`` x ``size``).
    tips : bool
        Answer as a model with a tip channel (``ModelInfo.has_tips``), the tip map given to
        :meth:`set_mask` as channel 1.

    Examples
    --------
    >>> from guidewire_model.runtime.pipeline import GuidewirePipeline
    >>> backend = OracleBackend(64)
    >>> pipeline = GuidewirePipeline(backend, field_of_view=False)
    >>> backend.set_mask(np.zeros((64, 64), bool))
    >>> pipeline.process(np.zeros((64, 64), np.float32)).wires
    []
    """

    name = "oracle"

    def __init__(self, size: int, tips: bool = False) -> None:
        self.info = ModelInfo(input_size=int(size), input_mean=0.0, input_std=1.0, threshold=0.5,
                              architecture="oracle", encoder="none", encoder_width=0,
                              output=OUTPUT_PROBABILITY_AND_TIP if tips else OUTPUT_PROBABILITY,
                              config_sha256="", version="", opset=None)
        self._mask: np.ndarray | None = None

    def set_mask(self, mask: np.ndarray, tip: np.ndarray | None = None) -> None:
        """Use ``mask`` (H, W; non-zero = wire) and, for a backend with ``tips``, the tip map ``tip``
        (H, W, in [0, 1]; None = no tip anywhere) for the following frames.

        Raises
        ------
        ValueError
            If the mask or the tip map is not ``size`` x ``size``, or a tip map is given to a
            backend without ``tips``.
        """
        mask = np.asarray(mask)
        s = self.info.input_size
        if mask.shape != (s, s):
            raise ValueError(f"oracle backend: mask shape {mask.shape}; expected ({s}, {s})")
        channels = [(mask != 0).astype(np.float32)]
        if self.info.has_tips:
            tip = np.zeros((s, s), np.float32) if tip is None else np.asarray(tip, np.float32)
            if tip.shape != (s, s):
                raise ValueError(f"oracle backend: tip map shape {tip.shape}; expected ({s}, {s})")
            channels.append(tip)
        elif tip is not None:
            raise ValueError("oracle backend: a tip map for a backend made without tips=True")
        self._mask = np.stack(channels)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        if self._mask is None:
            raise ValueError("oracle backend: call set_mask() before the first frame")
        return np.broadcast_to(self._mask, (batch.shape[0],) + self._mask.shape).copy()
