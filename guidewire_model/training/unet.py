"""Regular U-Net (Ronneberger et al. 2015), the "U-Net" baseline of the paper's Table III.

Four 2x down levels and four 2x up levels; each level is a double 3x3 convolution (+ BatchNorm +
ReLU; BatchNorm is a modern addition to the original), downsampling by 2x2 max-pooling, upsampling
by a 2x2 stride-2 transposed convolution, skips concatenated. Padded convolutions keep the output
the size of the input (the original used unpadded convolutions and cropping). Returns logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DoubleConv", "UNet", "UNetUp"]

#: Input sides must be multiples of this (four 2x poolings).
UNET_STRIDE = 16


class DoubleConv(nn.Sequential):
    """(3x3 conv, BatchNorm, ReLU) x 2; keeps the spatial size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNetUp(nn.Module):
    """2x transposed-conv upsampling ``c -> c/2``, concatenation with the skip, double conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Classic U-Net with channels ``base * (1, 2, 4, 8, 16)`` and one logit output channel.

    Parameters
    ----------
    in_channels : int
        Input channels (1 for grayscale X-ray).
    base_channels : int
        Channels of the first level (64 in Ronneberger et al.).
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or base_channels < 2:
            raise ValueError(f"in_channels >= 1 and base_channels >= 2 needed, got {in_channels}, {base_channels}")
        c = [base_channels * 2**i for i in range(5)]
        self.inc = DoubleConv(in_channels, c[0])
        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList(DoubleConv(c[i], c[i + 1]) for i in range(4))
        self.up = nn.ModuleList(UNetUp(c[i + 1], c[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(c[0], 1, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, 1, H, W)`` of a normalised ``(N, C, H, W)`` float batch.

        Raises
        ------
        ValueError
            If ``H`` or ``W`` is not a multiple of 16.
        """
        h, w = x.shape[-2:]
        if h % UNET_STRIDE or w % UNET_STRIDE:
            raise ValueError(
                f"U-Net input side must be a multiple of {UNET_STRIDE}, got {h}x{w}; "
                "resize the frame (model.input_size) to e.g. 512"
            )
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(self.pool(skips[-1])))
        x = skips.pop()
        for up in self.up:
            x = up(x, skips.pop())
        return self.outc(x)
