"""The paper's improved U-Net: a ResNet encoder with a LinkNet-style decoder (Fig. 2 and 3).

Composition, as in segmentation_models_pytorch: an encoder returning a feature pyramid, a decoder
made of small :class:`LinkNetDecoderBlock` s, and a :class:`LinkNetHead` producing one logit map.
Every interpretation of the paper made here is written down in docs/paper-interpretation.md
("Network"); the short version:

* four decoder blocks, one per ResNet stage; block ``i`` upsamples 2x and its output is added to
  the output of encoder stage ``i - 1`` (layer3, layer2, layer1; the last block has no skip and the
  stem does not feed one, as in LinkNet);
* each block is Fig. 3: 1x1 conv ``m -> m/4``, 4x4 stride-2 transposed conv ``m/4 -> m/4``,
  1x1 conv ``m/4 -> n``, each followed by BatchNorm and ReLU;
* the head is the LinkNet head the paper describes: 3x3 stride-2 transposed conv, 3x3 conv, 2x2
  conv, ReLU after all but the last. The sizes work out to exactly ``H`` from an ``H/2`` input
  (``H/2 -> H+1 -> H-1 -> H``) with no pixel shift.

The network returns logits; the sigmoid lives in the loss (numerically stable) and in export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from guidewire_model.training.resnet import ResNetEncoder

__all__ = ["BottleneckContext", "DEEP_SUPERVISION_STRIDES", "FullResolutionHead", "LinkNet", "LinkNetDecoder",
           "LinkNetDecoderBlock", "LinkNetHead", "OUTPUT_STRIDE", "PAPER_DECODER_MID_RATIO", "SubPixelHead", "TIP_PRIOR_LOGIT", "TipBranch"]

#: Input sides must be multiples of this so every decoder output matches its skip exactly.
OUTPUT_STRIDE = 32

#: Initial bias of the tip channel: logit of a probability of 0.01.
TIP_PRIOR_LOGIT = -4.595

#: Strides of the decoder outputs that ``deep_supervision`` gives a logit map of their own, coarsest
#: first: the outputs of decoder blocks 2, 3 and 4 (1/8, 1/4 and 1/2 of the input).
DEEP_SUPERVISION_STRIDES = (8, 4, 2)

#: A LinkNet decoder block's middle width as a share of its input channels (paper Fig. 3, LinkNet).
PAPER_DECODER_MID_RATIO = 0.25


class BottleneckContext(nn.Module):
    """Residual context block on the deepest features: dilated and global views of the frame.

    Not in the paper. A guidewire and an ECG lead are the same thin dark line locally; what tells
    them apart lies hundreds of pixels away (a free tip, the catheter it leaves, a line crossing
    the whole view). At layer4 (1/32 scale) three 3x3 convolutions dilated 1, 2 and 4 and a 1x1
    convolution of the globally averaged features add that view where the map is smallest, so it
    costs little (``network.estimate_gflops``), as the context modules of DeepLab (ASPP) and PSPNet
    do. The sum ends in a BatchNorm whose scale starts at zero, so a new block leaves the network's
    function unchanged and training opens it. ``image_level=False`` leaves the global branch out:
    the dilated views alone, which reach four cells (128 px at 512 px) each way.

    Maps ``(N, C, h, w)`` to ``(N, C, h, w)``.
    """

    #: Dilations of the local branches, in cells of the deepest feature map.
    DILATIONS = (1, 2, 4)

    def __init__(self, channels: int, image_level: bool = True) -> None:
        super().__init__()
        branch = max(channels // 4, 1)
        self.local = nn.ModuleList([
            nn.Sequential(*_conv_bn(channels, branch, kernel_size=3, padding=d, dilation=d), nn.ReLU(inplace=True))
            for d in self.DILATIONS
        ])
        self.merge = nn.Conv2d(branch * len(self.DILATIONS), channels, kernel_size=1, bias=False)
        self.image_level = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                         nn.Conv2d(channels, channels, kernel_size=1, bias=False)
                                         ) if image_level else None
        self.norm = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` plus its context (``x`` itself while the closing scale is zero)."""
        context = self.merge(torch.cat([b(x) for b in self.local], dim=1))
        if self.image_level is not None:
            # (N, C, 1, 1) broadcast over the map: no size-dependent op in the exported graph.
            context = context + self.image_level(x)
        return x + self.norm(context)


class LinkNetDecoderBlock(nn.Sequential):
    """Fig. 3: 1x1 conv ``m -> m/4``, 4x4 stride-2 transposed conv, 1x1 conv ``m/4 -> n``.

    ``mid_ratio`` sets the middle width, ``m * mid_ratio`` (at least 1); the paper's and LinkNet's
    is :data:`PAPER_DECODER_MID_RATIO`.

    Each convolution is followed by BatchNorm and ReLU ("Batch normalization is applied between
    each convolution layer, followed by ReLU"). Convolutions carry no bias because the BatchNorm
    right after them would cancel it. Maps ``(N, m, h, w)`` to ``(N, n, 2h, 2w)`` exactly:
    kernel 4, stride 2, padding 1 gives ``(h - 1) * 2 - 2 + 4 = 2h``.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_ratio: float = PAPER_DECODER_MID_RATIO) -> None:
        mid = max(int(in_channels * mid_ratio), 1)
        super().__init__(
            nn.Conv2d(in_channels, mid, kernel_size=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, mid, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.in_channels = in_channels
        self.out_channels = out_channels


class LinkNetDecoder(nn.Module):
    """Four decoder blocks from the deepest feature map up to half the input resolution.

    Parameters
    ----------
    encoder_channels : sequence of 5 ints
        Channels of (stem, layer1, layer2, layer3, layer4), as :attr:`ResNetEncoder.out_channels`.
    stem_skip : bool
        Add the stem's output (half resolution) to the last block's, which then has the stem's
        channels. Not in the paper or in LinkNet; segmentation_models_pytorch's Linknet does it.
    mid_ratio : float
        Each block's middle width as a share of its input channels (:class:`LinkNetDecoderBlock`).
    """

    def __init__(self, encoder_channels: tuple[int, ...] | list[int], stem_skip: bool = False,
                 mid_ratio: float = PAPER_DECODER_MID_RATIO) -> None:
        super().__init__()
        c0, c1, c2, c3, c4 = encoder_channels
        self.stem_skip = stem_skip
        # n of each block = channels of the skip it is added to; the last block (no skip) keeps
        # layer1's channels, as LinkNet's decoder1 does (m = n = 64 for ResNet-18/34).
        self.blocks = nn.ModuleList([
            LinkNetDecoderBlock(c4, c3, mid_ratio),
            LinkNetDecoderBlock(c3, c2, mid_ratio),
            LinkNetDecoderBlock(c2, c1, mid_ratio),
            LinkNetDecoderBlock(c1, c0 if stem_skip else c1, mid_ratio),
        ])
        self.out_channels = c0 if stem_skip else c1

    def forward(self, features: list[Tensor]) -> Tensor:
        """``features`` = encoder output ``[stem, f1, f2, f3, f4]``; returns
        ``(N, out_channels, H/2, W/2)``."""
        return self.stages(features)[-1]

    def stages(self, features: list[Tensor]) -> list[Tensor]:
        """Every block's output, skip added: strides 16, 8, 4 and 2 of the input, the last
        :meth:`forward`'s."""
        f0, f1, f2, f3, f4 = features
        x16 = self.blocks[0](f4) + f3
        x8 = self.blocks[1](x16) + f2
        x4 = self.blocks[2](x8) + f1
        x2 = self.blocks[3](x4)
        return [x16, x8, x4, x2 + f0 if self.stem_skip else x2]


class LinkNetHead(nn.Sequential):
    """3x3 stride-2 transposed conv, ReLU, 3x3 conv, ReLU, 2x2 conv -> ``out_channels`` logits (paper: 1).

    Sizes: ``h -> 2h + 1`` (transposed, no padding) ``-> 2h - 1`` (3x3, no padding) ``-> 2h``
    (2x2, padding 1). The half-pixel offsets of the transposed conv and of the even 2x2 kernel
    cancel, so output pixel ``k`` is centred on input pixel ``k`` of the full-resolution frame.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int = 1) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, mid_channels, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=2, padding=1),
        )


class FullResolutionHead(nn.Module):
    """:class:`LinkNetHead` whose last layer meets features of the input frame at full resolution.

    Not in the paper. A 1-2 px guidewire is a quarter of a pixel wide at layer1's resolution and
    half a pixel at the stem's: the decoder knows *where roughly* a wire runs, but the exact pixels
    need the frame itself. Two 3x3 convolutions on the input (5x5 receptive field, enough to see a
    thin dark line against its surroundings) are added to the head's full-resolution features
    before a 1x1 convolution gives the logit. Costs about 0.3 GFLOPs at 512 px with 8 channels.

    Maps ``(decoder features (N, c, H/2, W/2), frame (N, C_in, H, W))`` to logits
    ``(N, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, mid_channels: int, image_channels: int = 1, out_channels: int = 1) -> None:
        super().__init__()
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(in_channels, mid_channels, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, kernel_size=3),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, kernel_size=2, padding=1),
        )
        self.frame = nn.Sequential(
            nn.Conv2d(image_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
        )
        self.classify = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(mid_channels, out_channels, kernel_size=1))

    def forward(self, features: Tensor, frame: Tensor) -> Tensor:
        """Logits of the decoder ``features`` refined by the input ``frame``."""
        return self.classify(self.upsample(features) + self.frame(frame))


def _conv_bn(in_channels: int, out_channels: int, **conv: int) -> list[nn.Module]:
    """A bias-free convolution and its BatchNorm (the BatchNorm would cancel a bias)."""
    return [nn.Conv2d(in_channels, out_channels, bias=False, **conv), nn.BatchNorm2d(out_channels)]


def _pixel_blocks(image_channels: int, out_channels: int) -> list[nn.Module]:
    """The frame as its 2x2 pixel blocks: a 6x6 stride-2 convolution is a 3x3 one of the blocks."""
    return _conv_bn(image_channels, out_channels, kernel_size=6, stride=2, padding=2)


class SubPixelHead(nn.Module):
    """Head that sees the frame at full detail but computes at half resolution.

    Not in the paper. :class:`FullResolutionHead`'s layers run on every pixel of the frame, and on
    two CPU cores they took about half of the network's time (docs/benchmarks.md). Here the frame
    enters as its 2x2 pixel blocks (a 6x6 stride-2 convolution is a 3x3 convolution of the blocks,
    so no pixel's detail is lost), the decoder's half-resolution features are added, and each
    half-resolution position gives the logits of its four pixels (pixel shuffle), as sub-pixel
    layers in super-resolution do.

    Maps ``(decoder features (N, c, H/2, W/2), frame (N, C_in, H, W))`` to logits
    ``(N, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, mid_channels: int, image_channels: int = 1, out_channels: int = 1) -> None:
        super().__init__()
        scale = 2
        self.features = nn.Sequential(*_conv_bn(in_channels, mid_channels, kernel_size=1))
        self.frame = nn.Sequential(
            *_pixel_blocks(image_channels, mid_channels),
            nn.ReLU(inplace=True),
            *_conv_bn(mid_channels, mid_channels, kernel_size=3, padding=1),
        )
        self.classify = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels * scale * scale, kernel_size=1),
            nn.PixelShuffle(scale),
        )

    def forward(self, features: Tensor, frame: Tensor) -> Tensor:
        """Logits of the decoder ``features`` and the input ``frame``."""
        return self.classify(self.features(features) + self.frame(frame))


class TipBranch(nn.Module):
    """The tip heatmap's own small head: the decoder's features and the frame, at half resolution.

    Not in the paper. The frame enters as its 2x2 pixel blocks and the decoder's half-resolution
    features are added, as in :class:`SubPixelHead`; 3x3 convolutions dilated 1, 2 and 4 then
    look along the wire about 25 px either way, since a tip is where a wire stops, which no
    pixel shows by itself; each position gives the logits of its four pixels. It has its own
    weights and reads the decoder's features *detached*: the tip loss never reaches the network
    that finds the wires. Trained with the rest frozen (the config's ``frozen``), the guidewire channel
    stays exactly the network it started from. (A shared last layer, everything training, pulled
    the guidewire channel down: docs/accuracy.md, "A tip channel".)

    Maps ``(decoder features (N, c, H/2, W/2), frame (N, C_in, H, W))`` to logits ``(N, 1, H, W)``;
    the last layer's bias starts at :data:`TIP_PRIOR_LOGIT`.
    """

    def __init__(self, in_channels: int, mid_channels: int, image_channels: int = 1) -> None:
        super().__init__()
        scale = 2
        self.features = nn.Sequential(*_conv_bn(in_channels, mid_channels, kernel_size=1))
        self.frame = nn.Sequential(*_pixel_blocks(image_channels, mid_channels))
        self.context = nn.Sequential(*[
            layer for dilation in (1, 2, 4) for layer in (
                nn.ReLU(inplace=True),
                *_conv_bn(mid_channels, mid_channels, kernel_size=3, padding=dilation, dilation=dilation),
            )
        ])
        self.classify = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, scale * scale, kernel_size=1),
            nn.PixelShuffle(scale),
        )
        with torch.no_grad():
            # A tip covers a few pixels of 512^2: start at probability 0.01, as CenterNet's
            # heatmaps do, or the first steps' background loss is all the branch learns.
            self.classify[1].bias.fill_(TIP_PRIOR_LOGIT)

    def forward(self, features: Tensor, frame: Tensor) -> Tensor:
        """Tip logits of the (detached) decoder ``features`` and the input ``frame``."""
        return self.classify(self.context(self.features(features.detach()) + self.frame(frame)))


class LinkNet(nn.Module):
    """Improved U-Net of the paper: ResNet encoder, LinkNet decoder, LinkNet head.

    Parameters
    ----------
    encoder : ResNetEncoder
        Feature extractor (weights are loaded into it from outside, see
        :func:`guidewire_model.training.pretrained.load_imagenet_encoder`).
    head_channels : int, optional
        Channels of the head; default ``encoder.width // 2`` (32 at torchvision width 64, as in
        LinkNet), ``encoder.width`` for the ``"subpixel"`` head.
    stem_skip : bool
        See :class:`LinkNetDecoder`; false is the paper's network.
    head : {"linknet", "full_resolution", "subpixel"}
        :class:`LinkNetHead` (the paper's), :class:`FullResolutionHead` or :class:`SubPixelHead`.
    device_head : bool
        A logit channel for non-guidewire devices, returned in training mode only (see
        :meth:`forward`); false is the paper's.
    tip_head : bool
        A logit channel for the wires' distal tips (a heatmap) from its own :class:`TipBranch`,
        after the device channel if both; returned in training mode and by :meth:`all_logits`;
        false is the paper's.
    tip_channels : int
        Channels of the tip branch.
    decoder_mid_ratio : float, optional
        See :class:`LinkNetDecoderBlock`; default :data:`PAPER_DECODER_MID_RATIO`.
    bottleneck_context : bool
        A :class:`BottleneckContext` on layer4's output before the decoder; false is the paper's.
    context_image_level : bool
        Whether that block has its image-level branch.
    deep_supervision : bool
        A 1x1 logit convolution on each decoder output of :data:`DEEP_SUPERVISION_STRIDES`, whose
        maps training mode appends (see :meth:`forward`); false is the paper's.
    """

    def __init__(self, encoder: ResNetEncoder, head_channels: int | None = None, stem_skip: bool = False,
                 head: str = "linknet", device_head: bool = False, tip_head: bool = False,
                 tip_channels: int = 8, decoder_mid_ratio: float | None = None,
                 bottleneck_context: bool = False, context_image_level: bool = True,
                 deep_supervision: bool = False) -> None:
        super().__init__()
        self.device_head = device_head
        out = 2 if device_head else 1
        self.encoder = encoder
        self.decoder = LinkNetDecoder(
            encoder.out_channels, stem_skip=stem_skip,
            mid_ratio=PAPER_DECODER_MID_RATIO if decoder_mid_ratio is None else decoder_mid_ratio)
        half = max(encoder.width // 2, 1)
        # The sub-pixel head: twice the full-resolution head's channels on a quarter of its positions.
        default_width = {"linknet": half, "full_resolution": half, "subpixel": encoder.width}
        if head not in default_width:
            raise ValueError(f"head must be 'linknet', 'full_resolution' or 'subpixel', got {head!r}")
        mid = head_channels if head_channels is not None else default_width[head]
        features = self.decoder.out_channels
        if head == "linknet":
            self.head = LinkNetHead(features, mid, out)
        elif head == "full_resolution":
            self.head = FullResolutionHead(features, mid, encoder.in_channels, out)
        else:
            self.head = SubPixelHead(features, mid, encoder.in_channels, out)
        # The two heads that refine with the frame itself take it as a second input.
        self.head_reads_frame = head != "linknet"
        self.tip = TipBranch(features, tip_channels, encoder.in_channels) if tip_head else None
        # Built last, so every other part draws the same initial weights with or without it.
        self.context = (BottleneckContext(encoder.out_channels[-1], image_level=context_image_level)
                        if bottleneck_context else None)
        # Built after it, for the same reason. The decoder's outputs at strides 8, 4 and 2 have
        # layer2's, layer1's and the last block's channels.
        aux_channels = (encoder.out_channels[2], encoder.out_channels[1], features)
        self.aux = (nn.ModuleList([nn.Conv2d(c, 1, kernel_size=1) for c in aux_channels])
                    if deep_supervision else None)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 1, H, W)`` of a normalised ``(N, C, H, W)`` float batch.

        With ``device_head`` or ``tip_head``, in training mode, every channel (:meth:`all_logits`):
        the guidewire channel, then the devices', then the tips'. With ``deep_supervision``, in
        training mode, one more channel per stride of :data:`DEEP_SUPERVISION_STRIDES` after those:
        that decoder output's logits, each repeated over its ``s x s`` input pixels (nearest
        upsampling), so ``[..., ::s, ::s]`` gives the coarse map back exactly. Eval mode gives the
        guidewire channel alone (validation scores it); a model file's channels come from
        ``network.output_logits`` (the guidewire channel, and the tips' with a tip branch).

        Raises
        ------
        ValueError
            If ``H`` or ``W`` is not a multiple of 32 (decoder outputs would not match the skips).
        """
        logits = self.all_logits(x)
        return logits if self.training or logits.shape[1] == 1 else logits[:, :1]

    def all_logits(self, x: Tensor) -> Tensor:
        """Every channel's logits ``(N, K, H, W)`` in any mode: guidewire, devices (``device_head``),
        tips (``tip_head``); in training mode then the deep supervision maps (:meth:`forward`).

        Raises
        ------
        ValueError
            If ``H`` or ``W`` is not a multiple of 32.
        """
        h, w = x.shape[-2:]
        if h % OUTPUT_STRIDE or w % OUTPUT_STRIDE:
            raise ValueError(
                f"LinkNet input side must be a multiple of {OUTPUT_STRIDE}, got {h}x{w}; "
                "resize the frame (model.input_size) to e.g. 512"
            )
        pyramid = self.encoder(x)
        if self.context is not None:
            pyramid = [*pyramid[:-1], self.context(pyramid[-1])]
        stages = self.decoder.stages(pyramid)
        features = stages[-1]
        logits = self.head(features, x) if self.head_reads_frame else self.head(features)
        if self.tip is not None:
            logits = torch.cat([logits, self.tip(features, x)], dim=1)
        if self.aux is None or not self.training:
            return logits
        # Deep supervision (Lee et al., "Deeply-Supervised Nets", 2015): the decoder's coarser
        # outputs learn to find the wire themselves, which trains the deep layers directly rather
        # than only through the head. Training's alone: no model file carries these maps.
        aux = [F.interpolate(conv(stage), scale_factor=stride, mode="nearest")
               for conv, stage, stride in zip(self.aux, stages[1:], DEEP_SUPERVISION_STRIDES)]
        return torch.cat([logits, *aux], dim=1)
