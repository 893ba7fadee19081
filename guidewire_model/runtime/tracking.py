"""Stable wire ids across frames: match each frame's centrelines to the tracked wires.

A robot controller steering two guidewires must know which centreline is which wire in every
frame. :class:`WireTracker` matches the new centrelines to the previous ones by the symmetric
mean closest-point distance between polylines (Hungarian assignment with a gate), keeps ids while
a wire is visible, tolerates a few missed frames and gives new wires fresh ids.

It also keeps each wire's direction steady. Orienting one frame alone (which end is the catheter
end, :mod:`guidewire_model.runtime.centreline`) fails in the frames whose mask loses the stretch that tells
it, so every matched frame casts a vote: does the frame's own orientation agree with the track's
(:func:`same_direction`: the ends project in the same order along the wire's previous centreline)?
The track keeps its direction while agreeing votes are at least as many as disagreeing ones,
and turns round when they are not; a wrong first frame is outvoted, a lone wrong frame is not.

A track also keeps the shape it is matched against. A centreline that lies on that shape (within
``orientation_match_px``) replaces it; one that matches only loosely -- half the wire where the
mask has a gap, or two wires joined into one path at a crossing -- is published under the track's
id but does not replace it, else the next frame's whole wire would be compared with the broken
piece, miss the gate and lose its id. A track matched only loosely for more than
``max_missed_frames`` frames in a row takes the latest centreline as its shape (the wire did move).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from guidewire_model.core.assignment import gated_assignment
from guidewire_model.core.wire import Wire
from guidewire_model.core.polyline import arc_length, nearest_sample_distance

__all__ = ["WireTracker", "assign", "same_direction"]


def assign(previous: Sequence[Wire], current: Sequence[Wire], gate_px: float
           ) -> list[tuple[int, int]]:
    """Optimal matching of ``current`` to ``previous`` centrelines.

    Among the pairs whose symmetric mean closest-point distance (from 1 px samples,
    :func:`~guidewire_model.core.polyline.nearest_sample_distance`) is at most ``gate_px``, the
    most pairs with the least summed distance
    (:func:`~guidewire_model.core.assignment.gated_assignment`). Returns
    ``(previous_index, current_index)`` pairs.
    """
    return [(r, c) for r, c, _ in _matches(previous, current, gate_px)]


def _matches(previous: Sequence[Wire], current: Sequence[Wire], gate_px: float
             ) -> list[tuple[int, int, float]]:
    """:func:`assign`'s pairs with their distances (the tracker reuses them for the direction vote)."""
    if not previous or not current:
        return []
    cost = np.array([[nearest_sample_distance(p, c) for c in current] for p in previous])
    return gated_assignment(cost, gate_px)


def _arc_position(points: np.ndarray, polyline: np.ndarray) -> np.ndarray:
    """Arc length along ``polyline`` of its vertex nearest to each of ``points``."""
    d = np.hypot(points[:, None, 0] - polyline[None, :, 0], points[:, None, 1] - polyline[None, :, 1])
    return arc_length(polyline)[np.argmin(d, axis=1)]


def same_direction(current: Wire, previous: Wire, min_separation_px: float = 10.0) -> bool | None:
    """Whether ``current`` runs the same way as ``previous`` (the same wire, an earlier frame).

    Each end of ``current`` is projected to its nearest vertex of ``previous``; the curves run the
    same way when the proximal end lands before the tip. None when the two projections are less
    than ``min_separation_px`` of arc apart (a short piece across the wire tells nothing).
    """
    start, stop = _arc_position(np.stack([current.points[0], current.points[-1]]), previous.points)
    if abs(stop - start) < min_separation_px:
        return None
    return bool(stop > start)


@dataclass
class _Track:
    wire_id: int
    wire: Wire  # the shape it is matched against: its last centreline that lay on the one before
    frames_tracked: int
    missed: int = 0
    loose: int = 0  # consecutive frames matched only loosely (see the module docstring)
    votes: int = 1  # frames whose own orientation agreed with the track's (its first included), minus the others


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
    orientation_match_px : float
        A matched centreline votes on the wire's direction, and becomes the shape the track is
        matched against, only when its symmetric mean distance to that shape is at most this (see
        the module docstring).

    Raises
    ------
    ValueError
        If ``max_wires`` < 1, ``max_match_distance_px`` <= 0, ``max_missed_frames`` < 0 or
        ``orientation_match_px`` <= 0.
    """

    def __init__(self, max_wires: int = 2, max_match_distance_px: float = 25.0, max_missed_frames: int = 5,
                 orientation_match_px: float = 5.0):
        if max_wires < 1:
            raise ValueError(f"max_wires must be >= 1, got {max_wires}")
        if max_match_distance_px <= 0:
            raise ValueError(f"max_match_distance_px must be > 0, got {max_match_distance_px}")
        if max_missed_frames < 0:
            raise ValueError(f"max_missed_frames must be >= 0, got {max_missed_frames}")
        self.max_wires = max_wires
        self.max_match_distance_px = float(max_match_distance_px)
        self.max_missed_frames = max_missed_frames
        if orientation_match_px <= 0:
            raise ValueError(f"orientation_match_px must be > 0, got {orientation_match_px}")
        self.orientation_match_px = float(orientation_match_px)
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids restart at 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1

    def _oriented(self, track: _Track, line: Wire, distance_px: float) -> Wire:
        """``line`` turned to the track's direction, after counting its vote (see the module doc).

        ``distance_px`` is the matching distance between ``line`` and the track's last centreline.
        """
        # Only a centreline lying on the track's last one says which way the wire runs; a looser
        # match (a distractor, another piece) would vote at random.
        if distance_px > self.orientation_match_px:
            return line
        agrees = same_direction(line, track.wire)
        if agrees is None:
            return line
        track.votes += 1 if agrees else -1
        if track.votes < 0:  # outvoted: the frames say the track had it the wrong way round
            track.votes = -track.votes
            return line
        return line if agrees else line.reversed()

    def update(self, centrelines: Sequence[Wire]) -> list[Wire]:
        """Match this frame's centrelines to the tracks; returns the visible wires sorted by id."""
        pairs = _matches([t.wire for t in self._tracks], list(centrelines), self.max_match_distance_px)
        matched_tracks = {r for r, _, _ in pairs}
        matched_current = {c for _, c, _ in pairs}
        visible: list[tuple[_Track, Wire]] = []  # each with the centreline it publishes this frame
        for r, c, distance in pairs:
            track = self._tracks[r]
            line = self._oriented(track, centrelines[c], distance)
            track.missed, track.frames_tracked = 0, track.frames_tracked + 1
            track.loose = 0 if distance <= self.orientation_match_px else track.loose + 1
            if track.loose == 0 or track.loose > self.max_missed_frames:
                track.wire, track.loose = line, 0
            visible.append((track, line))
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
            visible.append((track, track.wire))
        return [line.tracked(t.wire_id, t.frames_tracked) for t, line in sorted(visible, key=lambda v: v[0].wire_id)]
