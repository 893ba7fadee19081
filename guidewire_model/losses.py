"""Modified focal loss of the paper, eq. (1); ``gamma = 0`` is the alpha-balanced BCE of eq. (2).

For pixel ``i`` with label ``y_i`` and probability ``p_i = sigmoid(x_i)``::

    Loss_i = -alpha * (1 - p_i)**gamma * log(p_i)      if y_i = 1
    Loss_i = -p_i**gamma * log(1 - p_i)                 if y_i = 0

Unlike Lin et al.'s focal loss the background term has no ``(1 - alpha)`` factor: ``alpha`` only
up-weights the guidewire. Everything is computed from logits in (at least) float32:
``log p = -softplus(-x)``, ``log(1 - p) = -softplus(x)``, ``p**gamma = exp(gamma * log p)``, so
the loss and its gradient stay finite for any logit, where ``log(sigmoid(x))`` would give
``-inf`` for ``x < -104`` in float32 (and already at ``x ~ -17`` for ``log(1 - sigmoid(x))`` with
``x ~ 17``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import LossConfig

__all__ = ["ModifiedFocalLoss", "modified_focal_loss"]


def modified_focal_loss(
    logits: Tensor,
    target: Tensor,
    alpha: float,
    gamma: float,
    reduction: Literal["sum", "mean", "none"] = "sum",
) -> Tensor:
    """Paper eq. (1) from logits.

    Parameters
    ----------
    logits : Tensor
        Any float dtype and shape, e.g. ``(N, 1, H, W)`` network output before the sigmoid.
    target : Tensor
        Same shape; 1 = guidewire, 0 = background. Values in between blend the two terms linearly
        (as from a resized mask).
    alpha : float
        Weight of the guidewire term, ``alpha >= 0``.
    gamma : float
        Modulating exponent, ``gamma >= 0``; 0 gives the alpha-balanced BCE of eq. (2).
    reduction : {"sum", "mean", "none"}
        ``sum`` over all pixels (the paper), ``mean`` = sum / number of pixels, ``none`` per pixel.

    Returns
    -------
    Tensor
        Scalar (per-pixel map for ``none``) in float32, or float64 for float64 logits; float32
        also for half-precision logits and under autocast.

    Raises
    ------
    ValueError
        On a shape mismatch, a negative ``alpha``/``gamma`` or an unknown reduction.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    if not alpha >= 0 or not gamma >= 0:
        raise ValueError(f"alpha and gamma must be >= 0 (paper eq. 1), got alpha={alpha}, gamma={gamma}")
    if reduction not in ("sum", "mean", "none"):
        raise ValueError(f"reduction must be 'sum', 'mean' or 'none', got {reduction!r}")
    # Autocast would otherwise run exp/softplus in half precision when callers pass fp16 logits.
    with torch.autocast(device_type=logits.device.type, enabled=False):
        # At least float32 (half precision is upcast, float64 kept for gradcheck and references).
        dtype = torch.promote_types(logits.dtype, torch.float32)
        x = logits.to(dtype)
        y = target.to(dtype)
        log_p = -F.softplus(-x)
        log_not_p = -F.softplus(x)
        if gamma == 0:
            pos = -alpha * log_p
            neg = -log_not_p
        else:
            pos = -alpha * torch.exp(gamma * log_not_p) * log_p
            neg = -torch.exp(gamma * log_p) * log_not_p
        loss = y * pos + (1.0 - y) * neg
        if reduction == "sum":
            return loss.sum()
        if reduction == "mean":
            return loss.mean()
        return loss


class ModifiedFocalLoss(nn.Module):
    """:func:`modified_focal_loss` with ``alpha``, ``gamma`` and ``reduction`` from a LossConfig."""

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        if not cfg.alpha >= 0 or not cfg.gamma >= 0:
            raise ValueError(f"loss.alpha and loss.gamma must be >= 0, got {cfg.alpha}, {cfg.gamma}")
        self.alpha = float(cfg.alpha)
        self.gamma = float(cfg.gamma)
        self.reduction = cfg.reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Loss of ``logits`` against ``target`` (same shape); see :func:`modified_focal_loss`."""
        return modified_focal_loss(logits, target, self.alpha, self.gamma, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}"
