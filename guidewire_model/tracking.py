"""Stable wire ids across frames: match each frame's centrelines to the tracked wires.

A robot controller steering two guidewires must know which centreline is which wire in every
frame. :class:`WireTracker` matches the new centrelines to the previous ones by the symmetric
mean closest-point distance between polylines (Hungarian assignment with a gate), keeps ids while
a wire is visible, tolerates a few missed frames and gives new wires fresh ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from guidewire_model.centreline import Centreline
from guidewire_model.centreline_metrics import mean_centreline_distance

__all__ = ["TrackedWire", "WireTracker", "assign"]


@dataclass(frozen=True)
class TrackedWire:
    """A centreline with its track id.

    Attributes
    ----------
    wire_id : int
        >= 1, stable while the wire is tracked; never given to another wire while tracked.
    centreline : Centreline
        This frame's centreline of the wire.
    frames_tracked : int
        Number of frames (this one included) in which the wire was seen since its id was given.
    """

    wire_id: int
    centreline: Centreline
    frames_tracked: int


def assign(previous: Sequence[Centreline], current: Sequence[Centreline], gate_px: float
           ) -> list[tuple[int, int]]:
    """Optimal matching of ``current`` to ``previous`` centrelines.

    Minimises the summed symmetric mean closest-point distance; pairs farther apart than
    ``gate_px`` are left unmatched. Returns ``(previous_index, current_index)`` pairs.
    """
    if not previous or not current:
        return []
    cost = np.array([[mean_centreline_distance(p, c) for c in current] for p in previous])
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= gate_px]


@dataclass
class _Track:
    wire_id: int
    centreline: Centreline
    frames_tracked: int
    missed: int = 0


class WireTracker:
    """Assigns stable ids to the centrelines of consecutive frames.

    Parameters
    ----------
    max_wires : int
        At most this many wires are tracked at once; a wire that disappears keeps its slot (and
        id) for ``max_missed_frames`` frames so a short detection drop-out does not change ids.
        A new wire appearing while every slot is taken is not reported until a slot frees.
    max_match_distance_px : float
        Gate on the symmetric mean closest-point distance between a tracked wire's last
        centreline and a new one; farther centrelines are treated as different wires.
    max_missed_frames : int
        A tracked wire not matched for more than this many consecutive frames is dropped.

    Raises
    ------
    ValueError
        If ``max_wires`` < 1, ``max_match_distance_px`` <= 0 or ``max_missed_frames`` < 0.
    """

    def __init__(self, max_wires: int = 2, max_match_distance_px: float = 25.0, max_missed_frames: int = 5):
        if max_wires < 1:
            raise ValueError(f"max_wires must be >= 1, got {max_wires}")
        if max_match_distance_px <= 0:
            raise ValueError(f"max_match_distance_px must be > 0, got {max_match_distance_px}")
        if max_missed_frames < 0:
            raise ValueError(f"max_missed_frames must be >= 0, got {max_missed_frames}")
        self.max_wires = max_wires
        self.max_match_distance_px = float(max_match_distance_px)
        self.max_missed_frames = max_missed_frames
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids restart at 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, centrelines: Sequence[Centreline]) -> list[TrackedWire]:
        """Match this frame's centrelines to the tracks; returns the visible wires sorted by id."""
        pairs = assign([t.centreline for t in self._tracks], list(centrelines), self.max_match_distance_px)
        matched_tracks = {r for r, _ in pairs}
        matched_current = {c for _, c in pairs}
        visible: list[_Track] = []
        for r, c in pairs:
            track = self._tracks[r]
            track.centreline, track.missed = centrelines[c], 0
            track.frames_tracked += 1
            visible.append(track)
        kept = []
        for i, track in enumerate(self._tracks):
            if i not in matched_tracks:
                track.missed += 1
                if track.missed > self.max_missed_frames:
                    continue
            kept.append(track)
        self._tracks = kept
        # Longest unmatched centrelines first: they are the likeliest real wires.
        new = sorted((c for c in range(len(centrelines)) if c not in matched_current),
                     key=lambda c: -centrelines[c].length_px)
        for c in new:
            if len(self._tracks) >= self.max_wires:
                break
            track = _Track(self._next_id, centrelines[c], 1)
            self._next_id += 1
            self._tracks.append(track)
            visible.append(track)
        return [TrackedWire(t.wire_id, t.centreline, t.frames_tracked)
                for t in sorted(visible, key=lambda t: t.wire_id)]
