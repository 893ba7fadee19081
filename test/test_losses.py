"""Modified focal loss (paper eq. 1) and alpha-balanced BCE (eq. 2) against literal references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from guidewire_model.training.config import LossConfig, load_train_config

from guidewire_model.core.shipped_files import config_dir
from guidewire_model.training.losses import ModifiedFocalLoss, modified_focal_loss

torch.set_num_threads(1)


def literal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float, gamma: float) -> torch.Tensor:
    """Eq. (1) exactly as printed, per pixel, through p = sigmoid(x); float64, no stabilisation."""
    p = torch.sigmoid(logits)
    pos = -alpha * (1 - p) ** gamma * torch.log(p)
    neg = -(p**gamma) * torch.log(1 - p)
    return torch.where(target == 1, pos, neg)


def random_case(seed: int, shape=(2, 1, 8, 8), scale: float = 6.0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1) * scale
    target = (torch.rand(shape, generator=g, dtype=torch.float64) < 0.3).to(torch.float64)
    return logits, target


@pytest.mark.parametrize("alpha,gamma", [(100.0, 2.5), (1.0, 0.0), (0.25, 2.0), (150.0, 1.5), (3.0, 0.5)])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
def test_matches_literal_equation(alpha, gamma, reduction):
    logits, target = random_case(int(alpha * 10 + gamma * 100))
    ref = literal_loss(logits, target, alpha, gamma)
    ref = {"sum": ref.sum(), "mean": ref.mean(), "none": ref}[reduction]
    # float32 input: the production dtype
    got = modified_focal_loss(logits.float(), target.float(), alpha, gamma, reduction)
    assert got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), ref.numpy(), rtol=2e-5, atol=1e-6)
    # float64 input stays float64 and agrees to round-off
    got64 = modified_focal_loss(logits, target, alpha, gamma, reduction)
    assert got64.dtype == torch.float64
    np.testing.assert_allclose(got64.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


def exact_loss(x: float, y: float, alpha: float, gamma: float) -> float:
    """Eq. (1) in 50-digit arithmetic: the ground truth where float64 cancels (1 - p ~ 1e-13)."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(50):
        p = 1 / (1 + mpmath.exp(-mpmath.mpf(x)))
        if y == 1:
            return float(-alpha * (1 - p) ** gamma * mpmath.log(p))
        return float(-(p**gamma) * mpmath.log(1 - p))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.5])
def test_extreme_logits_match_where_literal_is_finite(gamma):
    logits = torch.tensor([-30.0, -20.0, -5.0, 0.0, 5.0, 20.0, 30.0], dtype=torch.float64).repeat(2)
    target = torch.tensor([0.0] * 7 + [1.0] * 7, dtype=torch.float64)
    ref = literal_loss(logits, target, 100.0, gamma)
    assert torch.isfinite(ref).all()  # float64 still resolves 1 - sigmoid(30) ~ 9e-14
    got = modified_focal_loss(logits.float(), target.float(), 100.0, gamma, "none").double()
    assert torch.isfinite(got).all()
    # The literal float64 formula loses ~eps / (1 - p) ~ 1e-3 relative accuracy at |x| = 30
    # (1 - p rounds); within that it must agree ...
    # float32 flushes losses below its smallest normal number (~1e-38) towards 0: hence atol.
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=2e-3, atol=1e-38)
    # ... and the stable float32 version must match the exact value much more tightly.
    exact = [exact_loss(x, y, 100.0, gamma) for x, y in zip(logits.tolist(), target.tolist())]
    np.testing.assert_allclose(got.numpy(), exact, rtol=1e-5, atol=1e-38)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.5])
def test_finite_loss_and_gradients_at_saturated_logits(gamma):
    logits = torch.tensor([-100.0, -100.0, 100.0, 100.0], requires_grad=True)
    target = torch.tensor([0.0, 1.0, 0.0, 1.0])
    # The literal float32 formula breaks down here; the stable one must not.
    with torch.no_grad():
        assert not torch.isfinite(literal_loss(logits.detach(), target, 100.0, gamma)).all()
    loss = modified_focal_loss(logits, target, 100.0, gamma, "sum")
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    # wrong & confident pixels dominate: loss ~ alpha*100 (y=1, x=-100) + 100 (y=0, x=100)
    assert loss.item() == pytest.approx(100.0 * 100.0 + 100.0, rel=1e-4)
    # gradient pushes wrong pixels the right way: up for y=1 at -100, down for y=0 at +100
    assert logits.grad[1] < 0 and logits.grad[2] > 0


def test_gamma_zero_is_alpha_balanced_bce():
    logits, target = random_case(7, scale=10.0)
    alpha = 100.0
    # eq. (2) written out
    p = torch.sigmoid(logits)
    eq2 = torch.where(target == 1, -alpha * torch.log(p), -torch.log(1 - p)).sum()
    got = modified_focal_loss(logits, target, alpha, 0.0, "sum")
    torch.testing.assert_close(got, eq2, rtol=1e-10, atol=1e-10)
    for reduction in ("sum", "mean"):
        bce = F.binary_cross_entropy_with_logits(
            logits, target, pos_weight=torch.tensor(alpha, dtype=torch.float64), reduction=reduction
        )
        torch.testing.assert_close(modified_focal_loss(logits, target, alpha, 0.0, reduction), bce)


def test_mean_is_sum_over_pixel_count():
    logits, target = random_case(3, shape=(3, 1, 5, 7))
    s = modified_focal_loss(logits, target, 10.0, 2.0, "sum")
    m = modified_focal_loss(logits, target, 10.0, 2.0, "mean")
    torch.testing.assert_close(m, s / logits.numel())


def test_alpha_weights_only_the_guidewire_term():
    logits, target = random_case(11)
    per1 = modified_focal_loss(logits, target, 1.0, 2.0, "none")
    per7 = modified_focal_loss(logits, target, 7.0, 2.0, "none")
    fg = target == 1
    torch.testing.assert_close(per7[fg], 7.0 * per1[fg])
    torch.testing.assert_close(per7[~fg], per1[~fg])
    assert modified_focal_loss(logits, target, 0.0, 2.0, "none")[fg].abs().max() == 0


def test_gamma_down_weights_easy_examples_more_than_hard_ones():
    # easy: right and confident; hard: wrong (misclassified), for both classes
    logits = torch.tensor([3.0, -3.0, -1.0, 1.0], dtype=torch.float64)
    target = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    bce = modified_focal_loss(logits, target, 1.0, 0.0, "none")
    previous = bce
    for gamma in (0.5, 1.5, 2.5, 3.0):
        focal = modified_focal_loss(logits, target, 1.0, gamma, "none")
        assert (focal < previous).all()  # every pixel's loss shrinks as gamma grows (p < 1)
        ratio = focal / bce
        # the modulating factor is (1-p)^gamma for y=1 and p^gamma for y=0
        p = torch.sigmoid(logits)
        expected = torch.where(target == 1, (1 - p) ** gamma, p**gamma)
        torch.testing.assert_close(ratio, expected)
        assert ratio[:2].max() < ratio[2:].min()  # easy examples lose more weight than hard ones
        previous = focal


def test_gradcheck_float64():
    logits, target = random_case(5, shape=(1, 1, 3, 3), scale=4.0)
    logits.requires_grad_(True)
    for gamma in (0.0, 1.5, 2.5):
        assert torch.autograd.gradcheck(
            lambda x: modified_focal_loss(x, target, 100.0, gamma, "sum"), (logits,)
        )
        assert torch.autograd.gradcheck(
            lambda x: modified_focal_loss(x, target, 0.25, gamma, "none"), (logits,)
        )


def test_autocast_computes_in_float32():
    logits, target = random_case(9)
    half = logits.to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = modified_focal_loss(half, target.float(), 100.0, 2.5, "sum")
    assert got.dtype == torch.float32
    ref = literal_loss(half.double(), target, 100.0, 2.5).sum()
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)


def test_bad_arguments_raise():
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        modified_focal_loss(x, torch.zeros(1, 1, 4, 5), 1.0, 2.0)
    with pytest.raises(ValueError, match="alpha and gamma"):
        modified_focal_loss(x, x, -1.0, 2.0)
    with pytest.raises(ValueError, match="alpha and gamma"):
        modified_focal_loss(x, x, 1.0, math.nan)
    with pytest.raises(ValueError, match="reduction"):
        modified_focal_loss(x, x, 1.0, 2.0, "max")


def test_module_uses_paper_config():
    cfg = load_train_config(config_dir() / "train_paper.yaml")
    loss_fn = ModifiedFocalLoss(cfg.loss)
    assert (loss_fn.alpha, loss_fn.gamma, loss_fn.reduction) == (cfg.loss.alpha, cfg.loss.gamma, "sum")
    logits, target = random_case(13)
    torch.testing.assert_close(
        loss_fn(logits, target), modified_focal_loss(logits, target, cfg.loss.alpha, cfg.loss.gamma, "sum")
    )
    mean_fn = ModifiedFocalLoss(LossConfig(alpha=2.0, gamma=1.0, reduction="mean"))
    torch.testing.assert_close(mean_fn(logits, target), modified_focal_loss(logits, target, 2.0, 1.0, "mean"))


# --------------------------------------------------------------------------- skeleton recall


def test_soft_skeleton_keeps_thin_wires_and_thins_thick_bands():
    from guidewire_model.training.losses import soft_skeleton

    thin = torch.zeros(1, 1, 20, 20)
    thin[0, 0, 5:7, 2:18] = 1  # a 2 px wire is its own skeleton
    assert torch.equal(soft_skeleton(thin), thin)
    thick = torch.zeros(1, 1, 20, 20)
    thick[0, 0, 4:10, 2:18] = 1  # 6 px band: a 2 px core along its middle rows 6 and 7
    skel = soft_skeleton(thick)
    column = skel[0, 0, :, 8].tolist()
    assert column == [0.0] * 6 + [1.0, 1.0] + [0.0] * 12
    assert 0 < skel.sum() < thick.sum() / 2


def test_skeleton_recall_counts_the_covered_share_of_the_skeleton():
    from guidewire_model.training.losses import skeleton_recall_loss

    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 3, :] = 1  # an 8 px one-pixel wire
    logits = torch.full_like(target, -30.0)
    logits[0, 0, 3, :2] = 30.0  # 2 of its 8 pixels predicted with certainty
    assert float(skeleton_recall_loss(logits, target)) == pytest.approx(1 - 2 / 8, abs=1e-6)
    # Probability off the wire does not lower the loss: it is a recall term.
    logits2 = logits.clone()
    logits2[0, 0, 0, :] = 30.0
    assert float(skeleton_recall_loss(logits2, target)) == pytest.approx(1 - 2 / 8, abs=1e-6)
    # No wire in the batch: zero, with a graph for backward.
    empty = skeleton_recall_loss(logits.requires_grad_(), torch.zeros_like(target))
    assert float(empty.detach()) == 0.0
    empty.backward()


def test_skeleton_precision_counts_the_share_of_the_predicted_skeleton_off_the_wire():
    from guidewire_model.training.losses import skeleton_precision_loss

    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 3, :] = 1  # a 12 px one-pixel wire
    logits = torch.full_like(target, -30.0)
    logits[0, 0, 3, :] = 30.0
    # Only the wire predicted: every skeleton pixel is on it.
    assert float(skeleton_precision_loss(logits, target)) == pytest.approx(0.0, abs=1e-6)
    # A 6 px false line beside it: 6 of the 18 skeleton pixels are off the wire.
    logits[0, 0, 8, :6] = 30.0
    assert float(skeleton_precision_loss(logits, target)) == pytest.approx(6 / 18, abs=1e-6)
    # Missing wire does not raise the loss: it is a precision term (2 of 12 wire pixels kept).
    logits[0, 0, 3, 2:] = -30.0
    assert float(skeleton_precision_loss(logits, target)) == pytest.approx(6 / 8, abs=1e-6)


def test_skeleton_precision_pushes_a_false_line_down_and_is_zero_without_lines():
    from guidewire_model.training.losses import skeleton_precision_loss

    target = torch.zeros(1, 1, 12, 12)
    target[0, 0, 3, :] = 1
    logits = torch.full((1, 1, 12, 12), -4.0)
    logits[0, 0, 3, :] = 2.0
    logits[0, 0, 8, 2:10] = 1.0  # a false line
    logits.requires_grad_()
    skeleton_precision_loss(logits, target).backward()
    assert (logits.grad[0, 0, 8, 3:9] > 0).all()  # descent lowers the false line
    assert (logits.grad[0, 0, 3, 3:9] < 0).all()  # and raises the true one
    # A flat map has no skeleton: zero, with a graph for backward.
    flat = torch.zeros(1, 1, 12, 12, requires_grad=True)
    loss = skeleton_precision_loss(flat, target)
    assert float(loss.detach()) == 0.0
    loss.backward()


def test_guidewire_loss_is_the_papers_loss_without_the_skeleton_term():
    from guidewire_model.training.losses import GuidewireLoss, skeleton_precision_loss, skeleton_recall_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 1, 16, 16)
    target = (torch.rand(2, 1, 16, 16) > 0.9).float()
    plain = LossConfig(alpha=20.0, gamma=2.0, reduction="mean")
    with_skel = LossConfig(alpha=20.0, gamma=2.0, reduction="mean", skeleton_recall_weight=0.5)
    focal = modified_focal_loss(logits, target, 20.0, 2.0, "mean")
    assert torch.equal(GuidewireLoss(plain)(logits, target), focal)
    expected = focal + 0.5 * skeleton_recall_loss(logits, target)
    assert torch.allclose(GuidewireLoss(with_skel)(logits, target), expected)
    both = LossConfig(alpha=20.0, gamma=2.0, reduction="mean", skeleton_recall_weight=0.5,
                      skeleton_precision_weight=0.25)
    expected = expected + 0.25 * skeleton_precision_loss(logits, target)
    assert torch.allclose(GuidewireLoss(both)(logits, target), expected)
    assert float(skeleton_precision_loss(logits, target)) > 0.1  # the term is not vanishing here


def test_device_pixels_are_background_weighted_by_device_weight():
    from guidewire_model.training.losses import DEVICE_LABEL, GuidewireLoss

    # One wire pixel, one device pixel, two plain background pixels; hand-computed from eq. (1).
    logits = torch.tensor([0.5, 1.0, -1.0, 2.0]).reshape(1, 1, 2, 2)
    labels = torch.tensor([1.0, DEVICE_LABEL, 0.0, 0.0]).reshape(1, 1, 2, 2)
    alpha, gamma, w = 20.0, 2.0, 5.0

    def p(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    expected = [-alpha * (1 - p(0.5)) ** gamma * math.log(p(0.5)), -w * p(1.0) ** gamma * math.log(1 - p(1.0)),
                -p(-1.0) ** gamma * math.log(1 - p(-1.0)), -p(2.0) ** gamma * math.log(1 - p(2.0))]
    for reduction, reduce in (("sum", sum), ("mean", lambda v: sum(v) / 4)):
        cfg = LossConfig(alpha=alpha, gamma=gamma, reduction=reduction, device_weight=w)
        assert float(GuidewireLoss(cfg)(logits, labels)) == pytest.approx(reduce(expected), rel=1e-6)
    # Weight 1: a device pixel is exactly a background pixel, and the skeleton term sees no wire there.
    cfg = LossConfig(alpha=alpha, gamma=gamma, reduction="mean", skeleton_recall_weight=0.3)
    as_background = torch.where(labels == DEVICE_LABEL, 0.0, labels)
    assert torch.allclose(GuidewireLoss(cfg)(logits, labels), GuidewireLoss(cfg)(logits, as_background))
    # Weight 0 ignores device pixels: whatever the network says there costs nothing.
    cfg0 = LossConfig(alpha=alpha, gamma=gamma, reduction="sum", device_weight=0.0)
    moved = logits.clone()
    moved[0, 0, 0, 1] = 9.0
    assert torch.equal(GuidewireLoss(cfg0)(logits, labels), GuidewireLoss(cfg0)(moved, labels))
    with pytest.raises(ValueError, match="device_weight"):
        GuidewireLoss(LossConfig(alpha=alpha, gamma=gamma, reduction="sum", device_weight=-1.0))


def test_device_head_channel_is_scored_against_the_devices():
    from guidewire_model.training.losses import DEVICE_LABEL, GuidewireLoss

    # Wire channel as in the test above; the device channel's four logits against "device here".
    wire_logits = torch.tensor([0.5, 1.0, -1.0, 2.0]).reshape(1, 1, 2, 2)
    device_logits = torch.tensor([-2.0, 1.5, 0.3, -0.7]).reshape(1, 1, 2, 2)
    labels = torch.tensor([1.0, DEVICE_LABEL, 0.0, 0.0]).reshape(1, 1, 2, 2)
    gamma, head_weight = 2.0, 0.5

    def p(v: float) -> float:
        return 1 / (1 + math.exp(-v))

    # eq. (1) with alpha 1: the device pixel is the positive, the others background.
    device_terms = [-p(-2.0) ** gamma * math.log(1 - p(-2.0)), -(1 - p(1.5)) ** gamma * math.log(p(1.5)),
                    -p(0.3) ** gamma * math.log(1 - p(0.3)), -p(-0.7) ** gamma * math.log(1 - p(-0.7))]
    for reduction, reduce in (("sum", sum), ("mean", lambda v: sum(v) / 4)):
        cfg = LossConfig(alpha=20.0, gamma=gamma, reduction=reduction, device_weight=5.0,
                         skeleton_recall_weight=0.3, device_head_weight=head_weight)
        loss = GuidewireLoss(cfg)
        both = loss(torch.cat([wire_logits, device_logits], dim=1), labels)
        assert float(both) == pytest.approx(float(loss(wire_logits, labels)) + head_weight * reduce(device_terms),
                                            rel=1e-6)
    # The wire pixel (first) as a weighted negative of the device channel: only its term scales.
    wire_weight = 7.0
    weighted = [wire_weight * device_terms[0]] + device_terms[1:]
    cfg = LossConfig(alpha=20.0, gamma=gamma, reduction="sum", device_head_weight=head_weight,
                     device_head_wire_weight=wire_weight)
    loss = GuidewireLoss(cfg)
    both = loss(torch.cat([wire_logits, device_logits], dim=1), labels)
    assert float(both) == pytest.approx(float(loss(wire_logits, labels)) + head_weight * sum(weighted), rel=1e-6)
    with pytest.raises(ValueError, match="device_head_weight"):
        GuidewireLoss(LossConfig(alpha=20.0, gamma=gamma, reduction="sum", device_head_weight=-1.0))
    with pytest.raises(ValueError, match="device_head_wire_weight"):
        GuidewireLoss(LossConfig(alpha=20.0, gamma=gamma, reduction="sum", device_head_wire_weight=-1.0))


def test_pooled_labels_keep_a_one_pixel_wire_and_rank_wire_over_device_over_tip_zone():
    from guidewire_model.training.losses import DEVICE_LABEL, TIP_ZONE_LABEL, pool_labels

    labels = torch.zeros(1, 1, 8, 8)
    labels[0, 0, 1, :] = 1.0                 # a 1 px wire along row 1: every cell of the top row
    labels[0, 0, 5, 0:4] = DEVICE_LABEL      # a device in the lower left cell ...
    labels[0, 0, 7, 3] = 1.0                 # ... which also holds one wire pixel
    labels[0, 0, 6, 6] = DEVICE_LABEL        # lower right: a device and a tip zone pixel
    labels[0, 0, 7, 7] = TIP_ZONE_LABEL
    expected = torch.tensor([[1.0, 1.0], [1.0, DEVICE_LABEL]])
    assert torch.equal(pool_labels(labels, 4)[0, 0], expected)
    labels[0, 0, 6, 6] = 0.0
    assert pool_labels(labels, 4)[0, 0, 1, 1] == TIP_ZONE_LABEL
    assert torch.equal(pool_labels(labels, 1), labels)


def test_deep_supervision_loss_adds_the_mean_of_the_coarse_maps_losses():
    from guidewire_model.training.linknet import DEEP_SUPERVISION_STRIDES
    from guidewire_model.training.losses import DEVICE_LABEL, DeepSupervisionLoss, GuidewireLoss, pool_labels

    cfg = load_train_config(config_dir() / "train_default_model_stage2.yaml").loss
    base = GuidewireLoss(cfg)
    torch.manual_seed(0)
    target = torch.zeros(2, 1, 32, 32)
    target[:, :, 10, 3:30] = 1.0
    target[:, :, 20:23, 3:30] = DEVICE_LABEL
    own = torch.randn(2, 1, 32, 32)
    coarse = [torch.randn(2, 1, 32 // s, 32 // s) for s in DEEP_SUPERVISION_STRIDES]
    maps = [c.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3) for c, s in zip(coarse, DEEP_SUPERVISION_STRIDES)]
    logits = torch.cat([own, *maps], dim=1)
    expected = base(own, target) + 0.3 * sum(
        base(c, pool_labels(target, s)) for c, s in zip(coarse, DEEP_SUPERVISION_STRIDES)) / 3
    assert torch.allclose(DeepSupervisionLoss(base, 0.3)(logits, target), expected)
    assert torch.equal(DeepSupervisionLoss(base, 0.0)(logits, target), base(own, target))
    with pytest.raises(ValueError, match="deep supervision needs 3 maps"):
        DeepSupervisionLoss(base, 1.0)(own, target)
    with pytest.raises(ValueError, match="deep_supervision_weight"):
        DeepSupervisionLoss(base, -1.0)
