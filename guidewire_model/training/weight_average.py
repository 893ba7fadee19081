"""An exponential moving average of a network's weights over training steps.

A network trained with a constant step size wanders around a good solution; its weights at the end
of any one epoch are one sample of that wandering, and on data unlike the training data (real X-ray
after synthetic frames) nearby samples score very differently (docs/accuracy.md). The average of the
recent weights is a steadier model, commonly a better one (Polyak & Juditsky 1992; the
``ModelEmaV2`` of timm and the EMA of most detection and segmentation recipes).

The average covers every floating-point entry of the state dict, BatchNorm's running statistics
included, so the averaged network is self-consistent; integer entries (BatchNorm's batch counter)
are copied. Early steps use a shorter horizon (``(1 + n) / (10 + n)`` when that is below ``decay``)
so the average is not dominated by the random initial weights.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """Exponential moving average of ``model``'s state dict, updated after each optimizer step.

    Parameters
    ----------
    model : torch.nn.Module
        The network being trained; the average starts at its current weights.
    decay : float
        Weight of the old average at each step, in (0, 1): the average spans about
        ``1 / (1 - decay)`` steps.
    fixed : sequence of str
        Top-level parts of ``model`` that do not train (``frozen``): copied, not averaged, since
        an average of a constant drifts from it by rounding.
    """

    def __init__(self, model: nn.Module, decay: float, fixed: Sequence[str] = ()) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.steps = 0
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._fixed = tuple(f"{part}." for part in fixed)

    def step_decay(self) -> float:
        """The decay the next :meth:`update` uses (shorter horizon over the first steps)."""
        return min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold ``model``'s current weights into the average (call after ``optimizer.step()``)."""
        d = self.step_decay()
        for key, value in model.state_dict().items():
            avg = self.average[key]
            if avg.is_floating_point() and not key.startswith(self._fixed):
                avg.mul_(d).add_(value.detach(), alpha=1.0 - d)
            else:
                avg.copy_(value)
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        """The average's counters. The averaged weights are not in it: a training checkpoint keeps
        them once, as its ``model`` (the weights validation scored); :meth:`load_state_dict` takes
        them back from there."""
        return {"decay": self.decay, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any], weights: Mapping[str, torch.Tensor]) -> None:
        """Restore an average from :meth:`state_dict` and the averaged ``weights``.

        Parameters
        ----------
        state : dict
            The counters saved by :meth:`state_dict`. One saved before the weights were kept
            once also holds them, under ``"average"``; those are used then.
        weights : mapping of str to Tensor
            The averaged state dict (a checkpoint's ``model``).

        Raises
        ------
        ValueError
            If the weights hold other entries than this average (another network).
        """
        weights = state.get("average", weights)
        if weights.keys() != self.average.keys():
            raise ValueError("the saved weight average belongs to another network")
        self.decay, self.steps = float(state["decay"]), int(state["steps"])
        for key, value in weights.items():
            self.average[key].copy_(value)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Within the block ``model`` holds the averaged weights; its own are restored after it."""
        own = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.average)
        try:
            yield model
        finally:
            model.load_state_dict(own)
