"""The export's rewrite of transposed convolutions computes what they compute."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from guidewire_model.training.subpixel_deconv import SubPixelConvTranspose2d, without_transposed_convolutions


@pytest.mark.parametrize("kernel,stride,padding,output_padding", [
    (3, 2, 0, 0),   # the LinkNet head's
    (4, 2, 1, 0),   # the LinkNet decoder blocks'
    (3, 2, 1, 1),
    (5, 2, 2, 1),
    (2, 2, 0, 0),
    (3, 3, 0, 0),
    (4, 3, 1, 2),
])
@pytest.mark.parametrize("bias", [True, False])
def test_rewrite_equals_the_transposed_convolution(kernel, stride, padding, output_padding, bias):
    torch.manual_seed(kernel * 10 + stride)
    deconv = nn.ConvTranspose2d(5, 3, kernel, stride, padding, output_padding, bias=bias)
    x = torch.randn(2, 5, 7, 9)
    with torch.no_grad():
        expected = deconv(x)
        got = SubPixelConvTranspose2d(deconv)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_uncovered_deconvolutions_are_refused():
    with pytest.raises(ValueError, match="groups=1"):
        SubPixelConvTranspose2d(nn.ConvTranspose2d(4, 4, 3, 2, groups=2))
    with pytest.raises(ValueError, match="square stride"):
        SubPixelConvTranspose2d(nn.ConvTranspose2d(4, 4, 3, (2, 1)))
    with pytest.raises(ValueError, match="output padding"):
        SubPixelConvTranspose2d(nn.ConvTranspose2d(4, 4, 2, 2, 0, 1))


def test_whole_network_rewritten_without_touching_the_original():
    from test_network import model_config

    from guidewire_model.training.network import build_model

    torch.manual_seed(0)
    model = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True)).eval()
    rewritten = without_transposed_convolutions(model)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in rewritten.modules())
    x = torch.randn(1, 1, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(rewritten(x), model(x), rtol=0, atol=1e-4)
