"""A layered (Sugiyama-style) layout of a DAG, computed on the server: pure, no I/O.

    layers     longest path from the sources: a task sits one layer below its deepest dependency
    dummies    an edge that spans several layers passes through one dummy point per layer
    ordering   barycenter sweeps, down then up, keeping the order with the fewest crossings
    x          each node pulled towards the mean x of its neighbours, then spread apart

Layers run top to bottom (a phone is narrower than it is tall). The result is plain numbers;
pipeline_cli/web/svg.py turns it into SVG.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence


@dataclass(frozen=True)
class NodeBox:
    id: str
    layer: int
    x: float          # centre
    y: float          # centre


@dataclass
class Layout:
    nodes: dict[str, NodeBox]
    edges: list[tuple[str, str, list[tuple[float, float]]]]   # (from, to, points from centre to centre)
    width: float
    height: float
    layers: int
    crossings: int = 0
    node_width: float = 0
    node_height: float = 0


def layer_of(nodes: Sequence[str], deps: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Longest-path layering: 0 for a task without dependencies, else 1 + its deepest dependency.

    Dependencies on names that are not nodes are ignored; a cycle (never in a valid pipeline)
    is broken by treating the back edge as absent, so a layout is always produced.
    """
    known = set(nodes)
    parents = {n: [d for d in dict.fromkeys(deps.get(n, ())) if d in known and d != n] for n in nodes}
    layer: dict[str, int] = {}
    state: dict[str, int] = {}    # 1: on the stack, 2: done
    for root in nodes:
        if root in state:
            continue
        stack = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack[-1]
            ps = parents[node]
            if i < len(ps):
                stack[-1] = (node, i + 1)
                p = ps[i]
                if p not in state:
                    state[p] = 1
                    stack.append((p, 0))
                continue
            stack.pop()
            state[node] = 2
            layer[node] = 1 + max((layer[p] for p in ps if state.get(p) == 2 and p in layer), default=-1)
    return layer


def _crossings(order: list[list[str]], down: dict[str, list[str]], pos: dict[str, int]) -> int:
    total = 0
    for rank in order[:-1]:
        pairs = sorted((pos[u], pos[v]) for u in rank for v in down.get(u, ()))
        # Count inversions of the targets (merge sort): edges (a,b),(c,d) cross when a<c and b>d.
        targets = [b for _, b in pairs]
        total += _inversions(targets)
    return total


def _inversions(a: list[int]) -> int:
    if len(a) < 2:
        return 0
    mid = len(a) // 2
    left, right = a[:mid], a[mid:]
    count = _inversions(left) + _inversions(right)
    i = j = k = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            a[k] = left[i]
            i += 1
        else:
            a[k] = right[j]
            count += len(left) - i
            j += 1
        k += 1
    a[k:] = left[i:] + right[j:]
    return count


def layout(nodes: Sequence[str], deps: Mapping[str, Iterable[str]], *, node_width: float = 170,
           node_height: float = 44, gap_x: float = 24, gap_y: float = 56, sweeps: int = 8, wrap: int = 12) -> Layout:
    """Place `nodes` (in declaration order) given `deps` (node -> the nodes it depends on).

    A layer of more than `wrap` boxes (500 independent tasks) is folded into rows of `wrap`,
    so that a wide pipeline stays a readable block rather than a strip of 100,000 pixels.
    """
    nodes = list(dict.fromkeys(nodes))
    layer = layer_of(nodes, deps)
    known = set(nodes)
    real_edges = [(d, n) for n in nodes for d in dict.fromkeys(deps.get(n, ()))
                  if d in known and d != n and layer[d] < layer[n]]
    n_layers = 1 + max(layer.values(), default=-1)
    order: list[list[str]] = [[] for _ in range(n_layers)]
    for n in nodes:
        order[layer[n]].append(n)
    # Long edges pass through dummy points, one per layer they cross.
    down: dict[str, list[str]] = {}
    up: dict[str, list[str]] = {}
    chains: list[tuple[str, str, list[str]]] = []
    layer_index: dict[str, int] = {}
    for a, b in real_edges:
        chain = [a]
        for k in range(layer[a] + 1, layer[b]):
            dummy = f"\0{a}\0{b}\0{k}"
            order[k].append(dummy)
            layer_index[dummy] = k
            chain.append(dummy)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            down.setdefault(u, []).append(v)
            up.setdefault(v, []).append(u)
        chains.append((a, b, chain[1:-1]))

    def positions() -> dict[str, int]:
        return {n: i for rank in order for i, n in enumerate(rank)}

    pos = positions()
    best = [list(r) for r in order]
    best_cross = _crossings(order, down, pos) if len(pos) <= 20000 else 0
    for sweep in range(sweeps if best_cross else 0):
        rng = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        neighbours = up if sweep % 2 == 0 else down
        for k in rng:
            def key(item: tuple[int, str]) -> tuple[float, int]:
                i, n = item
                ns = neighbours.get(n)
                return (sum(pos[m] for m in ns) / len(ns) if ns else i, i)
            order[k] = [n for _, n in sorted(enumerate(order[k]), key=key)]
            for i, n in enumerate(order[k]):
                pos[n] = i
        cross = _crossings(order, down, pos)
        if cross < best_cross:
            best, best_cross = [list(r) for r in order], cross
        if cross == 0:
            break
    order = best
    pos = positions()

    # x: start from the index; then each layer (down, then up) is pulled towards its
    # neighbours' mean x and spread so that no two boxes overlap.
    dummy_w = 8.0

    def width_of(n: str) -> float:
        return dummy_w if n.startswith("\0") else node_width

    x: dict[str, float] = {}
    for rank in order:
        cursor = 0.0
        for n in rank:
            w = width_of(n)
            x[n] = cursor + w / 2
            cursor += w + gap_x
    widest = max((sum(width_of(n) + gap_x for n in r) for r in order), default=0.0)
    for rank in order:
        used = sum(width_of(n) + gap_x for n in rank)
        shift = (widest - used) / 2
        for n in rank:
            x[n] += shift

    def place(rank: list[str], neighbours: dict[str, list[str]]) -> None:
        if not rank:
            return
        want = [sum(x[m] for m in neighbours[n]) / len(neighbours[n]) if neighbours.get(n) else x[n] for n in rank]
        placed: list[float] = []
        for i, n in enumerate(rank):
            lo = placed[-1] + (width_of(rank[i - 1]) + width_of(n)) / 2 + gap_x if i else float("-inf")
            placed.append(max(want[i], lo))
        # Spread the overshoot back: move the whole rank left by its mean excess.
        excess = sum(p - w for p, w in zip(placed, want)) / len(rank)
        for n, p in zip(rank, placed):
            x[n] = p - excess

    step = node_width + gap_x
    reals_of = [[n for n in rank if not n.startswith("\0")] for rank in order]
    wrapped = {k for k, reals in enumerate(reals_of) if len(reals) > wrap}
    slot: dict[str, int] = {}                   # a wrapped layer's node: its place in the grid
    for k in wrapped:
        for i, n in enumerate(reals_of[k]):
            slot[n] = i
            x[n] = (i % wrap) * step + node_width / 2
        # Long edges cross a wrapped layer in the gaps between its columns.
        for j, n in enumerate(n for n in order[k] if n.startswith("\0")):
            x[n] = (j % wrap) * step + node_width + gap_x / 2
    for _ in range(2):
        for k in range(1, n_layers):
            if k not in wrapped:
                place(order[k], up)
        for k in range(n_layers - 2, -1, -1):
            if k not in wrapped:
                place(order[k], down)
    left = min((x[n] - width_of(n) / 2 for n in x), default=0.0)
    for n in x:
        x[n] -= left
    # y: a layer is a band of one row of boxes, or of several rows when it is wrapped.
    y: dict[str, float] = {}
    band: list[tuple[float, float]] = []
    top = 0.0
    for k, rank in enumerate(order):
        rows = -(-len(reals_of[k]) // wrap) if k in wrapped else 1
        bottom = top + rows * (node_height + gap_x) - gap_x
        band.append((top, bottom))
        for n in rank:
            sub = slot[n] // wrap if n in slot else 0
            y[n] = top + node_height / 2 + sub * (node_height + gap_x)
        top = bottom + gap_y
    width = max((x[n] + width_of(n) / 2 for n in x), default=0.0)
    boxes = {n: NodeBox(n, layer[n], round(x[n], 1), round(y[n], 1)) for n in nodes}
    half = node_height / 2

    def rows_of(k: int) -> int:
        return -(-len(reals_of[k]) // wrap) if k in wrapped else 1

    edges = []
    for a, b, dummies in chains:
        # Every piece of an edge either crosses the gap between two bands, or runs straight
        # down inside a band (a dummy's place, or the gap beside a wrapped layer's column).
        ka, kb = layer[a], layer[b]
        points = [(x[a], y[a])]
        if a in slot and slot[a] // wrap < rows_of(ka) - 1:
            gx = x[a] + step / 2
            points += [(gx, y[a] + half + gap_x / 2), (gx, band[ka][1])]
        for d in dummies:
            k = layer_index[d]
            points += [(x[d], band[k][0]), (x[d], band[k][1])]
        if b in slot and slot[b] // wrap > 0:
            gx = x[b] + step / 2
            points += [(gx, band[kb][0]), (gx, y[b] - half - gap_x / 2)]
        points.append((x[b], y[b]))
        edges.append((a, b, [(round(px, 1), round(py, 1)) for px, py in points]))
    return Layout(nodes=boxes, edges=edges, width=round(width, 1),
                  height=round(top - gap_y if n_layers else 0, 1), layers=n_layers,
                  crossings=best_cross, node_width=node_width, node_height=node_height)


def curves(lay: Layout, points: list[tuple[float, float]]) -> list[tuple[tuple[float, float], ...]]:
    """An edge as drawn: cubic Béziers (start, control, control, end) from the bottom of its
    first box to the top of its last, leaving and arriving vertically."""
    half = lay.node_height / 2
    (x0, y0), (x1, y1) = points[0], points[-1]
    pts = [(x0, y0 + half)] + list(points[1:-1]) + [(x1, y1 - half)]
    out = []
    for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
        my = round((ya + yb) / 2, 1)
        out.append(((xa, ya), (xa, my), (xb, my), (xb, yb)))
    return out
