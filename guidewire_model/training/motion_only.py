"""Training only the weights that read a network's motion channel (the config's ``motion_only``).

A one-frame network grown to motion input (``train._with_input_channels``) starts with zero
weights on the channel and so computes what it did. A full fine-tune from there also moves every
weight of the one-frame path: the frames without motion (a run's first two, a folder of single
frames) then get another network's answer. Holding every other weight, and every BatchNorm
statistic, where ``init_from`` left them keeps that answer exactly and lets the channel add only
what motion tells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import torch
from torch import nn

from guidewire_model.training.config import ConfigError, ModelConfig


def motion_reading_weights(model: nn.Module, model_cfg: ModelConfig) -> dict[str, int]:
    """The weights of ``model`` that read its motion channel, with the input channels before it.

    Parameters
    ----------
    model : nn.Module
        A network built from ``model_cfg``.
    model_cfg : ModelConfig
        Its settings; ``motion_input`` must be on.

    Returns
    -------
    dict of str to int
        State-dict key of each convolution weight that reads the network's input, mapped to the
        number of its input channels that come before the motion channel (the frame's): the
        weights that differ in shape from the same network's without motion input.

    Raises
    ------
    ConfigError
        If ``model_cfg.motion_input`` is off.
    """
    from guidewire_model.training.network import build_model

    if not model_cfg.motion_input:
        raise ConfigError("motion_only trains the weights that read the motion channel; set model.motion_input: true "
                          "or motion_only: false")
    one_frame = build_model(dataclasses.replace(model_cfg, motion_input=False)).state_dict()
    return {key: int(one_frame[key].shape[1]) for key, value in model.state_dict().items()
            if key in one_frame and value.ndim == 4 and value.shape[1] > one_frame[key].shape[1]}


class MotionOnly:
    """Holds a motion-input network at its one-frame weights while its motion weights train.

    Parameters
    ----------
    model : nn.Module
        The network, built from ``model_cfg``; every parameter but the motion-reading weights
        stops taking gradients at once, so an optimizer built afterwards from the parameters that
        do holds only those.
    model_cfg : ModelConfig
        Its settings (``motion_input`` on).

    Notes
    -----
    A motion-reading weight mixes the frame's input channels and the motion channel in one
    tensor; its frame slice is put back after each step (:meth:`restore`), so optimizer details
    (weight decay, momentum) cannot move it. Call :meth:`hold` after every ``model.train()``: it
    puts BatchNorm back in eval mode and takes the weights to hold.
    """

    def __init__(self, model: nn.Module, model_cfg: ModelConfig) -> None:
        self.frame_channels = motion_reading_weights(model, model_cfg)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name in self.frame_channels)
        self._held: dict[str, torch.Tensor] = {}

    def hold(self, model: nn.Module) -> None:
        """Put every module in eval mode and take ``model``'s current weights as the ones to keep."""
        model.eval()
        self._held = {key: value.detach().clone() for key, value in model.state_dict().items()}

    def restore(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Put the held values back into ``weights`` (a state dict, or a weight average's tensors).

        Everything but the motion channel's slices of the motion-reading weights returns to what
        :meth:`hold` took, in place.
        """
        if not self._held:
            raise RuntimeError("MotionOnly.restore before hold: call hold(model) after model.train()")
        with torch.no_grad():
            for key, value in weights.items():
                held = self._held.get(key)
                if held is None:
                    continue
                frame = self.frame_channels.get(key)
                if frame is None:
                    value.copy_(held)
                else:
                    value[:, :frame].copy_(held[:, :frame])
