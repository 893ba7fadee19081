"""Load torchvision ImageNet ResNet weights into the one-channel encoder.

Nothing is ever downloaded: the weights are a local file (``model.pretrained_weights``), a
torchvision ResNet state dict as saved by ``torch.save(resnet.state_dict(), path)`` (the files
torchvision caches under ``~/.cache/torch/hub/checkpoints`` are exactly that).

Why the RGB kernels of ``conv1`` are *summed* into one channel: a grayscale frame ``g`` in [0, 1]
is normalised with the channel-averaged ImageNet statistics, ``x = (g - 0.449) / 0.226``. The
ImageNet network, shown the same gray frame replicated to R = G = B, would see per channel
``x_c = (g - mu_c) / sigma_c``; since every ``sigma_c`` is within 1.5 % of 0.226 and the ``mu_c``
average to 0.449, ``x_c ~= x + d_c`` with small constants ``d_c`` (-0.16, -0.03, +0.19) that
nearly cancel. The first convolution is linear, so
``sum_c W_c * x_c ~= (sum_c W_c) * x + sum_c W_c * d_c``: the summed kernel applied to ``x``
reproduces the response of the RGB network to the replicated gray image up to a small constant
offset. Every later layer therefore sees activations with the statistics its ImageNet weights and
BatchNorm running averages were fitted to. Averaging instead of summing would scale the first
layer's response by 1/3 and break those statistics.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from guidewire_model.training.resnet import ResNetEncoder

__all__ = ["PretrainedWeightsError", "load_imagenet_encoder", "rgb_to_gray_conv_weight"]

_MAX_LISTED = 5


class PretrainedWeightsError(ValueError):
    """An ImageNet weights file is missing or does not fit the encoder; names the file and the fix."""


def rgb_to_gray_conv_weight(weight: torch.Tensor) -> torch.Tensor:
    """Sum a ``(out, 3, kh, kw)`` RGB kernel over its input channels into ``(out, 1, kh, kw)``.

    See the module docstring for why the sum (not the mean) is right for a gray frame normalised
    with the channel-averaged ImageNet mean/std.
    """
    if weight.ndim != 4 or weight.shape[1] != 3:
        raise ValueError(f"expected an RGB conv kernel of shape (out, 3, kh, kw), got {tuple(weight.shape)}")
    return weight.sum(dim=1, keepdim=True)


def load_imagenet_encoder(encoder: ResNetEncoder, path: str | os.PathLike) -> ResNetEncoder:
    """Load a torchvision ImageNet ResNet state dict into ``encoder`` (in place, strictly).

    ``fc.*`` is dropped (the encoder has no classifier) and, for a one-channel encoder, the RGB
    kernels of ``conv1`` are summed into one channel. BatchNorm ``num_batches_tracked`` buffers may
    be absent (older torchvision files); everything else must match exactly.

    Parameters
    ----------
    encoder : ResNetEncoder
        Target encoder; must be built at width 64 with the file's depth (e.g. ResNet-50).
    path : str or path-like
        Local ``.pth`` file.

    Returns
    -------
    ResNetEncoder
        ``encoder`` itself, for chaining.

    Raises
    ------
    PretrainedWeightsError
        If the file is missing or unreadable, is not a state dict, or its keys or tensor shapes do
        not match the encoder; the message names the file and the fix.
    """
    path = Path(path)
    state = _read_state_dict(path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    file_state = dict(state)  # before any adaptation: what the error message describes

    target = encoder.state_dict()
    w = state.get("conv1.weight")
    if (isinstance(w, torch.Tensor) and w.ndim == 4 and w.shape[1] == 3
            and target["conv1.weight"].shape[1] == 1):
        state["conv1.weight"] = rgb_to_gray_conv_weight(w)
    for key, value in target.items():
        # Files saved before PyTorch 0.4.1 lack this counter; it does not affect inference.
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value.clone()

    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    mismatched = sorted(k for k in set(target) & set(state) if tuple(state[k].shape) != tuple(target[k].shape))
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing key(s) ({_few(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected key(s) ({_few(unexpected)})")
        if mismatched:
            problems.append(
                f"{len(mismatched)} shape mismatch(es) ("
                + ", ".join(f"{k}: file {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
                            for k in mismatched[:_MAX_LISTED])
                + (", ..." if len(mismatched) > _MAX_LISTED else "") + ")"
            )
        raise PretrainedWeightsError(
            f"{path}: ImageNet weights do not fit the {_describe_encoder(encoder)} encoder: "
            + "; ".join(problems)
            + f". The file looks like {_guess_architecture(file_state)}. Use a torchvision "
            "state dict of the same depth at width 64 (model.encoder / model.encoder_width), "
            "or set model.pretrained: false"
        )
    encoder.load_state_dict(state, strict=True)
    return encoder


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PretrainedWeightsError(
            f"{path}: ImageNet weights file not found. Nothing is downloaded at run time: on a "
            "machine with internet access save torchvision's ImageNet ResNet-50 state dict there "
            "(torch.save(torchvision.models.resnet50(weights='IMAGENET1K_V1').state_dict(), path), "
            "or copy ~/.cache/torch/hub/checkpoints/resnet50-*.pth), point "
            "model.pretrained_weights at it, or set model.pretrained: false"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / pickled-object files
        raise PretrainedWeightsError(
            f"{path}: cannot read ImageNet weights ({type(exc).__name__}: {exc}); the file must be "
            "a torchvision ResNet state dict saved with torch.save(model.state_dict(), path), "
            "not a pickled model object or a truncated download"
        ) from exc
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        hint = ""
        if isinstance(state, Mapping):
            nested = [k for k in ("state_dict", "model") if isinstance(state.get(k), Mapping)]
            if nested:
                hint = f" (it holds a mapping under '{nested[0]}': save that mapping on its own)"
        raise PretrainedWeightsError(
            f"{path}: not a state dict (expected a mapping of parameter names to tensors, got "
            f"{type(state).__name__}){hint}; save it with torch.save(resnet.state_dict(), path) "
            "or set model.pretrained: false"
        )
    return dict(state)


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:_MAX_LISTED]) + (", ..." if len(keys) > _MAX_LISTED else "")


def _describe_encoder(encoder: ResNetEncoder) -> str:
    blocks = [len(getattr(encoder, f"layer{i}")) for i in range(1, 5)]
    kind = type(encoder.layer1[0]).__name__
    return f"{kind} {'-'.join(map(str, blocks))} (width {encoder.width})"


def _guess_architecture(state: Mapping[str, torch.Tensor]) -> str:
    """Name the torchvision depth a state dict was saved from, for the error message."""
    blocks = []
    for i in range(1, 5):
        idx = {int(m.group(1)) for k in state if (m := re.match(rf"layer{i}\.(\d+)\.", k))}
        blocks.append(max(idx) + 1 if idx else 0)
    bottleneck = any(".conv3." in k for k in state)
    known = {
        (False, (2, 2, 2, 2)): "resnet18", (False, (3, 4, 6, 3)): "resnet34",
        (True, (3, 4, 6, 3)): "resnet50", (True, (3, 4, 23, 3)): "resnet101",
        (True, (3, 8, 36, 3)): "resnet152",
    }
    name = known.get((bottleneck, tuple(blocks)), "an unknown network")
    w = state.get("conv1.weight")
    width = f", width {w.shape[0]}" if isinstance(w, torch.Tensor) and w.ndim == 4 else ""
    return f"{name} ({'Bottleneck' if bottleneck else 'BasicBlock'} {'-'.join(map(str, blocks))}{width})"
