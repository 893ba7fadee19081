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


def _brute_force(cost: np.ndarray, gate: float) -> tuple[int, float]:
    # Every one-to-one matching of rows to distinct columns (or none), scored (most gated pairs, least sum).
    n, m = cost.shape
    best = (0, 0.0)

    def search(row: int, used: frozenset, count: int, total: float) -> None:
        nonlocal best
        if row == n:
            if count > best[0] or (count == best[0] and total < best[1] - 1e-9):
                best = (count, total)
            return
        search(row + 1, used, count, total)
        for col in range(m):
            if col not in used and cost[row, col] <= gate:
                search(row + 1, used | {col}, count + 1, total + cost[row, col])

    search(0, frozenset(), 0, 0.0)
    return best


def test_matches_a_brute_force_search_on_random_costs():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n, m = rng.integers(1, 5, size=2)
        cost = rng.uniform(0.0, 30.0, size=(n, m))
        pairs = gated_assignment(cost, 10.0)
        assert len({r for r, _, _ in pairs}) == len(pairs) == len({c for _, c, _ in pairs})
        assert all(c <= 10.0 for _, _, c in pairs)
        count, total = _brute_force(cost, 10.0)
        assert len(pairs) == count
        assert sum(c for _, _, c in pairs) == pytest.approx(total)
