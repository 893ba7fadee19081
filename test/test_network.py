"""Network architecture (paper Fig. 2/3), the Table III U-Net, build_model and the FLOP counter."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from guidewire_model.training.config import ConfigError, ModelConfig, load_train_config

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.training.linknet import (BottleneckContext, LinkNet, LinkNetDecoderBlock, LinkNetHead,
                                              SubPixelHead)
from guidewire_model.training.losses import modified_focal_loss
from guidewire_model.training.network import build_model, count_parameters, estimate_gflops
from guidewire_model.training.resnet import BasicBlock, Bottleneck, ResNetEncoder, resnet18, resnet50
from guidewire_model.training.unet import UNet

torch.set_num_threads(1)

# torchvision's published parameter counts (models/resnet.py docs): used to check the encoder
# against an independent number, not against ourselves.
TORCHVISION_RESNET50_PARAMS = 25_557_032
TORCHVISION_RESNET18_PARAMS = 11_689_512


def model_config(**overrides) -> ModelConfig:
    """The paper's model config (config/train_paper.yaml) with pretraining off, plus overrides."""
    base = load_train_config(config_dir() / "train_paper.yaml").model
    return dataclasses.replace(base, **{"pretrained": False, "pretrained_weights": None, **overrides})


SMALL_VARIANTS = [
    dict(architecture="linknet", encoder="resnet18", encoder_width=8),
    dict(architecture="linknet", encoder="resnet34", encoder_width=8),
    dict(architecture="linknet", encoder="resnet50", encoder_width=8),
    dict(architecture="linknet", encoder="resnet18", encoder_width=6),
    dict(architecture="unet", unet_base_channels=4),
    dict(architecture="linknet", encoder="resnet18", encoder_width=8, stem_skip=True),
    dict(architecture="linknet", encoder="resnet50", encoder_width=8, stem_skip=True),
    dict(architecture="linknet", encoder="resnet18", encoder_width=8, stem_skip=True, full_resolution_head=True),
    dict(architecture="linknet", encoder="resnet18", encoder_width=8, stem_skip=True, subpixel_head=True),
    dict(architecture="linknet", encoder="resnet18", encoder_width=8, stem_skip=True, bottleneck_context=True),
]


def test_paper_model_maps_512_to_512():
    model = build_model(model_config()).eval()
    assert isinstance(model, LinkNet) and isinstance(model.encoder.layer1[0], Bottleneck)
    with torch.no_grad():
        out = model(torch.randn(1, 1, 512, 512))
    assert out.shape == (1, 1, 512, 512)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("variant", SMALL_VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
@pytest.mark.parametrize("size", [(64, 64), (96, 160)])
def test_small_variants_round_trip_size(variant, size):
    model = build_model(model_config(**variant)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, *size))
    assert out.shape == (2, 1, *size)


def test_encoder_feature_pyramid():
    enc = resnet50(in_channels=1, width=8)
    feats = enc(torch.randn(1, 1, 64, 64))
    assert [f.shape[1] for f in feats] == list(enc.out_channels) == [8, 32, 64, 128, 256]
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    # paper II-B: 7x7 stride-2 conv, then 3x3 stride-2 max-pooling
    assert enc.conv1.kernel_size == (7, 7) and enc.conv1.stride == (2, 2) and enc.conv1.in_channels == 1
    assert enc.maxpool.kernel_size == 3 and enc.maxpool.stride == 2


@pytest.mark.parametrize("builder,published,keys", [
    (resnet50, TORCHVISION_RESNET50_PARAMS, 320), (resnet18, TORCHVISION_RESNET18_PARAMS, 122)])
def test_encoder_matches_torchvision_layout(builder, published, keys):
    enc = builder(in_channels=3, width=64)
    fc = 1000 * enc.out_channels[-1] + 1000  # the classifier the encoder leaves out
    assert count_parameters(enc) + fc == published
    assert len(enc.state_dict()) + 2 == keys  # + fc.weight, fc.bias
    names = set(enc.state_dict())
    assert {"conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias"} <= names


def test_paper_model_parameter_count():
    model = build_model(model_config())
    enc, dec, head = model.encoder, model.decoder, model.head
    # encoder: torchvision ResNet-50 minus fc, with conv1 reduced from 3 input channels to 1
    assert count_parameters(enc) == TORCHVISION_RESNET50_PARAMS - (2048 * 1000 + 1000) - 64 * 2 * 7 * 7

    def block_params(m, n):
        q = m // 4
        return m * q + q * q * 16 + q * n + 2 * (2 * q) + 2 * n  # convs (no bias) + BN affine

    assert count_parameters(dec) == (block_params(2048, 1024) + block_params(1024, 512)
                                     + block_params(512, 256) + block_params(256, 256))
    assert count_parameters(head) == (256 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 4 + 1)
    total = count_parameters(model)
    assert 31.2e6 < total < 31.3e6  # 31,260,545; see docs/paper-interpretation.md


def test_decoder_block_is_fig3():
    block = LinkNetDecoderBlock(256, 128)
    kinds = [type(m) for m in block]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU,
                     nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
    c1, deconv, c2 = block[0], block[3], block[6]
    assert (c1.in_channels, c1.out_channels, c1.kernel_size) == (256, 64, (1, 1))
    assert (deconv.in_channels, deconv.out_channels, deconv.kernel_size, deconv.stride) == (64, 64, (4, 4), (2, 2))
    assert (c2.in_channels, c2.out_channels, c2.kernel_size) == (64, 128, (1, 1))
    assert block(torch.randn(1, 256, 5, 7)).shape == (1, 128, 10, 14)  # exact 2x upsampling


def test_decoder_mid_ratio_sets_every_blocks_middle_width():
    paper = build_model(model_config(encoder_width=8))
    wide = build_model(model_config(encoder_width=8, decoder_mid_ratio=0.5))
    mids = [[b[0].out_channels for b in m.decoder.blocks] for m in (paper, wide)]
    assert mids == [[64, 32, 16, 8], [128, 64, 32, 16]]  # in/4 (Fig. 3), then in/2
    assert all(b[3].in_channels == b[3].out_channels == b[0].out_channels == b[6].in_channels
               for b in wide.decoder.blocks)
    # Only the middles change: the blocks' outputs still meet the skips.
    assert [(b.in_channels, b.out_channels) for b in wide.decoder.blocks] == \
        [(b.in_channels, b.out_channels) for b in paper.decoder.blocks]
    assert wide(torch.randn(1, 1, 64, 64)).shape == (1, 1, 64, 64)
    assert LinkNetDecoderBlock(3, 5, 0.1)[0].out_channels == 1  # never zero channels


def test_decoder_mid_ratio_is_validated():
    with pytest.raises(ConfigError, match="decoder_mid_ratio"):
        load_train_config(config_dir() / "train_default_model.yaml", {"model.decoder_mid_ratio": 0})


def test_a_new_bottleneck_context_leaves_the_network_as_it_was():
    torch.manual_seed(3)
    plain = build_model(model_config(encoder="resnet34", encoder_width=8, stem_skip=True)).eval()
    torch.manual_seed(3)
    with_context = build_model(model_config(encoder="resnet34", encoder_width=8, stem_skip=True,
                                            bottleneck_context=True)).eval()
    # Built last: every other part draws the weights it draws without the block ...
    own = with_context.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in plain.state_dict().items())
    assert {k.split(".")[0] for k in own if k not in plain.state_dict()} == {"context"}
    # ... and its closing scale starts at zero, so the function is unchanged until training opens it.
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        assert torch.equal(plain(x), with_context(x))


def test_a_context_block_grows_from_a_checkpoint_without_one(tmp_path):
    from guidewire_model.training.checkpoint import save_checkpoint
    from guidewire_model.training.config import to_dict
    from guidewire_model.training.train import _init_weights

    small = {"model.encoder_width": 4}
    parent_cfg = load_train_config(config_dir() / "train_default_model.yaml", small)
    parent = build_model(parent_cfg.model)
    save_checkpoint(tmp_path / "parent.pt", {"model": parent.state_dict(), "config": to_dict(parent_cfg)})
    cfg = load_train_config(config_dir() / "train_default_model_stage2.yaml", {
        **small, "model.bottleneck_context": True, "init_from": str(tmp_path / "parent.pt")})
    model = build_model(cfg.model)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    # No init_fresh needed: the parent lacks the block altogether, so it keeps its closed start.
    _init_weights(model, cfg)
    for key, value in model.state_dict().items():
        assert torch.equal(value, own[key] if key.startswith("context.") else parent.state_dict()[key]), key
    # A parent that has the block gives it its weights.
    torch.nn.init.ones_(model.context.norm.weight)
    save_checkpoint(tmp_path / "with_block.pt", {"model": model.state_dict(), "config": to_dict(cfg)})
    child = build_model(cfg.model)
    _init_weights(child, dataclasses.replace(cfg, init_from=str(tmp_path / "with_block.pt")))
    assert torch.equal(child.context.norm.weight, torch.ones_like(child.context.norm.weight))


def test_a_run_names_the_parts_of_its_network_in_its_log():
    from guidewire_model.training.train import _network_text

    shipped = load_train_config(config_dir() / "train_default_model.yaml").model
    assert _network_text(shipped) == "linknet/resnet34 (width 16, stem skip, full-resolution head)"
    assert _network_text(dataclasses.replace(shipped, bottleneck_context=True, decoder_mid_ratio=0.5)) == (
        "linknet/resnet34 (width 16, stem skip, full-resolution head, bottleneck context, decoder mid ratio 0.5)")
    assert _network_text(dataclasses.replace(shipped, bottleneck_context=True, bottleneck_context_image_level=False)) == (
        "linknet/resnet34 (width 16, stem skip, full-resolution head, bottleneck context without its image level)")
    assert _network_text(dataclasses.replace(shipped, deep_supervision=True)) == (
        "linknet/resnet34 (width 16, stem skip, full-resolution head, deep supervision)")
    assert _network_text(model_config(architecture="unet")) == "unet"


def test_bottleneck_context_sees_the_whole_map():
    block = BottleneckContext(16).eval()
    assert [b[0].dilation for b in block.local] == [(1, 1), (2, 2), (4, 4)]
    assert all(b[0].out_channels == 4 for b in block.local)  # a quarter of the channels each
    x = torch.randn(1, 16, 12, 12)
    with torch.no_grad():
        assert torch.equal(block(x), x)  # closed at start
        nn.init.ones_(block.norm.weight)
        far = x.clone()
        far[..., 11, 11] += 1.0
        moved = (block(far) - block(x)).abs().sum(dim=1)[0]
    # Cell (0, 0) lies 11 cells from the change, beyond every dilated branch (4 cells): only the
    # image-level branch carries it there.
    assert moved[0, 0] > 0
    assert block(torch.randn(2, 16, 3, 5)).shape == (2, 16, 3, 5)


def test_a_context_block_without_its_image_level_sees_only_its_dilated_reach():
    block = BottleneckContext(16, image_level=False).eval()
    assert block.image_level is None
    assert not any(k.startswith("image_level.") for k in block.state_dict())
    x = torch.randn(1, 16, 12, 12)
    with torch.no_grad():
        assert torch.equal(block(x), x)  # closed at start, as with the branch
        nn.init.ones_(block.norm.weight)
        far = x.clone()
        far[..., 11, 11] += 1.0
        moved = (block(far) - block(x)).abs().sum(dim=1)[0]
    # Two stacked reaches at most: the dilation-4 branch reads 4 cells away, nothing 11 cells away.
    assert moved[0, 0] == 0 and moved[7, 7] > 0
    net = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True, bottleneck_context=True,
                                   bottleneck_context_image_level=False))
    assert net.context.image_level is None
    with pytest.raises(ConfigError, match="bottleneck_context_image_level"):
        build_model(model_config(encoder="resnet18", encoder_width=8, bottleneck_context_image_level=False))


def test_decoder_wiring_and_head():
    model = build_model(model_config(encoder_width=8))
    m = [(b.in_channels, b.out_channels) for b in model.decoder.blocks]
    assert m == [(256, 128), (128, 64), (64, 32), (32, 32)]  # n = channels of the skip it meets
    head = model.head
    assert isinstance(head, LinkNetHead)
    kinds = [type(x) for x in head]
    assert kinds == [nn.ConvTranspose2d, nn.ReLU, nn.Conv2d, nn.ReLU, nn.Conv2d]  # no ReLU/sigmoid at the end
    assert head[0].kernel_size == (3, 3) and head[0].stride == (2, 2)
    assert head[2].kernel_size == (3, 3) and head[4].kernel_size == (2, 2) and head[4].out_channels == 1
    assert head(torch.randn(1, 32, 8, 8)).shape == (1, 1, 16, 16)
    # logits, not probabilities: a large bias on the last conv must show up unsquashed
    with torch.no_grad():
        head[4].bias.fill_(-50.0)
        assert model.eval()(torch.randn(1, 1, 64, 64)).max() < -10


def test_stem_skip_feeds_half_resolution_detail_to_the_head():
    """Off (the paper): everything reaches the head through the last decoder block. On: the stem's
    features are added after it, and the block takes the stem's channels (4x fewer than layer1's
    for ResNet-50)."""
    plain = build_model(model_config(encoder="resnet50", encoder_width=8)).eval()
    skip = build_model(model_config(encoder="resnet50", encoder_width=8, stem_skip=True)).eval()
    assert plain.decoder.blocks[3].out_channels == 32 and skip.decoder.blocks[3].out_channels == 8
    assert skip.head[0].in_channels == 8
    x1, x2 = torch.randn(1, 1, 64, 64), torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        for model in (plain, skip):
            last_bn = model.decoder.blocks[3][-2]
            last_bn.weight.zero_()  # the last block now outputs zeros whatever its input
            last_bn.bias.zero_()
        # Silenced last block: the paper's network no longer sees its input; the skip still does.
        assert torch.equal(plain(x1), plain(x2))
        assert not torch.equal(skip(x1), skip(x2))


def _one_pixel_change(model: nn.Module, silenced: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``model``'s outputs for a blank 64x64 frame and for the same frame with pixel (30, 40) set,
    after zeroing ``silenced``'s parameters (the head's path from the encoder-decoder)."""
    with torch.no_grad():
        for p in silenced.parameters():
            p.zero_()
        blank = torch.zeros(1, 1, 64, 64)
        dot = blank.clone()
        dot[0, 0, 30, 40] = 5.0
        return model(blank), model(dot)


def test_full_resolution_head_sees_single_pixels_of_the_frame():
    """With the whole encoder-decoder silenced, the full-resolution head still answers a one-pixel
    change of the frame at that very pixel (and its 5x5 neighbourhood only); the paper's head
    does not."""
    full = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True,
                                    full_resolution_head=True)).eval()
    out1, out2 = _one_pixel_change(full, full.head.upsample)
    changed = torch.nonzero((out1 - out2).abs()[0, 0] > 1e-6)
    assert len(changed) > 0
    assert changed[:, 0].min() >= 28 and changed[:, 0].max() <= 32
    assert changed[:, 1].min() >= 38 and changed[:, 1].max() <= 42


def test_subpixel_head_sees_single_pixels_of_the_frame():
    """With the encoder-decoder silenced, the half-resolution head still answers a one-pixel change
    of the frame, at that pixel and within its receptive field only (the 6x6 stride-2 frame
    convolution and two 3x3 convolutions at half resolution: half-resolution rows 12-18 around
    pixel 30, full-resolution rows 24-37); each of a block's four pixels has its own logit."""
    model = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True,
                                     subpixel_head=True)).eval()
    assert isinstance(model.head, SubPixelHead)
    out1, out2 = _one_pixel_change(model, model.head.features)
    diff = (out1 - out2).abs()[0, 0]
    assert out1.shape == (1, 1, 64, 64)
    assert diff[30, 40] > 1e-6
    changed = torch.nonzero(diff > 1e-6)
    assert changed[:, 0].min() >= 24 and changed[:, 0].max() <= 37
    assert changed[:, 1].min() >= 34 and changed[:, 1].max() <= 47
    block = out2[0, 0, 30:32, 40:42]
    assert len(torch.unique(block)) == 4


def test_subpixel_head_keeps_the_device_channel_out_of_eval_outputs():
    """The pixel shuffle takes the guidewire logits from the first four channels and the device
    logits from the next four; eval mode returns the guidewire channel alone, as with every head."""
    model = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True,
                                     subpixel_head=True, device_head=True))
    x = torch.randn(2, 1, 64, 64)
    both = model.train()(x)
    assert both.shape == (2, 2, 64, 64)
    with torch.no_grad():
        alone = model.eval()(x)
        both_eval = model.train(False).head(model.decoder(model.encoder(x)), x)
    assert alone.shape == (2, 1, 64, 64)
    assert torch.equal(alone, both_eval[:, :1])


def test_head_width_is_configurable():
    """Default: half the encoder width (LinkNet's), the encoder width for the half-resolution head."""
    widths = {}
    for extra in ({}, {"head_channels": 12}, {"subpixel_head": True}, {"subpixel_head": True, "head_channels": 12}):
        model = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True, **extra))
        widths[tuple(extra.items())] = [m.out_channels for m in model.head.modules() if isinstance(m, nn.Conv2d)][0]
    assert list(widths.values()) == [4, 12, 8, 12]


def test_one_head_at_a_time():
    with pytest.raises(ConfigError, match="full_resolution_head and model.subpixel_head"):
        build_model(model_config(encoder="resnet18", encoder_width=8, full_resolution_head=True, subpixel_head=True))


def test_head_keeps_pixels_aligned():
    """An impulse at half resolution lands at the matching full-resolution spot (no shift)."""
    head = LinkNetHead(1, 1)
    with torch.no_grad():
        for conv in (head[0], head[2], head[4]):
            conv.weight.fill_(1.0)
            conv.bias.zero_()
        x = torch.zeros(1, 1, 16, 16)
        x[..., 5, 9] = 1.0
        y = head(x)[0, 0]
    rows, cols = torch.nonzero(y, as_tuple=True)
    w = y[rows, cols]
    # centre of mass of the response, in full-resolution pixel coordinates; half-res pixel i
    # covers full-res pixels 2i, 2i+1, centre 2i + 0.5
    assert (rows.double() * w).sum() / w.sum() == pytest.approx(2 * 5 + 0.5)
    assert (cols.double() * w).sum() / w.sum() == pytest.approx(2 * 9 + 0.5)


@pytest.mark.parametrize("variant", [SMALL_VARIANTS[2], SMALL_VARIANTS[4]], ids=["linknet50", "unet"])
def test_gradients_reach_every_parameter(variant):
    torch.manual_seed(0)
    model = build_model(model_config(**variant)).train()
    x = torch.randn(2, 1, 64, 64)
    y = (torch.rand(2, 1, 64, 64) < 0.05).float()
    modified_focal_loss(model(x), y, 100.0, 2.5, "sum").backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_device_head_is_a_training_only_second_channel():
    """In training mode the device head adds a second logit map; in eval mode (validation, export,
    every backend) the network gives exactly the guidewire channel of the same head."""
    torch.manual_seed(0)
    model = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True,
                                     full_resolution_head=True, device_head=True))
    x = torch.randn(2, 1, 64, 64)
    assert model.train()(x).shape == (2, 2, 64, 64)
    model.eval()
    with torch.no_grad():
        wire = model(x)
        both = model.all_logits(x)  # the head's raw output, both channels, in eval mode
    assert wire.shape == (2, 1, 64, 64) and both.shape == (2, 2, 64, 64)
    assert torch.equal(wire, both[:, :1])
    assert not torch.allclose(both[:, 0], both[:, 1])
    plain = build_model(model_config(encoder="resnet18", encoder_width=8))
    assert plain.train()(x).shape == (2, 1, 64, 64)


def test_build_model_sets_config_and_types():
    cfg = model_config(architecture="unet", unet_base_channels=4)
    model = build_model(cfg)
    assert isinstance(model, UNet) and model.model_config is cfg and model.training
    cfg = model_config(encoder="resnet18", encoder_width=8)
    model = build_model(cfg)
    assert isinstance(model.encoder, ResNetEncoder) and isinstance(model.encoder.layer1[0], BasicBlock)
    assert model.model_config is cfg


@pytest.mark.parametrize("overrides,match", [
    (dict(architecture="unet", pretrained=True, pretrained_weights="w.pth"), "architecture is 'unet'"),
    (dict(encoder_width=32, pretrained=True, pretrained_weights="w.pth"), "encoder_width: 64"),
    (dict(pretrained=True, pretrained_weights=None), "pretrained_weights is empty"),
    (dict(input_size=500), "multiple of 32"),
    (dict(architecture="unet", input_size=200), "multiple of 16"),
    (dict(architecture="segnet"), "allowed: 'linknet', 'unet'"),
    (dict(encoder="resnet101", encoder_width=8), "model.encoder"),
    (dict(architecture="unet", unet_base_channels=4, device_head=True), "device_head"),
    (dict(architecture="unet", unet_base_channels=4, decoder_mid_ratio=0.5), "decoder_mid_ratio"),
    (dict(architecture="unet", unet_base_channels=4, stem_skip=True), "stem_skip"),
    (dict(architecture="unet", unet_base_channels=4, bottleneck_context=True), "bottleneck_context"),
    (dict(architecture="unet", unet_base_channels=4, bottleneck_context_image_level=False),
     "bottleneck_context_image_level"),
    (dict(architecture="unet", unet_base_channels=4, deep_supervision=True), "deep_supervision"),
])
def test_build_model_refuses_invalid_combinations(overrides, match):
    with pytest.raises(ConfigError, match=match):
        build_model(model_config(**overrides))


def test_forward_refuses_sizes_that_cannot_round_trip():
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model(model_config(encoder="resnet18", encoder_width=4))(torch.zeros(1, 1, 48, 64))
    with pytest.raises(ValueError, match="multiple of 16"):
        build_model(model_config(architecture="unet", unet_base_channels=4))(torch.zeros(1, 1, 40, 32))


def test_estimate_gflops_known_layers():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    assert estimate_gflops(conv, 16, in_channels=3) == pytest.approx(2 * 16 * 16 * 8 * 3 * 9 / 1e9)
    strided = nn.Conv2d(4, 6, kernel_size=5, stride=2, padding=2, groups=2)
    assert estimate_gflops(strided, (16, 32), in_channels=4) == pytest.approx(2 * 8 * 16 * 6 * 2 * 25 / 1e9)
    deconv = nn.ConvTranspose2d(2, 5, kernel_size=4, stride=2, padding=1)
    # every input pixel scatters into out_channels * k * k outputs
    assert estimate_gflops(deconv, 8, in_channels=2) == pytest.approx(2 * 8 * 8 * 2 * 5 * 16 / 1e9)
    seq = nn.Sequential(conv, nn.ReLU(), nn.Conv2d(8, 1, 1))
    seq.train()
    assert estimate_gflops(seq, 16, in_channels=3) == pytest.approx(2 * 16 * 16 * (8 * 3 * 9 + 8) / 1e9)
    assert seq.training  # mode restored
    assert not any(m._forward_hooks for m in seq.modules())  # hooks removed


def test_estimate_gflops_scales_with_resolution_and_width():
    small = build_model(model_config(encoder="resnet18", encoder_width=8))
    wide = build_model(model_config(encoder="resnet18", encoder_width=16))
    g64, g128 = estimate_gflops(small, 64), estimate_gflops(small, 128)
    # all layers scale with the pixel count (the head's (2h+1)^2 and (2h-1)^2 maps only nearly)
    assert g128 == pytest.approx(4 * g64, rel=1e-2)
    assert 3.5 < estimate_gflops(wide, 64) / g64 < 4.1  # ~width^2 (stem conv scales only ~width)


def test_deep_supervision_maps_are_the_decoders_coarse_logits_in_training_only():
    from guidewire_model.training.linknet import DEEP_SUPERVISION_STRIDES

    torch.manual_seed(5)
    plain = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True))
    torch.manual_seed(5)
    net = build_model(model_config(encoder="resnet18", encoder_width=8, stem_skip=True, deep_supervision=True))
    # Built last: every other part draws the weights it draws without the maps.
    own = net.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in plain.state_dict().items())
    assert {k.split(".")[0] for k in own if k not in plain.state_dict()} == {"aux"}
    x = torch.randn(2, 1, 64, 96)
    with torch.no_grad():
        net.eval(), plain.eval()
        assert torch.equal(net(x), plain(x))  # validation, export and the backends see no difference
        assert net.all_logits(x).shape[1] == 1
        logits = net.train()(x)
        assert torch.equal(logits[:, :1], plain.train()(x))
        assert logits.shape == (2, 1 + len(DEEP_SUPERVISION_STRIDES), 64, 96)
        stages = net.decoder.stages(net.encoder(x))
        for k, stride in enumerate(DEEP_SUPERVISION_STRIDES):
            cells = logits[:, 1 + k:2 + k, ::stride, ::stride]
            assert torch.equal(cells, net.aux[k](stages[k + 1]))  # the coarse map, exactly
            assert torch.equal(logits[:, 1 + k:2 + k], cells.repeat_interleave(stride, 2).repeat_interleave(stride, 3))


def test_deep_supervision_maps_grow_from_a_checkpoint_without_them_and_are_dropped_without_the_key(tmp_path):
    from guidewire_model.training.checkpoint import save_checkpoint
    from guidewire_model.training.config import to_dict
    from guidewire_model.training.train import _init_weights

    small = {"model.encoder_width": 4}
    parent_cfg = load_train_config(config_dir() / "train_default_model.yaml", small)
    parent = build_model(parent_cfg.model)
    save_checkpoint(tmp_path / "parent.pt", {"model": parent.state_dict(), "config": to_dict(parent_cfg)})
    cfg = load_train_config(config_dir() / "train_default_model_stage2.yaml", {
        **small, "model.deep_supervision": True, "init_from": str(tmp_path / "parent.pt")})
    model = build_model(cfg.model)
    own = {k: v.clone() for k, v in model.state_dict().items()}
    _init_weights(model, cfg)
    for key, value in model.state_dict().items():
        assert torch.equal(value, own[key] if key.startswith("aux.") else parent.state_dict()[key]), key
    # A network without the maps starts from one with them: they are training's alone.
    save_checkpoint(tmp_path / "supervised.pt", {"model": model.state_dict(), "config": to_dict(cfg)})
    plain_cfg = dataclasses.replace(parent_cfg, init_from=str(tmp_path / "supervised.pt"))
    plain = build_model(plain_cfg.model)
    _init_weights(plain, plain_cfg)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in plain.state_dict().items())
