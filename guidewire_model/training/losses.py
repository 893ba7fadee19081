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

:class:`GuidewireLoss` adds, when ``LossConfig.skeleton_recall_weight > 0``, the skeleton recall
term of Kirchhoff et al. (ECCV 2024), which is not in the paper:
``1 - sum(p * S) / sum(S)`` with ``S`` the soft skeleton of the true mask (:func:`soft_skeleton`).
Its targets may also mark pixels of devices that are not guidewires with :data:`DEVICE_LABEL`,
and the background around each distal tip with :data:`TIP_ZONE_LABEL`: those are background,
with their background term weighted by ``LossConfig.device_weight`` and
``LossConfig.tip_zone_weight``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from guidewire_model.training.config import LossConfig
from guidewire_model.training.linknet import DEEP_SUPERVISION_STRIDES

#: Target value of a pixel on a device that is not a guidewire (catheter, lead, sternal wire...):
#: background to every metric, a weighted negative to :class:`GuidewireLoss`. Targets are
#: 0 = background, 1 = guidewire, this = device.
DEVICE_LABEL = 2
#: Target value of a background pixel within ``LossConfig.tip_zone_px`` of a wire's distal tip:
#: background to every metric, a negative weighted by ``LossConfig.tip_zone_weight``. (3 marks a
#: tip inside :mod:`guidewire_model.training.dataset` while it goes through augmentation.)
TIP_ZONE_LABEL = 4

__all__ = ["DEVICE_LABEL", "TIP_ZONE_LABEL", "DeepSupervisionLoss", "GuidewireLoss", "ModifiedFocalLoss",
           "keypoint_focal_loss", "modified_focal_loss", "pool_labels", "skeleton_recall_loss", "soft_skeleton"]


def modified_focal_loss(
    logits: Tensor,
    target: Tensor,
    alpha: float,
    gamma: float,
    reduction: Literal["sum", "mean", "none"] = "sum",
    weight: Tensor | None = None,
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
    weight : Tensor, optional
        Per-pixel factor (broadcastable to ``logits``) applied to each pixel's loss before the
        reduction; ``mean`` still divides by the number of pixels.

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
        if weight is not None:
            loss = loss * weight.to(dtype)
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


def _soft_erode(x: Tensor) -> Tensor:
    # Minimum over the 4-neighbourhood (a cross), as min-pooling along each axis.
    return torch.minimum(-F.max_pool2d(-x, (3, 1), 1, (1, 0)), -F.max_pool2d(-x, (1, 3), 1, (0, 1)))


def _soft_dilate(x: Tensor) -> Tensor:
    return F.max_pool2d(x, 3, 1, 1)


def soft_skeleton(mask: Tensor, iterations: int = 3) -> Tensor:
    """Differentiable morphological skeleton of a (soft) mask, as in clDice (Shit et al., CVPR 2021).

    Parameters
    ----------
    mask : Tensor, (N, 1, H, W), values in [0, 1]
    iterations : int
        Erosions applied; structures up to about ``2 * iterations`` px wide keep a skeleton. A
        wire 1-3 px wide is its own skeleton.

    Returns
    -------
    Tensor, same shape, values in [0, 1]
    """
    if mask.dim() != 4:
        raise ValueError(f"mask must be (N, C, H, W), got shape {tuple(mask.shape)}")
    img = mask
    skel = F.relu(img - _soft_dilate(_soft_erode(img)))
    for _ in range(iterations):
        img = _soft_erode(img)
        delta = F.relu(img - _soft_dilate(_soft_erode(img)))
        skel = skel + F.relu(delta - skel * delta)
    return skel


def keypoint_focal_loss(logits: Tensor, heat: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """Penalty-reduced focal loss of a keypoint heatmap (CornerNet, Law and Deng 2018; CenterNet).

    Pixels where ``heat`` is 1 are the keypoints: ``-(1 - p)^alpha log p``; every other pixel is
    background whose term ``-(1 - heat)^beta p^alpha log(1 - p)`` shrinks near a keypoint, so a
    peak a pixel off costs little. Summed over the batch and divided by the number of keypoints
    (at least 1: a batch without any still learns its background).

    Parameters
    ----------
    logits, heat : Tensor, same shape
        Network output before the sigmoid; target heatmap in [0, 1] with exact 1 at each keypoint.

    Returns
    -------
    Tensor
        Scalar, float32 (at least).
    """
    if logits.shape != heat.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and heat {tuple(heat.shape)} must have the same shape")
    with torch.autocast(device_type=logits.device.type, enabled=False):
        dtype = torch.promote_types(logits.dtype, torch.float32)
        x, heat = logits.to(dtype), heat.to(dtype)
        p = torch.sigmoid(x)
        log_p, log_not_p = F.logsigmoid(x), F.logsigmoid(-x)
        positive = heat >= 1.0
        pos = (1 - p).pow(alpha) * log_p
        neg = (1 - heat).pow(beta) * p.pow(alpha) * log_not_p
        total = -(torch.where(positive, pos, torch.zeros_like(pos)).sum()
                  + torch.where(positive, torch.zeros_like(neg), neg).sum())
        return total / positive.sum().clamp(min=1)


def skeleton_recall_loss(logits: Tensor, target: Tensor, iterations: int = 3) -> Tensor:
    """``1 - sum(sigmoid(logits) * S) / sum(S)``, ``S`` = :func:`soft_skeleton` of ``target``.

    Summed over the whole batch, so a crop without wire adds nothing; 0 when the batch holds no
    wire at all.

    Parameters
    ----------
    logits, target : Tensor, (N, 1, H, W)
        Network output before the sigmoid; 0/1 (or soft) guidewire mask.

    Returns
    -------
    Tensor
        Scalar in [0, 1], float32 (at least).
    """
    return _skeleton_left_uncovered(logits, target, iterations, of_prediction=False)


def skeleton_precision_loss(logits: Tensor, target: Tensor, iterations: int = 3) -> Tensor:
    """``1 - sum(S * target) / sum(S)``, ``S`` = :func:`soft_skeleton` of ``sigmoid(logits)``.

    clDice's topology precision (Shit et al., CVPR 2021) as a loss: the share of the predicted
    map's skeleton that lies off the true wire. Eq. (1) weighs a false positive by its pixels; this
    term weighs a false *line* (a lead, a catheter, a vessel rim marked along its length) by the
    share of the prediction's centrelines it takes, which is what a tracer would follow.

    Summed over the whole batch; 0 when the prediction has no skeleton at all.

    Parameters
    ----------
    logits, target : Tensor, (N, 1, H, W)
        Network output before the sigmoid; 0/1 (or soft) guidewire mask.
    iterations : int
        See :func:`soft_skeleton`.

    Returns
    -------
    Tensor
        Scalar in [0, 1], float32 (at least).
    """
    return _skeleton_left_uncovered(logits, target, iterations, of_prediction=True)


def _skeleton_left_uncovered(logits: Tensor, target: Tensor, iterations: int, of_prediction: bool) -> Tensor:
    """clDice's two halves: ``1 - sum(S * cover) / sum(S)``, the skeleton ``S`` of the target covered by
    the predicted probability (recall), or of the predicted probability covered by the target
    (precision, ``of_prediction``); 0 with a graph when there is no skeleton."""
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must have the same shape")
    with torch.autocast(device_type=logits.device.type, enabled=False):
        dtype = torch.promote_types(logits.dtype, torch.float32)
        prob, target = torch.sigmoid(logits.to(dtype)), target.to(dtype)
        if of_prediction:
            skel, cover = soft_skeleton(prob, iterations), target
        else:
            with torch.no_grad():
                skel = soft_skeleton(target, iterations)
            cover = prob
        total = skel.sum()
        if float(total.detach()) == 0.0:
            return logits.to(dtype).sum() * 0.0  # keeps the graph (DDP expects every output used)
        return 1.0 - (skel * cover).sum() / total


class GuidewireLoss(nn.Module):
    """The training loss: eq. (1), plus ``skeleton_recall_weight`` x :func:`skeleton_recall_loss` and
    ``skeleton_precision_weight`` x :func:`skeleton_precision_loss`.

    Target pixels equal to :data:`DEVICE_LABEL` (:data:`TIP_ZONE_LABEL`) are background whose
    eq. (1) term is multiplied by ``device_weight`` (``tip_zone_weight``). With
    ``skeleton_recall_weight = 0`` and targets in {0, 1} (the paper's config) this is exactly
    :class:`ModifiedFocalLoss`.
    """

    def __init__(self, cfg: LossConfig) -> None:
        super().__init__()
        self.focal = ModifiedFocalLoss(cfg)
        if not cfg.skeleton_recall_weight >= 0:
            raise ValueError(f"loss.skeleton_recall_weight must be >= 0, got {cfg.skeleton_recall_weight}")
        if not cfg.device_weight >= 0:
            raise ValueError(f"loss.device_weight must be >= 0, got {cfg.device_weight}")
        if not cfg.device_head_weight >= 0:
            raise ValueError(f"loss.device_head_weight must be >= 0, got {cfg.device_head_weight}")
        if not cfg.device_head_wire_weight >= 0:
            raise ValueError(f"loss.device_head_wire_weight must be >= 0, got {cfg.device_head_wire_weight}")
        self.skeleton_recall_weight = float(cfg.skeleton_recall_weight)
        if not cfg.skeleton_precision_weight >= 0:
            raise ValueError(f"loss.skeleton_precision_weight must be >= 0, got {cfg.skeleton_precision_weight}")
        self.skeleton_precision_weight = float(cfg.skeleton_precision_weight)
        self.device_weight = float(cfg.device_weight)
        self.device_head_weight = float(cfg.device_head_weight)
        self.device_head_wire_weight = float(cfg.device_head_wire_weight)
        if not cfg.tip_weight >= 0:
            raise ValueError(f"loss.tip_weight must be >= 0, got {cfg.tip_weight}")
        self.tip_weight = float(cfg.tip_weight)
        if not cfg.tip_zone_weight >= 0:
            raise ValueError(f"loss.tip_zone_weight must be >= 0, got {cfg.tip_zone_weight}")
        self.tip_zone_weight = float(cfg.tip_zone_weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Scalar loss of ``logits`` against ``target`` (0, 1, :data:`DEVICE_LABEL` or :data:`TIP_ZONE_LABEL`).

        ``logits`` is ``(N, 1, H, W)`` like ``target``, or ``(N, 2, H, W)`` from a network with a
        device head: the second channel is then scored against the device pixels (eq. (1), alpha 1:
        the auxiliary task's precision matters as much as its recall; the background term on
        guidewire pixels weighted by ``device_head_wire_weight``) and added with
        ``device_head_weight``.

        A ``target`` of two channels (labels, tip heatmap: ``model.tip_head``) scores the last
        logit channel against the heatmap (:func:`keypoint_focal_loss`, times ``tip_weight``) and
        the others against the labels as above.
        """
        if target.shape[1] == 2:
            if logits.shape[1] < 2:
                raise ValueError(f"a tip target needs a tip channel; logits have shape {tuple(logits.shape)}")
            tips = keypoint_focal_loss(logits[:, -1:], target[:, 1:])
            return self(logits[:, :-1], target[:, :1]) + self.tip_weight * tips
        if logits.shape[1] == 2 and target.shape[1] == 1:
            logits, device_logits = logits[:, :1], logits[:, 1:]
            on_device = (target == DEVICE_LABEL).to(device_logits.dtype)
            # A weight map, built like the guidewire channel's below (none at weight 1).
            head_weight = (torch.where(target == 1, self.device_head_wire_weight, 1.0)
                           if self.device_head_wire_weight != 1.0 else None)
            f = self.focal
            extra = self.device_head_weight * modified_focal_loss(device_logits, on_device, 1.0, f.gamma, f.reduction,
                                                                  head_weight)
            return self(logits, target) + extra
        if logits.shape[1] != 1:
            # Broadcast against the labels, extra channels would be scored as more guidewire maps.
            raise ValueError(f"logits of shape {tuple(logits.shape)} for labels of shape {tuple(target.shape)}: "
                             "a network's extra maps need their loss (deep supervision: DeepSupervisionLoss)")
        device, zone = target == DEVICE_LABEL, target == TIP_ZONE_LABEL
        wire = torch.where(device | zone, torch.zeros_like(target), target)
        # Weight 1 makes a device or tip-zone pixel plain background: no weight map to build.
        weight = None
        if self.device_weight != 1.0 or self.tip_zone_weight != 1.0:
            weight = torch.where(device, self.device_weight, torch.where(zone, self.tip_zone_weight, 1.0))
        f = self.focal
        loss = modified_focal_loss(logits, wire, f.alpha, f.gamma, f.reduction, weight)
        if self.skeleton_recall_weight > 0:
            loss = loss + self.skeleton_recall_weight * skeleton_recall_loss(logits, wire)
        if self.skeleton_precision_weight > 0:
            loss = loss + self.skeleton_precision_weight * skeleton_precision_loss(logits, wire)
        return loss

    def extra_repr(self) -> str:
        return (f"skeleton_recall_weight={self.skeleton_recall_weight}, "
                f"skeleton_precision_weight={self.skeleton_precision_weight}, device_weight={self.device_weight}, "
                f"device_head_weight={self.device_head_weight}, "
                f"device_head_wire_weight={self.device_head_wire_weight}, tip_weight={self.tip_weight}, "
                f"tip_zone_weight={self.tip_zone_weight}")


def pool_labels(labels: Tensor, stride: int) -> Tensor:
    """Labels of ``stride x stride`` cells: wire (1) where a cell holds a wire pixel, else
    :data:`DEVICE_LABEL` where it holds a device pixel, else :data:`TIP_ZONE_LABEL` where it holds
    a tip-zone pixel, else background.

    A wire 1-2 px wide covers a fraction of a coarse cell; an average would fade it to nothing, and
    any-pixel pooling keeps it a connected line one cell wide.

    Parameters
    ----------
    labels : Tensor
        ``(N, 1, H, W)`` with values 0, 1, :data:`DEVICE_LABEL` and :data:`TIP_ZONE_LABEL`; ``H``
        and ``W`` multiples of ``stride``.
    stride : int
        Side of a cell in pixels.

    Returns
    -------
    Tensor
        ``(N, 1, H / stride, W / stride)``, same dtype as ``labels``.
    """
    def anywhere(value: float) -> Tensor:
        return F.max_pool2d((labels == value).to(labels.dtype), stride) > 0

    wire, device, zone = anywhere(1.0), anywhere(DEVICE_LABEL), anywhere(TIP_ZONE_LABEL)
    zero = torch.zeros_like(wire, dtype=labels.dtype)
    return torch.where(wire, zero + 1.0, torch.where(device, zero + DEVICE_LABEL,
                                                     torch.where(zone, zero + TIP_ZONE_LABEL, zero)))


class DeepSupervisionLoss(nn.Module):
    """A loss for a network with ``model.deep_supervision``: ``base`` on every channel but the deep
    supervision maps, plus ``weight`` x the mean of ``base`` over those maps against
    :func:`pool_labels`.

    The network appends one map per stride of :data:`DEEP_SUPERVISION_STRIDES`, each repeated over
    its cells (``linknet.LinkNet.forward``), so ``[..., ::s, ::s]`` is the coarse map itself.
    """

    def __init__(self, base: nn.Module, weight: float) -> None:
        super().__init__()
        if not weight >= 0:
            raise ValueError(f"loss.deep_supervision_weight must be >= 0, got {weight}")
        self.base = base
        self.weight = float(weight)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """Scalar loss; ``target`` as ``base`` takes it (its first channel holds the labels)."""
        n = len(DEEP_SUPERVISION_STRIDES)
        if logits.shape[1] <= n:
            raise ValueError(f"deep supervision needs {n} maps after the network's own channels; logits have "
                             f"shape {tuple(logits.shape)} (is model.deep_supervision on?)")
        own, maps = logits[:, :-n], logits[:, -n:]
        labels = target[:, :1]
        aux = sum(self.base(maps[:, k:k + 1, ::s, ::s], pool_labels(labels, s))
                  for k, s in enumerate(DEEP_SUPERVISION_STRIDES))
        loss = self.base(own, target)
        return loss + self.weight * aux / n

    def extra_repr(self) -> str:
        return f"weight={self.weight}, strides={DEEP_SUPERVISION_STRIDES}"
