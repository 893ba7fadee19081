"""Transposed convolutions rewritten as convolutions followed by a pixel shuffle, for export.

A stride-``s`` transposed convolution computes each of the ``s x s`` output phases with its own
sub-kernel of the input: it equals an ordinary convolution with ``s * s`` times the output
channels, rearranged by a pixel shuffle and cropped (Shi et al. 2016, "Is the deconvolution layer
the same as a convolutional layer?"). The result is the same up to float rounding; what changes
is the kernel that computes it. ONNX Runtime's CPU ``ConvTranspose`` is a matrix product followed
by a scatter (col2im) outside its blocked convolution layout, while ``Conv`` runs in that layout,
but the pixel shuffle (``DepthToSpace``) and crop are extra passes over the output. Which form is
faster depends on the network (docs/benchmarks.md), so the export writes this one on request
(``guidewire-export --rewrite-transposed-convolutions``).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["SubPixelConvTranspose2d", "without_transposed_convolutions"]


class SubPixelConvTranspose2d(nn.Module):
    """The same map as a given :class:`~torch.nn.ConvTranspose2d`, as conv + pixel shuffle + crop.

    Parameters
    ----------
    deconv : nn.ConvTranspose2d
        Square stride, ``groups=1``, ``dilation=1`` (every transposed convolution of our networks).
        Its weights are copied; later changes to it are not followed.

    Raises
    ------
    ValueError
        For a stride, grouping or dilation this rewrite does not cover.
    """

    def __init__(self, deconv: nn.ConvTranspose2d) -> None:
        super().__init__()
        stride = deconv.stride[0]
        if deconv.stride[1] != stride or deconv.groups != 1 or deconv.dilation != (1, 1):
            raise ValueError(f"cannot rewrite {deconv}: needs a square stride, groups=1 and dilation=1")
        kh, kw = deconv.kernel_size
        # Taps of the input that reach one output phase: ceil(k / s) per axis.
        th, tw = math.ceil(kh / stride), math.ceil(kw / stride)
        weight = deconv.weight.detach()  # (in, out, kh, kw)
        phased = weight.new_zeros(deconv.out_channels, stride, stride, deconv.in_channels, th, tw)
        for r in range(stride):
            for t in range(th):
                ky = stride * (th - 1 - t) + r
                if ky >= kh:
                    continue
                for q in range(stride):
                    for u in range(tw):
                        kx = stride * (tw - 1 - u) + q
                        if kx < kw:
                            phased[:, r, q, :, t, u] = weight[:, :, ky, kx].t()
        self.conv = nn.Conv2d(deconv.in_channels, deconv.out_channels * stride * stride, (th, tw),
                              padding=(th - 1, tw - 1), bias=deconv.bias is not None)
        with torch.no_grad():
            self.conv.weight.copy_(phased.reshape(self.conv.weight.shape))
            if deconv.bias is not None:
                self.conv.bias.copy_(deconv.bias.detach().repeat_interleave(stride * stride))
        self.stride = stride
        # The shuffled map is the transposed convolution's full output, with (th - 1) * s extra
        # rows at the end; the crops do not depend on the input size, so the export stays static.
        ph, pw = deconv.padding
        oph, opw = deconv.output_padding
        self.crop = ((ph, stride * th - kh + ph - oph), (pw, stride * tw - kw + pw - opw))
        if min(self.crop[0][1], self.crop[1][1]) < 0:
            raise ValueError(f"cannot rewrite {deconv}: its output padding reaches past the full output")

    def forward(self, x: Tensor) -> Tensor:
        y = F.pixel_shuffle(self.conv(x), self.stride)
        (top, bottom), (left, right) = self.crop
        # Negative ends, not y.shape - n: a traced shape would make the exported sizes dynamic.
        return y[..., top:-bottom or None, left:-right or None]


def without_transposed_convolutions(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`~torch.nn.ConvTranspose2d` rewritten.

    Parameters
    ----------
    model : nn.Module
        Left unchanged.

    Returns
    -------
    nn.Module
        Deep copy computing the same function, each transposed convolution replaced by a
        :class:`SubPixelConvTranspose2d`.
    """
    rewritten = copy.deepcopy(model)
    for parent in list(rewritten.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ConvTranspose2d):
                setattr(parent, name, SubPixelConvTranspose2d(child))
    return rewritten
