"""Loading torchvision-format ImageNet ResNet weights into the one-channel encoder."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from guidewire_model.training.config import load_train_config

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.training.network import build_model
from guidewire_model.training.pretrained import PretrainedWeightsError, load_imagenet_encoder, rgb_to_gray_conv_weight
from guidewire_model.training.resnet import resnet18, resnet50

torch.set_num_threads(1)


def torchvision_state_dict(builder=resnet18, width: int = 64, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in torchvision's format: RGB conv1, fc.*, every tensor randomised.

    Randomising the BatchNorm statistics too makes "loaded" distinguishable from "freshly built".
    """
    torch.manual_seed(seed)
    enc = builder(in_channels=3, width=width)
    state = {}
    for key, value in enc.state_dict().items():
        if value.is_floating_point():
            state[key] = torch.rand_like(value) + (0.5 if "running_var" in key else -0.5)
        else:
            state[key] = torch.randint_like(value, 0, 1000)
    state["fc.weight"] = torch.randn(1000, enc.out_channels[-1])
    state["fc.bias"] = torch.randn(1000)
    return state


@pytest.fixture(scope="module")
def rgb_state() -> dict[str, torch.Tensor]:
    return torchvision_state_dict()


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, rgb_state):
    path = tmp_path_factory.mktemp("weights") / "resnet18-imagenet.pth"
    torch.save(rgb_state, path)
    return path


def test_loads_torchvision_file_and_sums_rgb_kernels(weights_file, rgb_state):
    enc = resnet18(in_channels=1, width=64)
    assert load_imagenet_encoder(enc, weights_file) is enc
    loaded = enc.state_dict()
    torch.testing.assert_close(loaded["conv1.weight"], rgb_state["conv1.weight"].sum(dim=1, keepdim=True))
    for key, value in loaded.items():
        if key != "conv1.weight":
            torch.testing.assert_close(value, rgb_state[key], msg=key)


def test_gray_encoder_reproduces_rgb_encoder_on_replicated_gray(weights_file, rgb_state):
    """Why sum: conv1 on a gray frame equals the RGB conv1 on that frame copied to R = G = B."""
    gray = resnet18(in_channels=1, width=64).eval()
    load_imagenet_encoder(gray, weights_file)
    rgb = resnet18(in_channels=3, width=64).eval()
    rgb.load_state_dict({k: v for k, v in rgb_state.items() if not k.startswith("fc.")})
    # float64 so that only the algebra is compared (what is left is the float32 rounding of the
    # summed kernel stored in the encoder)
    gray, rgb = gray.double(), rgb.double()
    x = torch.randn(1, 1, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(gray(x), rgb(x.expand(1, 3, 64, 64))):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6 * b.abs().max().item())


def test_old_files_without_num_batches_tracked_load(tmp_path, rgb_state):
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in rgb_state.items() if not k.endswith("num_batches_tracked")}, path)
    enc = resnet18(in_channels=1, width=64)
    load_imagenet_encoder(enc, path)
    torch.testing.assert_close(enc.state_dict()["layer3.1.bn2.running_mean"], rgb_state["layer3.1.bn2.running_mean"])


def test_build_model_loads_pretrained_encoder(weights_file, rgb_state):
    base = load_train_config(config_dir() / "train_paper.yaml").model
    cfg = dataclasses.replace(base, encoder="resnet18", pretrained=True, pretrained_weights=str(weights_file))
    model = build_model(cfg)
    torch.testing.assert_close(model.encoder.layer4[1].conv2.weight.detach(), rgb_state["layer4.1.conv2.weight"])
    assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 1, 64, 64)


def test_missing_file_says_nothing_is_downloaded(tmp_path):
    path = tmp_path / "resnet50-imagenet.pth"
    with pytest.raises(PretrainedWeightsError) as info:
        load_imagenet_encoder(resnet18(), path)
    msg = str(info.value)
    assert str(path) in msg and "Nothing is downloaded" in msg and "model.pretrained: false" in msg
    assert isinstance(info.value, ValueError)


def test_unreadable_file(tmp_path):
    path = tmp_path / "truncated.pth"
    path.write_bytes(b"\x80\x02this is not a torch file")
    with pytest.raises(PretrainedWeightsError, match="cannot read ImageNet weights") as info:
        load_imagenet_encoder(resnet18(), path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("payload,match", [
    (torch.zeros(3), "not a state dict"),
    ({}, "not a state dict"),
    ({"conv1.weight": [1, 2]}, "not a state dict"),
    ({"state_dict": {"conv1.weight": torch.zeros(1)}, "epoch": 3}, "under 'state_dict'"),
])
def test_not_a_state_dict(tmp_path, payload, match):
    path = tmp_path / "w.pth"
    torch.save(payload, path)
    with pytest.raises(PretrainedWeightsError, match=match) as info:
        load_imagenet_encoder(resnet18(), path)
    assert str(path) in str(info.value)


def test_missing_and_unexpected_keys_are_listed(tmp_path, rgb_state):
    state = dict(rgb_state)
    del state["layer1.0.conv1.weight"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    path = tmp_path / "edited.pth"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError) as info:
        load_imagenet_encoder(resnet18(), path)
    msg = str(info.value)
    assert str(path) in msg
    assert "1 missing key(s) (layer1.0.conv1.weight)" in msg
    assert "1 unexpected key(s) (layer5.0.conv1.weight)" in msg


def test_width_mismatch_reports_shapes(tmp_path):
    path = tmp_path / "narrow.pth"
    torch.save(torchvision_state_dict(width=32), path)
    with pytest.raises(PretrainedWeightsError) as info:
        load_imagenet_encoder(resnet18(width=64), path)
    msg = str(info.value)
    assert "shape mismatch" in msg and "conv1.weight: file (32, 1, 7, 7) vs model (64, 1, 7, 7)" in msg
    assert "width 32" in msg


def test_resnet18_file_for_resnet50_is_named(weights_file):
    enc = resnet50(in_channels=1, width=64)
    before = enc.conv1.weight.detach().clone()
    with pytest.raises(PretrainedWeightsError) as info:
        load_imagenet_encoder(enc, weights_file)
    msg = str(info.value)
    assert "looks like resnet18" in msg and "Bottleneck 3-4-6-3" in msg and "shape mismatch" in msg
    assert torch.equal(enc.conv1.weight, before)  # nothing half-loaded


def test_rgb_to_gray_rejects_non_rgb():
    with pytest.raises(ValueError, match="RGB conv kernel"):
        rgb_to_gray_conv_weight(torch.zeros(8, 1, 7, 7))
    torch.testing.assert_close(rgb_to_gray_conv_weight(torch.ones(2, 3, 1, 1)), torch.full((2, 1, 1, 1), 3.0))
