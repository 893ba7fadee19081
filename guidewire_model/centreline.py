"""Binary guidewire mask -> one ordered centreline per wire, proximal end to distal tip.

The segmentation network only says *which pixels* are guidewire. A robot controller needs, for
each of the two wires, an ordered curve and its tip. This module turns the mask into that:

1. skeletonise the mask (one-pixel-wide curves);
2. build a pixel graph (8-connectivity, with the redundant diagonal links of staircase corners
   dropped); clusters of touching pixels with three or more neighbours are *junctions*, pixels
   with one neighbour are *endpoints*; the runs between them are *edges*;
3. prune spurs: edges from a junction to an endpoint shorter than ``spur_length_px`` (skeleton
   artefacts of the wire's thickness), shortest first, re-merging edges through junctions that
   drop to two branches;
4. group junctions into *crossing regions*: junctions joined by a short edge (an X of two wires
   at a shallow angle skeletonises into two Y's joined by a short bar) or by an edge that both
   junctions continue straight into (two wires merging into one blob side by side for a
   stretch, then separating);
5. at every crossing region pair the branches by DIRECTION: the pairing that minimises the
   summed turning angle (corrected for the bend of a long shared stretch) wins, so crossing
   wires are followed straight through instead of being diverted onto each other. A branch left
   over (odd count, e.g. the second wire leaving a shared stem) continues onto its straightest
   partner as a *shared* stretch, so both wires include the stem they share;
6. walk the paths, keep the longest ``max_wires`` whose new (not already claimed) length is at
   least ``min_length_px``;
7. extend each end along its direction to the mask edge (the skeleton stops about half a wire
   width short of the true end), resample at 1 px, smooth lightly, and orient proximal -> distal.

Orientation rule (both wires leave one guiding catheter, so their proximal ends lie together
while the distal tips are apart and inside the image):

a. a wire with exactly one end within ``border_px`` of the image border has its proximal end
   there;
b. the remaining wires are oriented jointly so that the sum of distances between the proximal
   ends of all wires (the ones fixed by rule a included) is smallest;
c. a wire alone that rule a does not decide has its proximal end at the end nearer the border
   (ties: the end with the smaller (y, x), i.e. nearer the top-left).
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d, map_coordinates
from skimage.morphology import skeletonize

__all__ = ["Centreline", "extract_centrelines", "polyline_length"]

# 8 neighbour offsets (dy, dx); the first four are 4-neighbours.
_OFFSETS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


@dataclass(frozen=True)
class Centreline:
    """One guidewire's ordered centreline.

    Attributes
    ----------
    points : ndarray, shape (N, 2), float64
        (x, y) pixel coordinates (origin at the centre of the top-left pixel), ordered from the
        proximal end (catheter side) to the distal tip, spaced about 1 px apart.
    tip : ndarray, shape (2,), float64
        The distal tip, ``points[-1]``.
    tip_direction : ndarray, shape (2,), float64
        Unit vector (dx, dy) pointing distally, from the last ~10 px of the curve.
    length_px : float
        Arc length of ``points`` in pixels.
    mean_probability : float
        Mean of the probability map sampled (bilinearly) along ``points``; 1.0 when no
        probability map was given (the mask is then taken as certain).
    """

    points: np.ndarray
    tip: np.ndarray
    tip_direction: np.ndarray
    length_px: float
    mean_probability: float

    @classmethod
    def from_points(cls, points: np.ndarray, mean_probability: float = 1.0,
                    direction_px: float = 10.0) -> "Centreline":
        """Build a centreline from ordered (x, y) points; tip and direction are derived."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            raise ValueError("a centreline needs at least one point")
        s = _arc_length(pts)
        back = np.searchsorted(s, s[-1] - direction_px, side="right") - 1
        vec = pts[-1] - pts[max(back, 0)]
        norm = float(np.hypot(*vec))
        direction = vec / norm if norm > 1e-9 else np.zeros(2)
        return cls(pts, pts[-1].copy(), direction, float(s[-1]), float(mean_probability))


def polyline_length(points: np.ndarray) -> float:
    """Arc length in pixels of an (N, 2) polyline (0 for fewer than two points)."""
    return float(_arc_length(np.asarray(points, dtype=np.float64))[-1]) if len(points) else 0.0


def _arc_length(points: np.ndarray) -> np.ndarray:
    if len(points) < 2:
        return np.zeros(len(points))
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(points, axis=0).T))])


def _resample(points: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    s = _arc_length(points)
    if len(points) < 2 or s[-1] <= 0:
        return points.copy()
    n = max(int(math.ceil(s[-1] / spacing)), 1) + 1
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


# --------------------------------------------------------------------------- pixel graph


@dataclass
class _Edge:
    a: int  # node id at pix[0]
    b: int  # node id at pix[-1]
    pix: np.ndarray  # (M, 2) float (x, y), ordered a -> b
    alive: bool = True

    @property
    def length(self) -> float:
        return float(_arc_length(self.pix)[-1])


@dataclass
class _Graph:
    centre: dict[int, np.ndarray] = field(default_factory=dict)  # node -> (x, y)
    edges: list[_Edge] = field(default_factory=list)
    adj: dict[int, list[int]] = field(default_factory=dict)  # node -> alive edge ids (twice for loops)

    def degree(self, n: int) -> int:
        return len(self.adj[n])

    def remove_edge(self, e: int) -> None:
        edge = self.edges[e]
        edge.alive = False
        self.adj[edge.a].remove(e)
        self.adj[edge.b].remove(e)

    def add_edge(self, a: int, b: int, pix: np.ndarray) -> int:
        self.edges.append(_Edge(a, b, pix))
        e = len(self.edges) - 1
        self.adj[a].append(e)
        self.adj[b].append(e)
        return e

    def oriented(self, e: int, start: int) -> np.ndarray:
        """Pixels of edge ``e`` ordered away from node ``start``."""
        edge = self.edges[e]
        return edge.pix if edge.a == start else edge.pix[::-1]

    def other(self, e: int, n: int) -> int:
        edge = self.edges[e]
        return edge.b if edge.a == n else edge.a


def _build_graph(skel: np.ndarray, offset: tuple[int, int]) -> _Graph:
    """Graph of a one-pixel-wide skeleton; coordinates shifted by ``offset`` = (x0, y0)."""
    h, w = skel.shape
    padded = np.zeros((h + 2, w + 2), dtype=bool)
    padded[1:-1, 1:-1] = skel
    ys, xs = np.nonzero(padded)
    n = len(ys)
    index = np.full(padded.shape, -1, dtype=np.int64)
    index[ys, xs] = np.arange(n)
    nbr = np.stack([index[ys + dy, xs + dx] for dy, dx in _OFFSETS], axis=1)
    # A diagonal link is redundant when a 4-connected detour exists (staircase corners of the
    # skeleton); keeping it would give those pixels a false third neighbour.
    for k, (dy, dx) in enumerate(_OFFSETS[4:], start=4):
        redundant = padded[ys + dy, xs] | padded[ys, xs + dx]
        nbr[redundant, k] = -1
    degree = (nbr >= 0).sum(axis=1)
    nbr_lists = [row[row >= 0].tolist() for row in nbr]

    # Node of each pixel: junction clusters (degree >= 3, touching) share one node id.
    node_of = np.full(n, -1, dtype=np.int64)
    graph = _Graph()
    pts = np.stack([xs - 1 + offset[0], ys - 1 + offset[1]], axis=1).astype(np.float64)
    next_id = 0
    for seed in np.flatnonzero(degree >= 3).tolist():
        if node_of[seed] >= 0:
            continue
        stack, members = [seed], []
        node_of[seed] = next_id
        while stack:
            p = stack.pop()
            members.append(p)
            for q in nbr_lists[p]:
                if degree[q] >= 3 and node_of[q] < 0:
                    node_of[q] = next_id
                    stack.append(q)
        graph.centre[next_id] = pts[members].mean(axis=0)
        graph.adj[next_id] = []
        next_id += 1
    for p in np.flatnonzero(degree <= 1).tolist():
        node_of[p] = next_id
        graph.centre[next_id] = pts[p]
        graph.adj[next_id] = []
        next_id += 1

    used: set[tuple[int, int]] = set()
    visited = np.zeros(n, dtype=bool)

    def walk(p: int, q: int) -> None:
        path = [p, q]
        prev, cur = p, q
        while node_of[cur] < 0:
            nxt = [r for r in nbr_lists[cur] if r != prev]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
            if cur == p:  # closed loop through a single node
                break
        used.add((path[-1], path[-2]))
        visited[path] = True
        graph.add_edge(int(node_of[p]), int(node_of[cur]), pts[path])

    for p in np.flatnonzero(node_of >= 0).tolist():
        for q in nbr_lists[p]:
            if node_of[q] == node_of[p] or (p, q) in used:
                continue
            used.add((p, q))
            walk(p, q)
    # Closed loops with no junction or endpoint (a wire curled onto itself): cut at one pixel.
    remaining = np.flatnonzero((node_of < 0) & (degree == 2) & ~visited).tolist()
    seen_loop: set[int] = set()
    for p in remaining:
        if p in seen_loop:
            continue
        loop = [p]
        prev, cur = p, nbr_lists[p][0]
        while cur != p and cur not in seen_loop:
            loop.append(cur)
            seen_loop.add(cur)
            prev, cur = cur, [r for r in nbr_lists[cur] if r != prev][0]
        seen_loop.add(p)
        a, b = next_id, next_id + 1
        next_id += 2
        graph.centre[a], graph.centre[b] = pts[loop[0]], pts[loop[-1]]
        graph.adj[a], graph.adj[b] = [], []
        graph.add_edge(a, b, pts[loop])
    return graph


def _merge_through(graph: _Graph, n: int) -> None:
    """Replace the two edges at a degree-2 node by one edge."""
    e1, e2 = graph.adj[n]
    if e1 == e2:  # a loop hanging off this node; nothing to merge
        return
    a, b = graph.other(e1, n), graph.other(e2, n)
    pix = np.concatenate([graph.oriented(e1, n)[::-1], graph.oriented(e2, n)[1:]])
    graph.remove_edge(e1)
    graph.remove_edge(e2)
    graph.add_edge(a, b, pix)


def _prune_spurs(graph: _Graph, spur_length_px: float) -> None:
    while True:
        best, best_len = -1, spur_length_px
        for e, edge in enumerate(graph.edges):
            if not edge.alive or edge.a == edge.b:
                continue
            da, db = graph.degree(edge.a), graph.degree(edge.b)
            if (da == 1 and db >= 3) or (db == 1 and da >= 3):
                length = edge.length
                if length < best_len:
                    best, best_len = e, length
        if best < 0:
            return
        edge = graph.edges[best]
        junction = edge.a if graph.degree(edge.a) >= 3 else edge.b
        graph.remove_edge(best)
        if graph.degree(junction) == 2:
            _merge_through(graph, junction)


# --------------------------------------------------------------------------- direction pairing


def _direction_away(pix: np.ndarray, skip_px: float, reach_px: float) -> np.ndarray:
    """Unit direction of a branch leaving its junction, ignoring the distorted first pixels."""
    s = _arc_length(pix)
    total = s[-1]
    skip = min(skip_px, total / 3.0)
    reach = min(reach_px, total)
    p0 = pix[np.searchsorted(s, skip)]
    p1 = pix[min(np.searchsorted(s, reach), len(pix) - 1)]
    vec = p1 - p0
    norm = np.hypot(*vec)
    if norm < 1e-9:
        vec = pix[-1] - pix[0]
        norm = max(np.hypot(*vec), 1e-9)
    return vec / norm


def _angle(v: np.ndarray) -> float:
    return math.atan2(v[1], v[0])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


@dataclass
class _Region:
    """A crossing region: junction nodes with the edges inside and the branches leaving it."""

    nodes: set[int]
    internal: set[int]
    branches: list[tuple[int, int]]  # (edge, node of the region it attaches to)
    partner: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    routes: dict[tuple[int, int], list[tuple[int, int]]] = field(default_factory=dict)


def _route(graph: _Graph, internal: set[int], start: int, goal: int) -> list[tuple[int, int]]:
    """Shortest chain of internal edges from node ``start`` to ``goal`` as (edge, from-node)."""
    if start == goal:
        return []
    dist = {start: 0.0}
    back: dict[int, tuple[int, int]] = {}
    heap = [(0.0, start)]
    while heap:
        d, n = heapq.heappop(heap)
        if n == goal:
            break
        if d > dist.get(n, math.inf):
            continue
        for e in graph.adj[n]:
            if e not in internal:
                continue
            m = graph.other(e, n)
            nd = d + graph.edges[e].length
            if nd < dist.get(m, math.inf):
                dist[m] = nd
                back[m] = (e, n)
                heapq.heappush(heap, (nd, m))
    chain = []
    n = goal
    while n != start:
        e, prev = back[n]
        chain.append((e, prev))
        n = prev
    return chain[::-1]


def _route_points(graph: _Graph, chain: list[tuple[int, int]]) -> np.ndarray:
    if not chain:
        return np.zeros((0, 2))
    return np.concatenate([graph.oriented(e, n) for e, n in chain])


def _build_regions(graph: _Graph, merge_length_px: float, skip_px: float, reach_px: float,
                   max_turn_rad: float) -> dict[int, _Region]:
    junctions = [n for n, es in graph.adj.items() if len(es) >= 3]
    jset = set(junctions)
    direction = {}
    for n in junctions:
        for e in graph.adj[n]:
            direction[(e, n)] = _direction_away(graph.oriented(e, n), skip_px, reach_px)

    def straight_into(e: int, n: int) -> bool:
        # True when the best straight-through partner of junction n's branches involves e.
        es = graph.adj[n]
        if len(es) != 3:
            return False
        best, best_cost = None, math.inf
        for i, j in itertools.combinations(range(3), 2):
            cost = abs(_wrap(_angle(direction[(es[j], n)]) - _angle(-direction[(es[i], n)])))
            if cost < best_cost:
                best, best_cost = (es[i], es[j]), cost
        return best is not None and e in best

    parent = {n: n for n in junctions}

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    internal_all: set[int] = set()
    for e, edge in enumerate(graph.edges):
        if not edge.alive or edge.a not in jset or edge.b not in jset or edge.a == edge.b:
            continue
        if edge.length <= merge_length_px or (straight_into(e, edge.a) and straight_into(e, edge.b)):
            internal_all.add(e)
            parent[find(edge.a)] = find(edge.b)

    groups: dict[int, set[int]] = {}
    for n in junctions:
        groups.setdefault(find(n), set()).add(n)
    regions: dict[int, _Region] = {}
    for nodes in groups.values():
        internal = {e for n in nodes for e in graph.adj[n] if e in internal_all}
        branches = [(e, n) for n in nodes for e in graph.adj[n] if e not in internal]
        region = _Region(nodes, internal, branches)
        _pair_branches(graph, region, direction, skip_px, reach_px, max_turn_rad)
        for n in nodes:
            regions[n] = region
    return regions


def _pair_branches(graph: _Graph, region: _Region, direction: dict, skip_px: float,
                   reach_px: float, max_turn_rad: float) -> None:
    branches = region.branches
    k = len(branches)
    cost = np.full((k, k), math.inf)
    routes = {}
    for i, j in itertools.permutations(range(k), 2):
        (ei, ni), (ej, nj) = branches[i], branches[j]
        if ei == ej:
            continue
        chain = _route(graph, region.internal, ni, nj)
        routes[(i, j)] = chain
        turn_expected = 0.0
        route_pts = _route_points(graph, chain)
        if len(route_pts) > 1 and _arc_length(route_pts)[-1] > 2 * reach_px:
            # A long shared stretch bends; compare each pairing against the bend of the stretch.
            t0 = _direction_away(route_pts, skip_px, reach_px)
            t1 = -_direction_away(route_pts[::-1], skip_px, reach_px)
            turn_expected = _wrap(_angle(t1) - _angle(t0))
            c = (abs(_wrap(_angle(t0) - _angle(-direction[(ei, ni)])))
                 + abs(_wrap(_angle(direction[(ej, nj)]) - _angle(t1))))
        else:
            c = abs(_wrap(_angle(direction[(ej, nj)]) - _angle(-direction[(ei, ni)]) - turn_expected))
        cost[i, j] = c
    cost = np.minimum(cost, cost.T)
    # Exhaustive search over matchings: regions have few branches (2 wires -> at most ~6).
    best_pairs: list[tuple[int, int]] = []
    best_key = (0, 0.0)

    def search(free: list[int], pairs: list[tuple[int, int]], total: float) -> None:
        nonlocal best_pairs, best_key
        if len(free) < 2:
            key = (-len(pairs), total)
            if not best_pairs or key < best_key:
                best_pairs, best_key = list(pairs), key
            return
        first, rest = free[0], free[1:]
        search(rest, pairs, total)  # leave `first` unpaired
        for m, other in enumerate(rest):
            c = cost[first, other]
            if c <= max_turn_rad:
                search(rest[:m] + rest[m + 1:], pairs + [(first, other)], total + c)

    if k <= 8:
        search(list(range(k)), [], 0.0)
    paired = set()
    for i, j in best_pairs:
        region.partner[branches[i]] = branches[j]
        region.partner[branches[j]] = branches[i]
        region.routes[(branches[i], branches[j])] = routes[(i, j)]
        region.routes[(branches[j], branches[i])] = routes[(j, i)]
        paired.update((i, j))
    # A leftover branch (the second wire leaving a stem both wires share) continues onto its
    # straightest partner, which is then shared by two paths.
    for i in range(k):
        if i in paired:
            continue
        j = int(np.argmin(cost[i]))
        if cost[i, j] <= max_turn_rad:
            region.partner[branches[i]] = branches[j]
            region.routes[(branches[i], branches[j])] = routes[(i, j)]


def _walk_paths(graph: _Graph, regions: dict[int, _Region]) -> list[tuple[list[int], np.ndarray]]:
    """All maximal paths as (edge ids, (x, y) points), each found once."""
    starts = []
    for n, es in graph.adj.items():
        if len(es) == 1:
            starts.append((es[0], n))
    for region in {id(r): r for r in regions.values()}.values():
        for branch in region.branches:
            if branch not in region.partner:
                starts.append(branch)
    seen: set[tuple[int, ...]] = set()
    paths = []
    for e, n in starts:
        edges_used = [e]
        pieces = [graph.oriented(e, n)]
        cur_e, cur_n = e, graph.other(e, n)
        while cur_n in regions:
            region = regions[cur_n]
            nxt = region.partner.get((cur_e, cur_n))
            if nxt is None or nxt[0] in edges_used:
                break
            for ie, inode in region.routes[((cur_e, cur_n), nxt)]:
                pieces.append(graph.oriented(ie, inode))
                edges_used.append(ie)
            edges_used.append(nxt[0])
            pieces.append(graph.oriented(nxt[0], nxt[1]))
            cur_e, cur_n = nxt[0], graph.other(nxt[0], nxt[1])
        key = tuple(edges_used)
        canon = min(key, key[::-1])
        if canon in seen:
            continue
        seen.add(canon)
        pts = np.concatenate(pieces)
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(np.diff(pts, axis=0) != 0, axis=1)
        paths.append((edges_used, pts[keep]))
    return paths


# --------------------------------------------------------------------------- finishing


def _extend_to_mask_edge(points: np.ndarray, mask: np.ndarray, max_px: float) -> np.ndarray:
    """Extend the last point along the end direction while it stays inside the mask."""
    if len(points) < 2:
        return points
    d = Centreline.from_points(points, direction_px=6.0).tip_direction
    if not np.any(d):
        return points
    h, w = mask.shape
    tip = points[-1]
    extra = []
    step = 0.5
    for k in range(1, int(max_px / step) + 1):
        p = tip + d * (k * step)
        x, y = int(round(p[0])), int(round(p[1]))
        if not (0 <= x < w and 0 <= y < h) or not mask[y, x]:
            break
        extra.append(p)
    if not extra:
        return points
    return np.concatenate([points, np.asarray(extra)[-1:]])


def _border_distance(p: np.ndarray, shape: tuple[int, int]) -> float:
    h, w = shape
    return float(min(p[0], p[1], w - 1 - p[0], h - 1 - p[1]))


def _orient(paths: list[np.ndarray], shape: tuple[int, int], border_px: float) -> list[np.ndarray]:
    """Apply the module's orientation rule; returns paths ordered proximal -> distal."""
    fixed: dict[int, bool] = {}  # path index -> reverse?
    for i, p in enumerate(paths):
        near0 = _border_distance(p[0], shape) <= border_px
        near1 = _border_distance(p[-1], shape) <= border_px
        if near0 != near1:
            fixed[i] = near1
    free = [i for i in range(len(paths)) if i not in fixed]
    if len(paths) == 1 and free:
        b0, b1 = _border_distance(paths[0][0], shape), _border_distance(paths[0][-1], shape)
        if b0 != b1:
            fixed[0] = b1 < b0
        else:
            fixed[0] = (paths[0][-1][1], paths[0][-1][0]) < (paths[0][0][1], paths[0][0][0])
        free = []
    if free:
        best, best_cost = None, math.inf
        for flips in itertools.product((False, True), repeat=len(free)):
            choice = dict(fixed)
            choice.update(zip(free, flips))
            prox = [paths[i][-1] if choice[i] else paths[i][0] for i in range(len(paths))]
            cost = sum(float(np.hypot(*(a - b))) for a, b in itertools.combinations(prox, 2))
            if cost < best_cost - 1e-9:
                best, best_cost = choice, cost
        fixed = best
    return [p[::-1] if fixed[i] else p for i, p in enumerate(paths)]


def extract_centrelines(
    mask: np.ndarray,
    probability: np.ndarray | None = None,
    max_wires: int = 2,
    min_length_px: float = 20.0,
    spur_length_px: float = 12.0,
    merge_length_px: float = 12.0,
    max_turn_deg: float = 60.0,
    border_px: float = 6.0,
    smooth_sigma_px: float = 1.5,
) -> list["Centreline"]:
    """Ordered centrelines of the guidewires in a binary mask.

    Parameters
    ----------
    mask : ndarray, shape (H, W), bool or integer
        Guidewire mask; non-zero pixels are wire.
    probability : ndarray, shape (H, W), float, optional
        Per-pixel wire probability in [0, 1]; only used for ``Centreline.mean_probability``
        (1.0 for every centreline when omitted).
    max_wires : int
        At most this many centrelines are returned, the longest first.
    min_length_px : float
        Paths shorter than this (or adding less new length than this beyond the wires already
        kept) are dropped.
    spur_length_px : float
        Skeleton side branches ending freely and shorter than this are removed.
    merge_length_px : float
        Junctions joined by a skeleton edge at most this long form one crossing region.
    max_turn_deg : float
        A path is never continued through a junction with a turn sharper than this.
    border_px : float
        An end within this distance of the image border counts as "at the border" for the
        orientation rule (see the module docstring).
    smooth_sigma_px : float
        Gaussian smoothing (in px of arc length) of the resampled path; 0 disables it.

    Returns
    -------
    list of Centreline
        Ordered proximal -> distal, longest first; empty if the mask holds no wire.

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D, ``probability`` has another shape, or ``max_wires`` < 1.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (H, W) array, got shape {mask.shape}")
    if probability is not None and np.shape(probability) != mask.shape:
        raise ValueError(f"probability shape {np.shape(probability)} differs from mask shape {mask.shape}")
    if max_wires < 1:
        raise ValueError(f"max_wires must be >= 1, got {max_wires}")
    binary = mask.astype(bool, copy=False)
    rows = np.flatnonzero(binary.any(axis=1))
    if len(rows) == 0:
        return []
    cols = np.flatnonzero(binary.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    skel = skeletonize(binary[y0:y1, x0:x1])
    graph = _build_graph(skel, (int(x0), int(y0)))
    _prune_spurs(graph, spur_length_px)
    regions = _build_regions(graph, merge_length_px, skip_px=3.0, reach_px=12.0,
                             max_turn_rad=math.radians(max_turn_deg))
    paths = _walk_paths(graph, regions)
    paths.sort(key=lambda item: -polyline_length(item[1]))

    chosen: list[np.ndarray] = []
    claimed: set[int] = set()
    for edges, pts in paths:
        if len(chosen) == max_wires:
            break
        if polyline_length(pts) < min_length_px:
            break
        new = sum(graph.edges[e].length for e in set(edges) - claimed)
        if new < min_length_px:
            continue
        chosen.append(pts)
        claimed.update(edges)
    if not chosen:
        return []

    finished = []
    reach = max(spur_length_px, 6.0)
    for pts in chosen:
        pts = _resample(pts, 1.0)
        if smooth_sigma_px > 0 and len(pts) > 3:
            sm = gaussian_filter1d(pts, smooth_sigma_px, axis=0, mode="nearest")
            sm[0], sm[-1] = pts[0], pts[-1]
            pts = sm
        pts = _extend_to_mask_edge(pts, binary, reach)
        pts = _extend_to_mask_edge(pts[::-1], binary, reach)[::-1]
        finished.append(_resample(pts, 1.0))
    finished = _orient(finished, binary.shape, border_px)

    out = []
    for pts in finished:
        if probability is None:
            mean_p = 1.0
        else:
            samples = map_coordinates(np.asarray(probability, dtype=np.float32), [pts[:, 1], pts[:, 0]],
                                      order=1, mode="nearest")
            mean_p = float(np.mean(samples))
        out.append(Centreline.from_points(pts, mean_p))
    return out
