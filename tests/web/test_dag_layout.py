"""The server-side DAG layout (pipeline_cli/web/dag_layout.py): pure, in-process."""
from __future__ import annotations

import random

import pytest

from pipeline_cli.web.dag_layout import _inversions, curves, layer_of, layout

UMBRELLA = {"fetch_weather": [], "clean_weather": ["fetch_weather"], "fetch_sales": [],
            "clean_sales": ["fetch_sales"], "join": ["clean_weather", "clean_sales"], "train": ["join"],
            "evaluate": ["train", "join"], "deploy": ["evaluate"]}


def check(lay, deps):
    """What every layout must satisfy: every node placed once, below all its dependencies,
    no two boxes overlapping, everything inside the drawing, every edge drawn."""
    boxes = list(lay.nodes.values())
    assert sorted(lay.nodes) == sorted(deps)
    for n, ds in deps.items():
        for d in ds:
            assert lay.nodes[d].layer < lay.nodes[n].layer
            assert lay.nodes[d].y < lay.nodes[n].y
    w, h = lay.node_width, lay.node_height
    for i, a in enumerate(boxes):
        assert w / 2 - 0.1 <= a.x <= lay.width - w / 2 + 0.1
        assert h / 2 - 0.1 <= a.y <= lay.height - h / 2 + 0.1
        for b in boxes[i + 1:]:
            assert abs(a.x - b.x) >= w - 0.1 or abs(a.y - b.y) >= h - 0.1, (a, b)
    rows: dict[float, list] = {}
    for box in boxes:
        rows.setdefault(box.y, []).append(box)
    drawn = {(a, b) for a, b, _ in lay.edges}
    assert drawn == {(d, n) for n, ds in deps.items() for d in ds}
    for a, b, points in lay.edges:
        assert points[0] == (lay.nodes[a].x, lay.nodes[a].y) and points[-1] == (lay.nodes[b].x, lay.nodes[b].y)
        # No edge, as drawn, passes under a box other than its own two: a reader could
        # not tell where it goes.
        for p0, c1, c2, p3 in curves(lay, points):
            for i in range(1, 16):
                t = i / 16
                px = sum(c * k for c, k in zip((p0[0], c1[0], c2[0], p3[0]), _bernstein(t)))
                py = sum(c * k for c, k in zip((p0[1], c1[1], c2[1], p3[1]), _bernstein(t)))
                hit = [n.id for row_y, row in rows.items() if abs(py - row_y) < h / 2 - 1
                       for n in row if abs(px - n.x) < w / 2 - 1 and n.id not in (a, b)]
                assert not hit, (a, b, hit, (px, py))


def _bernstein(t):
    return ((1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3)


def test_umbrella_is_layered_by_longest_path_without_crossings():
    lay = layout(list(UMBRELLA), UMBRELLA)
    check(lay, UMBRELLA)
    assert {n: b.layer for n, b in lay.nodes.items()} == {
        "fetch_weather": 0, "fetch_sales": 0, "clean_weather": 1, "clean_sales": 1, "join": 2, "train": 3,
        "evaluate": 4, "deploy": 5}
    assert lay.crossings == 0
    assert lay.layers == 6


def test_layer_of_ignores_unknown_dependencies_and_breaks_cycles():
    assert layer_of(["a", "b"], {"b": ["a", "ghost"]}) == {"a": 0, "b": 1}
    cyclic = layer_of(["a", "b", "c"], {"a": ["c"], "b": ["a"], "c": ["b"]})
    assert sorted(cyclic) == ["a", "b", "c"]           # a layout, whatever edge is dropped


def test_barycenter_ordering_removes_the_crossings_of_declaration_order():
    # Declared so that the first order crosses: a->y, b->x with x declared before y.
    deps = {"a": [], "b": [], "x": ["b"], "y": ["a"]}
    lay = layout(["a", "b", "x", "y"], deps)
    check(lay, deps)
    assert lay.crossings == 0
    assert (lay.nodes["a"].x < lay.nodes["b"].x) == (lay.nodes["y"].x < lay.nodes["x"].x)


def test_a_wide_layer_is_folded_into_rows():
    deps = {"root": [], **{f"t{i}": ["root"] for i in range(500)}, "end": [f"t{i}" for i in range(500)]}
    lay = layout(list(deps), deps, wrap=12)
    check(lay, deps)
    assert lay.width <= 12 * (lay.node_width + 24) + 24
    assert len({b.y for b in lay.nodes.values() if b.layer == 1}) == -(-500 // 12)


def test_chains_through_wrapped_layers_never_pass_under_a_box():
    deps = {}
    for c in range(20):
        for k in range(6):
            deps[f"c{c}_{k}"] = [f"c{c}_{k - 1}"] if k else []
    deps["end"] = [f"c{c}_5" for c in range(20)]
    deps["late"] = ["c0_0"]                 # a long edge across wrapped layers
    deps["after"] = ["late", "end"]
    check(layout(list(deps), deps, wrap=12), deps)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_dags_of_500_tasks(seed):
    rng = random.Random(seed)
    nodes = [f"t{i}" for i in range(500)]
    deps = {n: rng.sample(nodes[:i], min(i, rng.randint(0, 3))) for i, n in enumerate(nodes)}
    lay = layout(nodes, deps)
    check(lay, deps)
    assert layout(nodes, deps) == lay                  # deterministic


def test_empty_and_single():
    assert layout([], {}).nodes == {}
    lay = layout(["only"], {})
    assert lay.nodes["only"].layer == 0 and lay.edges == []


def test_inversions_counts_crossing_pairs():
    assert _inversions([0, 1, 2]) == 0
    assert _inversions([2, 1, 0]) == 3
    assert _inversions([1, 0, 1, 0]) == 3
