"""ResNet encoder for one-channel X-ray frames, laid out like torchvision's ``models/resnet.py``.

Module names (``conv1``, ``bn1``, ``relu``, ``maxpool``, ``layer1``..``layer4`` and, inside the
blocks, ``conv1``/``bn1``/``conv2``/``bn2``/``conv3``/``bn3``/``downsample``) are torchvision's on
purpose: a torchvision ResNet state dict without ``fc.*`` loads into :class:`ResNetEncoder` with
``strict=True`` once its first convolution is reduced to one input channel (see
:mod:`guidewire_model.training.pretrained`). There is no ``avgpool``/``fc``: the segmentation decoder needs
the feature maps, not a class score.

``width`` scales every stage (``width * (1, 2, 4, 8) * expansion`` channels); 64 is torchvision's
ResNet and the only width ImageNet weights fit. Smaller widths give the light CPU models.
"""

from __future__ import annotations

from typing import Type, Union

from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ENCODER_LAYERS",
    "ResNetEncoder",
    "resnet18",
    "resnet34",
    "resnet50",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a shortcut; ResNet-50.

    The stride sits on the 3x3 convolution (torchvision's "ResNet V1.5"), which is what
    torchvision's ImageNet weights were trained with.
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


Block = Union[Type[BasicBlock], Type[Bottleneck]]

#: Blocks per stage of the supported depths (He et al. 2016, Table 1).
ENCODER_LAYERS: dict[str, tuple[Block, tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


class ResNetEncoder(nn.Module):
    """ResNet without its classifier, returning the feature pyramid.

    Parameters
    ----------
    block : BasicBlock or Bottleneck
        Residual block type.
    layers : sequence of 4 ints
        Blocks per stage.
    in_channels : int
        Input channels; 1 for grayscale X-ray (3 only to build a torchvision-shaped state dict).
    width : int
        Channels of the stem; stage ``i`` has ``width * 2**i * block.expansion`` output channels.

    Attributes
    ----------
    out_channels : tuple of 5 ints
        Channels of (stem, layer1, layer2, layer3, layer4).
    """

    def __init__(self, block: Block, layers: tuple[int, int, int, int] | list[int], in_channels: int = 1,
                 width: int = 64) -> None:
        super().__init__()
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"layers must be 4 positive block counts, got {tuple(layers)}")
        if in_channels < 1 or width < 1:
            raise ValueError(f"in_channels and width must be positive, got {in_channels}, {width}")
        self.block = block
        self.width = width
        self.in_channels = in_channels
        self.inplanes = width
        # Paper II-B: 7x7 stride-2 convolution, then 3x3 stride-2 max-pooling.
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        e = block.expansion
        self.out_channels = (width, width * e, width * 2 * e, width * 4 * e, width * 8 * e)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Feature maps of an ``(N, in_channels, H, W)`` float tensor.

        Returns
        -------
        list of 5 tensors
            ``[stem (H/2), layer1 (H/4), layer2 (H/8), layer3 (H/16), layer4 (H/32)]`` with
            :attr:`out_channels` channels; sides are rounded up when ``H`` is not a multiple of 32.
        """
        stem = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(stem))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        return [stem, f1, f2, f3, f4]


def _encoder(name: str, in_channels: int, width: int) -> ResNetEncoder:
    block, layers = ENCODER_LAYERS[name]
    return ResNetEncoder(block, layers, in_channels=in_channels, width=width)


def resnet18(in_channels: int = 1, width: int = 64) -> ResNetEncoder:
    """ResNet-18 encoder (BasicBlock, 2-2-2-2)."""
    return _encoder("resnet18", in_channels, width)


def resnet34(in_channels: int = 1, width: int = 64) -> ResNetEncoder:
    """ResNet-34 encoder (BasicBlock, 3-4-6-3)."""
    return _encoder("resnet34", in_channels, width)


def resnet50(in_channels: int = 1, width: int = 64) -> ResNetEncoder:
    """ResNet-50 encoder (Bottleneck, 3-4-6-3), the paper's backbone."""
    return _encoder("resnet50", in_channels, width)
