"""Build the segmentation network from a :class:`~guidewire_model.training.config.ModelConfig`.

``build_model`` is the one place that turns a config into a module: ``linknet`` is the paper's
improved U-Net (ResNet encoder + LinkNet decoder), ``unet`` the regular U-Net of Table III, and
``pretrained: false`` the Table III variant "improved U-Net without pre-trained ResNet-50". Every
model takes ``(N, 1, H, W)`` normalised float and returns logits ``(N, 1, H, W)``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from guidewire_model.training.config import ConfigError, ModelConfig
from guidewire_model.training.linknet import OUTPUT_STRIDE, LinkNet
from guidewire_model.training.pretrained import load_imagenet_encoder
from guidewire_model.training.resnet import ENCODER_LAYERS, ResNetEncoder
from guidewire_model.training.unet import UNET_STRIDE, UNet

__all__ = ["build_model", "count_parameters", "estimate_gflops", "output_logits"]

#: ModelConfig keys the regular U-Net has no part for (their comments say ``linknet`` only).
_LINKNET_ONLY = ("stem_skip", "full_resolution_head", "subpixel_head", "head_channels", "device_head", "tip_head",
                 "decoder_mid_ratio", "bottleneck_context", "bottleneck_context_image_level",
                 "deep_supervision")

#: ImageNet weights exist only for torchvision's width.
IMAGENET_WIDTH = 64


def build_model(cfg: ModelConfig) -> nn.Module:
    """Construct (and, when ``cfg.pretrained``, initialise from ImageNet) the network.

    Parameters
    ----------
    cfg : ModelConfig
        ``architecture`` (linknet | unet), ``encoder`` (resnet18 | resnet34 | resnet50),
        ``encoder_width``, ``pretrained``, ``pretrained_weights``, ``unet_base_channels``,
        ``input_size``.

    Returns
    -------
    nn.Module
        In training mode, with attribute ``model_config`` set to ``cfg``.

    Raises
    ------
    ConfigError
        On an invalid combination (unknown architecture/encoder, ``pretrained`` with a U-Net, a
        width other than 64 or no weights file, an input size the network cannot round-trip).
    guidewire_model.training.pretrained.PretrainedWeightsError
        If the weights file is missing or does not fit the encoder.
    """
    # The frame, and with ``motion_input`` its difference from an earlier frame, for either network.
    in_channels = 2 if cfg.motion_input else 1
    if cfg.architecture == "linknet":
        if cfg.encoder not in ENCODER_LAYERS:
            raise ConfigError(
                f"model.encoder is {cfg.encoder!r}; allowed: {', '.join(map(repr, ENCODER_LAYERS))}"
            )
        _check_input_size(cfg, OUTPUT_STRIDE)
        if cfg.pretrained:
            if cfg.encoder_width != IMAGENET_WIDTH:
                raise ConfigError(
                    f"model.pretrained needs model.encoder_width: {IMAGENET_WIDTH} (ImageNet weights "
                    f"fit only torchvision's width), got {cfg.encoder_width}; set model.pretrained: false "
                    "to train a narrower encoder from scratch"
                )
            if not cfg.pretrained_weights:
                raise ConfigError(
                    "model.pretrained is true but model.pretrained_weights is empty: set it to a local "
                    "torchvision ResNet state dict (.pth) or set model.pretrained: false"
                )
        # Config-only checks before the encoder is built (and ImageNet weights read).
        if not cfg.bottleneck_context_image_level and not cfg.bottleneck_context:
            raise ConfigError("model.bottleneck_context_image_level: false shapes the context block; set "
                              "model.bottleneck_context: true with it, or leave it true")
        if cfg.full_resolution_head and cfg.subpixel_head:
            raise ConfigError("model.full_resolution_head and model.subpixel_head are two heads; set one of them "
                              "false")
        block, layers = ENCODER_LAYERS[cfg.encoder]
        encoder = ResNetEncoder(block, layers, in_channels=in_channels, width=cfg.encoder_width)
        if cfg.pretrained:
            load_imagenet_encoder(encoder, cfg.pretrained_weights)
        head = "full_resolution" if cfg.full_resolution_head else "subpixel" if cfg.subpixel_head else "linknet"
        model: nn.Module = LinkNet(encoder, head_channels=cfg.head_channels, stem_skip=cfg.stem_skip, head=head,
                                   device_head=cfg.device_head, tip_head=cfg.tip_head,
                                   tip_channels=cfg.tip_channels, decoder_mid_ratio=cfg.decoder_mid_ratio,
                                   bottleneck_context=cfg.bottleneck_context,
                                   context_image_level=cfg.bottleneck_context_image_level,
                                   deep_supervision=cfg.deep_supervision)
    elif cfg.architecture == "unet":
        if cfg.pretrained:
            raise ConfigError(
                "model.pretrained is true but model.architecture is 'unet': ImageNet weights exist only "
                "for the ResNet encoder of 'linknet'; set model.pretrained: false"
            )
        # The U-Net has no part for these; set away from their defaults they would be ignored.
        for f in dataclasses.fields(ModelConfig):
            if f.name in _LINKNET_ONLY and getattr(cfg, f.name) != f.default:
                raise ConfigError(f"model.{f.name} is a 'linknet' option; leave it at its default ({f.default!r}) "
                                  "for model.architecture: 'unet'")
        _check_input_size(cfg, UNET_STRIDE)
        model = UNet(in_channels=in_channels, base_channels=cfg.unet_base_channels)
    else:
        raise ConfigError(f"model.architecture is {cfg.architecture!r}; allowed: 'linknet', 'unet'")
    model.model_config = cfg
    return model


def output_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The logits of what a model file gives: ``(N, 1, H, W)`` guidewire, or ``(N, 2, H, W)``
    guidewire then tip for a network with a tip branch (``ModelInfo.output`` ``"probability+tip"``).
    A device channel is training's only. The export and the torch backend both read this."""
    if getattr(model, "tip", None) is None:
        return model(x)
    logits = model.all_logits(x)
    return torch.cat([logits[:, :1], logits[:, -1:]], dim=1)


def _check_input_size(cfg: ModelConfig, stride: int) -> None:
    if cfg.input_size % stride:
        raise ConfigError(
            f"model.input_size ({cfg.input_size}) must be a multiple of {stride} for "
            f"architecture {cfg.architecture!r} so the output matches the input size; use e.g. 512"
        )


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def estimate_gflops(model: nn.Module, input_size: int | tuple[int, int], in_channels: int = 1) -> float:
    """Forward-pass GFLOPs of one ``(1, in_channels, H, W)`` frame, counting convolutions only.

    FLOPs = 2 x multiply-accumulates of every ``Conv2d`` and ``ConvTranspose2d`` (bias, BatchNorm,
    ReLU, pooling and additions are ignored: together they are a few percent of a conv network).
    A ``Conv2d`` does ``out_elements * in_channels/groups * kh * kw`` MACs; a transposed conv
    scatters each *input* element into ``out_channels/groups * kh * kw`` outputs.

    Parameters
    ----------
    model : nn.Module
        Run once on zeros, in eval mode (its training flag is restored).
    input_size : int or (H, W)
        Frame side(s) in pixels.

    Returns
    -------
    float
        Billions of floating-point operations per frame.
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    macs = 0

    def conv_hook(module: nn.Conv2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += output.numel() * (module.in_channels // module.groups) * kh * kw

    def deconv_hook(module: nn.ConvTranspose2d, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        kh, kw = module.kernel_size
        macs += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw

    handles = []
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            handles.append(m.register_forward_hook(deconv_hook))
        elif isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    try:
        model.eval()
        model(torch.zeros(1, in_channels, h, w, device=device, dtype=dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return 2.0 * macs / 1e9
