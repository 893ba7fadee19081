"""The exponential moving average of weights: its arithmetic, against hand-computed values."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from guidewire_model.training.weight_average import WeightAverage


def _net(value: float) -> nn.Module:
    net = nn.Sequential(nn.Linear(2, 1), nn.BatchNorm1d(1))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[1].running_mean.fill_(value)
    return net


def _set(net: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[1].running_mean.fill_(value)
        net[1].num_batches_tracked.fill_(int(value))


def test_the_average_follows_the_warm_up_then_the_decay():
    net = _net(0.0)
    avg = WeightAverage(net, decay=0.5)
    # Step 0: min(0.5, 1/10) = 0.1 -> 0.1 * 0 + 0.9 * 10 = 9.
    _set(net, 10.0)
    avg.update(net)
    assert avg.average["0.weight"].flatten().tolist() == pytest.approx([9.0, 9.0])
    assert avg.average["1.running_mean"].item() == pytest.approx(9.0)
    assert avg.average["1.num_batches_tracked"].item() == 10  # integers are copied, not averaged
    # Step 1: min(0.5, 2/11) = 2/11 -> 2/11 * 9 + 9/11 * 20.
    _set(net, 20.0)
    avg.update(net)
    assert avg.average["0.bias"].item() == pytest.approx(2 / 11 * 9 + 9 / 11 * 20)
    # From step 8 on, (1 + n) / (10 + n) >= 0.5 and the configured decay rules.
    avg.steps = 8
    before = avg.average["0.bias"].item()
    _set(net, 0.0)
    avg.update(net)
    assert avg.average["0.bias"].item() == pytest.approx(0.5 * before)
    assert avg.steps == 9


def test_applied_lends_the_average_and_gives_the_weights_back_even_on_error():
    net = _net(1.0)
    avg = WeightAverage(net, decay=0.9)
    _set(net, 3.0)
    with avg.applied(net) as lent:
        assert lent is net and torch.all(net[0].weight == 1.0)
    assert torch.all(net[0].weight == 3.0)
    with pytest.raises(RuntimeError, match="inside"):
        with avg.applied(net):
            raise RuntimeError("inside")
    assert torch.all(net[0].weight == 3.0) and net[1].running_mean.item() == 3.0


def test_state_round_trips_and_refuses_another_network():
    net = _net(1.0)
    avg = WeightAverage(net, decay=0.9)
    _set(net, 5.0)
    avg.update(net)
    # The counters, and the averaged weights as a checkpoint keeps them: the network under applied().
    state = avg.state_dict()
    with avg.applied(net):
        weights = {k: v.clone() for k, v in net.state_dict().items()}
    assert set(state) == {"decay", "steps"}
    other = WeightAverage(_net(0.0), decay=0.5)
    other.load_state_dict(state, weights)
    assert other.decay == 0.9 and other.steps == 1
    assert all(torch.equal(other.average[k], avg.average[k]) for k in avg.average)
    # Restored by copy: later updates of either do not reach the other or the saved weights.
    other.update(net)
    assert weights["0.bias"].item() == pytest.approx(0.1 * 1 + 0.9 * 5)
    assert avg.average["0.bias"].item() == pytest.approx(0.1 * 1 + 0.9 * 5)
    # A state saved while the average was stored inside it (older checkpoints) still loads.
    older = WeightAverage(_net(0.0), decay=0.5)
    older.load_state_dict({**state, "average": weights}, {k: torch.zeros_like(v) for k, v in weights.items()})
    assert all(torch.equal(older.average[k], avg.average[k]) for k in avg.average)
    with pytest.raises(ValueError, match="another network"):
        WeightAverage(nn.Linear(2, 1), 0.9).load_state_dict(state, weights)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(net, 1.0)


def test_parts_that_do_not_train_are_copied_not_averaged():
    """An average of a constant drifts from it by rounding; frozen parts must stay bit-exact."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3))
    plain, fixed = WeightAverage(model, 0.98), WeightAverage(model, 0.98, fixed=["0", "1"])
    for _ in range(30):
        plain.update(model)
        fixed.update(model)
    weights = model.state_dict()
    assert not torch.equal(plain.average["0.weight"], weights["0.weight"])  # the drift this guards against
    assert all(torch.equal(fixed.average[k], weights[k]) for k in weights if k.startswith(("0.", "1.")))
    assert torch.equal(fixed.average["2.weight"], plain.average["2.weight"])  # the rest is averaged as before
