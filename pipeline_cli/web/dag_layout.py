"""A layered (Sugiyama-style) layout of a DAG, computed on the server: pure, no I/O.

    layers     longest path from the sources: a task sits one layer below its deepest dependency
    dummies    an edge that spans several layers passes through one dummy point per layer
    ordering   barycenter sweeps, down then up, keeping the order with the fewest crossings
    folding    a layer of more than `wrap` boxes is folded into rows of `wrap`
    x          each node pulled towards the mean x of its neighbours, then spread apart
    y          one band per layer (several rows for a folded one)
    edges      points from centre to centre, crossing bands in the gaps between boxes

Layers run top to bottom (a phone is narrower than it is tall). The result is plain numbers;
pipeline_cli/web/svg.py turns it into SVG.
"""
from __future__ import annotations

from dataclasses import dataclass, field
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
    sizes = _Sizes(node_width, node_height, gap_x, gap_y, wrap)
    graph = _layered_graph(nodes, deps, layer)
    order, crossings = _order_by_barycenter(graph, sweeps)
    fold = _fold_wide_layers(order, wrap)
    x = _x_coordinates(order, graph, fold, sizes)
    y, band, bottom = _y_coordinates(order, fold, sizes)
    width = max((x[n] + sizes.width_of(n) / 2 for n in x), default=0.0)
    boxes = {n: NodeBox(n, layer[n], round(x[n], 1), round(y[n], 1)) for n in nodes}
    edges = [(a, b, _route_edge(a, b, dummies, layer, graph.layer_index, x, y, band, fold, sizes))
             for a, b, dummies in graph.chains]
    n_layers = len(order)
    return Layout(nodes=boxes, edges=edges, width=round(width, 1),
                  height=round(bottom if n_layers else 0, 1), layers=n_layers,
                  crossings=crossings, node_width=node_width, node_height=node_height)


_DUMMY_WIDTH = 8.0


def _is_dummy(n: str) -> bool:
    return n.startswith("\0")


@dataclass(frozen=True)
class _Sizes:
    """The sizes of a drawing: boxes, the gaps between them, and how many boxes make a row."""
    node_width: float
    node_height: float
    gap_x: float
    gap_y: float
    wrap: int

    @property
    def step(self) -> float:
        """From one column of a folded layer to the next."""
        return self.node_width + self.gap_x

    def width_of(self, n: str) -> float:
        return _DUMMY_WIDTH if _is_dummy(n) else self.node_width


@dataclass
class _Graph:
    """The layered graph: each layer's nodes and dummy points, and its edges between
    adjacent layers (`down` and `up`); `chains` are the real edges with the dummies they
    pass through, `layer_index` the layer of each dummy."""
    order: list[list[str]]
    down: dict[str, list[str]] = field(default_factory=dict)
    up: dict[str, list[str]] = field(default_factory=dict)
    chains: list[tuple[str, str, list[str]]] = field(default_factory=list)
    layer_index: dict[str, int] = field(default_factory=dict)


def _layered_graph(nodes: list[str], deps: Mapping[str, Iterable[str]], layer: dict[str, int]) -> _Graph:
    """Nodes grouped by layer (in declaration order); a long edge passes through dummy
    points, one per layer it crosses, so that every edge joins adjacent layers."""
    known = set(nodes)
    real_edges = [(d, n) for n in nodes for d in dict.fromkeys(deps.get(n, ()))
                  if d in known and d != n and layer[d] < layer[n]]
    n_layers = 1 + max(layer.values(), default=-1)
    graph = _Graph(order=[[] for _ in range(n_layers)])
    for n in nodes:
        graph.order[layer[n]].append(n)
    for a, b in real_edges:
        chain = [a]
        for k in range(layer[a] + 1, layer[b]):
            dummy = f"\0{a}\0{b}\0{k}"
            graph.order[k].append(dummy)
            graph.layer_index[dummy] = k
            chain.append(dummy)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            graph.down.setdefault(u, []).append(v)
            graph.up.setdefault(v, []).append(u)
        graph.chains.append((a, b, chain[1:-1]))
    return graph


def _positions(order: list[list[str]]) -> dict[str, int]:
    return {n: i for rank in order for i, n in enumerate(rank)}


def _order_by_barycenter(graph: _Graph, sweeps: int) -> tuple[list[list[str]], int]:
    """The order within each layer with the fewest crossings found by `sweeps` barycenter
    sweeps (down, then up, alternately), and its number of crossings. A graph of more than
    20,000 points is left in declaration order (its crossings are not counted: 0)."""
    order = graph.order
    n_layers = len(order)
    pos = _positions(order)
    best = [list(r) for r in order]
    best_cross = _crossings(order, graph.down, pos) if len(pos) <= 20000 else 0
    for sweep in range(sweeps if best_cross else 0):
        rng = range(1, n_layers) if sweep % 2 == 0 else range(n_layers - 2, -1, -1)
        neighbours = graph.up if sweep % 2 == 0 else graph.down
        for k in rng:
            order[k] = _by_barycenter(order[k], neighbours, pos)
            for i, n in enumerate(order[k]):
                pos[n] = i
        cross = _crossings(order, graph.down, pos)
        if cross < best_cross:
            best, best_cross = [list(r) for r in order], cross
        if cross == 0:
            break
    return best, best_cross


def _by_barycenter(rank: list[str], neighbours: dict[str, list[str]], pos: dict[str, int]) -> list[str]:
    """`rank` sorted by the mean position of each node's neighbours in the adjacent layer
    (a node without neighbours keeps its index; ties keep the current order)."""
    def key(item: tuple[int, str]) -> tuple[float, int]:
        i, n = item
        ns = neighbours.get(n)
        return (sum(pos[m] for m in ns) / len(ns) if ns else i, i)

    return [n for _, n in sorted(enumerate(rank), key=key)]


@dataclass
class _Fold:
    """Which layers are folded into rows (those of more than `wrap` real nodes): each
    layer's real nodes, and a folded layer's node's place in its grid (`slot`)."""
    wrap: int
    reals_of: list[list[str]]
    wrapped: set[int]
    slot: dict[str, int]

    def rows_of(self, k: int) -> int:
        return -(-len(self.reals_of[k]) // self.wrap) if k in self.wrapped else 1


def _fold_wide_layers(order: list[list[str]], wrap: int) -> _Fold:
    """Fold each layer of more than `wrap` real nodes into rows of `wrap`, in its order."""
    reals_of = [[n for n in rank if not _is_dummy(n)] for rank in order]
    wrapped = {k for k, reals in enumerate(reals_of) if len(reals) > wrap}
    slot = {n: i for k in wrapped for i, n in enumerate(reals_of[k])}
    return _Fold(wrap, reals_of, wrapped, slot)


def _x_coordinates(order: list[list[str]], graph: _Graph, fold: _Fold, sizes: _Sizes) -> dict[str, float]:
    """Each point's x (centre): from its index, the folded layers on their grid, the others
    pulled towards their neighbours twice (down, then up), then all moved so the leftmost
    box touches 0."""
    x = _x_by_index(order, sizes)
    _x_of_folded_layers(x, order, fold, sizes)
    for _ in range(2):
        for k in range(1, len(order)):
            if k not in fold.wrapped:
                _pull_towards(x, order[k], graph.up, sizes)
        for k in range(len(order) - 2, -1, -1):
            if k not in fold.wrapped:
                _pull_towards(x, order[k], graph.down, sizes)
    left = min((x[n] - sizes.width_of(n) / 2 for n in x), default=0.0)
    for n in x:
        x[n] -= left
    return x


def _x_by_index(order: list[list[str]], sizes: _Sizes) -> dict[str, float]:
    """The starting x: each layer's points side by side in their order, centred on the widest layer."""
    x: dict[str, float] = {}
    for rank in order:
        cursor = 0.0
        for n in rank:
            w = sizes.width_of(n)
            x[n] = cursor + w / 2
            cursor += w + sizes.gap_x
    widest = max((sum(sizes.width_of(n) + sizes.gap_x for n in r) for r in order), default=0.0)
    for rank in order:
        used = sum(sizes.width_of(n) + sizes.gap_x for n in rank)
        shift = (widest - used) / 2
        for n in rank:
            x[n] += shift
    return x


def _x_of_folded_layers(x: dict[str, float], order: list[list[str]], fold: _Fold, sizes: _Sizes) -> None:
    """A folded layer's boxes on a grid of `wrap` columns; the long edges that cross it run
    in the gaps between its columns."""
    for k in fold.wrapped:
        for i, n in enumerate(fold.reals_of[k]):
            x[n] = (i % fold.wrap) * sizes.step + sizes.node_width / 2
        for j, n in enumerate(n for n in order[k] if _is_dummy(n)):
            x[n] = (j % fold.wrap) * sizes.step + sizes.node_width + sizes.gap_x / 2


def _pull_towards(x: dict[str, float], rank: list[str], neighbours: dict[str, list[str]], sizes: _Sizes) -> None:
    """Move each point of `rank` towards the mean x of its `neighbours`, keeping the order
    and a gap between boxes, then move the whole rank left by its mean overshoot."""
    if not rank:
        return
    want = [sum(x[m] for m in neighbours[n]) / len(neighbours[n]) if neighbours.get(n) else x[n] for n in rank]
    placed: list[float] = []
    for i, n in enumerate(rank):
        lo = placed[-1] + (sizes.width_of(rank[i - 1]) + sizes.width_of(n)) / 2 + sizes.gap_x if i else float("-inf")
        placed.append(max(want[i], lo))
    excess = sum(p - w for p, w in zip(placed, want)) / len(rank)
    for n, p in zip(rank, placed):
        x[n] = p - excess


def _y_coordinates(order: list[list[str]], fold: _Fold,
                   sizes: _Sizes) -> tuple[dict[str, float], list[tuple[float, float]], float]:
    """Each point's y (centre), each layer's band (top, bottom), and the bottom of the last
    band. A layer is a band of one row of boxes, or of several rows when it is folded."""
    y: dict[str, float] = {}
    band: list[tuple[float, float]] = []
    top = 0.0
    for k, rank in enumerate(order):
        bottom = top + fold.rows_of(k) * (sizes.node_height + sizes.gap_x) - sizes.gap_x
        band.append((top, bottom))
        for n in rank:
            sub = fold.slot[n] // fold.wrap if n in fold.slot else 0
            y[n] = top + sizes.node_height / 2 + sub * (sizes.node_height + sizes.gap_x)
        top = bottom + sizes.gap_y
    return y, band, top - sizes.gap_y


def _route_edge(a: str, b: str, dummies: list[str], layer: dict[str, int], layer_index: dict[str, int],
                x: dict[str, float], y: dict[str, float], band: list[tuple[float, float]], fold: _Fold,
                sizes: _Sizes) -> list[tuple[float, float]]:
    """The points of the edge a -> b, from centre to centre. Every piece either crosses the
    gap between two bands, or runs straight down inside a band (a dummy's place, or the gap
    beside a folded layer's column)."""
    ka, kb = layer[a], layer[b]
    half = sizes.node_height / 2
    points = [(x[a], y[a])]
    if a in fold.slot and fold.slot[a] // fold.wrap < fold.rows_of(ka) - 1:
        gx = x[a] + sizes.step / 2
        points += [(gx, y[a] + half + sizes.gap_x / 2), (gx, band[ka][1])]
    for d in dummies:
        k = layer_index[d]
        points += [(x[d], band[k][0]), (x[d], band[k][1])]
    if b in fold.slot and fold.slot[b] // fold.wrap > 0:
        gx = x[b] + sizes.step / 2
        points += [(gx, band[kb][0]), (gx, y[b] - half - sizes.gap_x / 2)]
    points.append((x[b], y[b]))
    return [(round(px, 1), round(py, 1)) for px, py in points]


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
