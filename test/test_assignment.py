"""Tests of guidewire_model.core.assignment: the gate enters the matching, not only its result."""

from __future__ import annotations

import numpy as np
import pytest

from guidewire_model.core.assignment import gated_assignment


def test_a_far_unmatched_row_does_not_pull_a_good_pair_apart():
    # Row 0 has no partner within the gate; row 1 lies on column 1. The unconstrained optimum is the
    # crossed pairing (65.5 + 48.2 < 127.5 + 0.4), whose pairs both fail the gate.
    cost = np.array([[127.5, 65.5], [48.2, 0.4]])
    assert gated_assignment(cost, 10.0) == [(1, 1, 0.4)]


def test_most_gated_pairs_first_then_least_cost():
    # Diagonal: two pairs (1 + 9 = 10); the anti-diagonal one pair of cost 0.5 plus one beyond the gate.
    cost = np.array([[1.0, 0.5], [50.0, 9.0]])
    assert gated_assignment(cost, 10.0) == [(0, 0, 1.0), (1, 1, 9.0)]
    # Among pairs of equal number, the cheaper set.
    assert gated_assignment(np.array([[1.0, 2.0], [2.0, 5.0]]), 10.0) == [(0, 1, 2.0), (1, 0, 2.0)]


def test_rectangular_empty_and_non_finite_costs():
    cost = np.array([[3.0, np.nan, 1.0], [np.inf, 2.0, 20.0]])
    assert gated_assignment(cost, 5.0) == [(0, 2, 1.0), (1, 1, 2.0)]
    assert gated_assignment(cost.T, 5.0) == [(1, 1, 2.0), (2, 0, 1.0)]
    assert gated_assignment(np.zeros((0, 3)), 5.0) == []
    assert gated_assignment(np.full((2, 2), 30.0), 5.0) == []
    with pytest.raises(ValueError, match="2-D"):
        gated_assignment(np.zeros(3), 5.0)
