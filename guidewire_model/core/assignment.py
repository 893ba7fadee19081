"""Gated one-to-one assignment: the matching the wire metrics and the tracker share.

Both pair the wires of one list with those of another by a distance and leave pairs farther apart
than a gate unmatched. Gating *after* an unconstrained minimum-cost assignment loses pairs: with
one good pair (0.4 px) and one wire with no partner anywhere near, the crossed assignment
(65 + 48 px) can cost less than the straight one (128 + 0.4 px), and both crossed pairs then fail
the gate -- the good pair is lost with them. So the gate enters the cost: a pair beyond it costs
more than any set of gated pairs together, which makes the optimum first match as many gated pairs
as possible and then, among those matchings, minimise their summed distance.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["gated_assignment"]


def gated_assignment(cost: np.ndarray, gate: float) -> list[tuple[int, int, float]]:
    """Minimum-cost one-to-one matching restricted to pairs whose cost is at most ``gate``.

    Parameters
    ----------
    cost : ndarray, shape (N, M)
        Pairwise costs (distances); NaN and infinite entries are never matched.
    gate : float
        Largest cost a matched pair may have.

    Returns
    -------
    list of (row, column, cost)
        The matching with the most pairs within the gate and, among those, the least summed cost;
        sorted by row.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D array, got shape {cost.shape}")
    if cost.size == 0:
        return []
    allowed = np.isfinite(cost) & (cost <= gate)
    if not allowed.any():
        return []
    # Larger than the summed cost of any full set of gated pairs, so one pair fewer never pays.
    forbidden = float(np.abs(cost[allowed]).sum()) + 1.0
    rows, cols = linear_sum_assignment(np.where(allowed, cost, forbidden))
    return [(int(r), int(c), float(cost[r, c])) for r, c in zip(rows, cols) if allowed[r, c]]
