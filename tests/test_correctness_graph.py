"""Issue 15 item 10: `pipe graph` of every pipeline is one valid Mermaid or Graphviz document."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest


@pytest.fixture
def three(write_pipeline):
    write_pipeline("alpha", "tasks:\n  a:\n    run: echo\n  end:\n    run: echo\n    deps: [a]\n")
    write_pipeline("beta", "tasks:\n  a:\n    run: echo\n  b:\n    run: echo\n    deps: [a]\n")
    write_pipeline("gamma", "name: gamma\ntasks:\n  x:\n    run: echo\n")


def test_mermaid_of_every_pipeline_is_one_flowchart_of_subgraphs(pipe, three):
    r = pipe("graph", "--format", "mermaid")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "flowchart LR" and sum(line.startswith("flowchart") for line in lines) == 1
    # Each line is a subgraph header, its end, a node or an edge; subgraphs balance.
    depth, titles, nodes, edges = 0, [], {}, []
    for line in lines[1:]:
        if m := re.fullmatch(r'  subgraph (\w+)\["([\w-]+)"\]', line):
            depth += 1
            titles.append(m[2])
        elif line == "  end":
            depth -= 1
        elif m := re.fullmatch(r'    (\w+)\["([\w-]+)"\]', line):
            assert m[1] not in nodes            # node ids are unique across pipelines
            nodes[m[1]] = (titles[-1], m[2])
        elif m := re.fullmatch(r"    (\w+) --> (\w+)", line):
            edges.append((nodes[m[1]], nodes[m[2]]))
        else:
            pytest.fail(f"unexpected line {line!r}")
        assert depth in (0, 1)
    assert depth == 0 and titles == ["alpha", "beta", "gamma"]
    assert sorted(edges) == [(("alpha", "a"), ("alpha", "end")), (("beta", "a"), ("beta", "b"))]


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_dot_of_every_pipeline_is_one_graph_that_graphviz_draws_as_valid_svg(pipe, three):
    r = pipe("graph", "--format", "dot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("digraph") == 1
    out = subprocess.run(["dot", "-Tsvg"], input=r.stdout, text=True, capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    svg = ET.fromstring(out.stdout)          # one XML document (several graphs made invalid XML)
    ns = {"svg": "http://www.w3.org/2000/svg"}
    clusters = [g.find("svg:text", ns).text for g in svg.iter(f"{{{ns['svg']}}}g") if g.get("class") == "cluster"]
    assert clusters == ["alpha", "beta", "gamma"]
    nodes = [g.find("svg:text", ns).text for g in svg.iter(f"{{{ns['svg']}}}g") if g.get("class") == "node"]
    assert sorted(nodes) == ["a", "a", "b", "end", "x"]
    assert sum(1 for g in svg.iter(f"{{{ns['svg']}}}g") if g.get("class") == "edge") == 2


def test_mermaid_warns_on_stderr_beyond_500_edges(pipe, write_pipeline):
    tasks = "".join(f"  t{i}:\n    run: echo\n" + (f"    deps: [t{i - 1}]\n" if i else "") for i in range(502))
    write_pipeline("long", "tasks:\n" + tasks)
    r = pipe("graph", "long", "--format", "mermaid")
    assert r.returncode == 0
    assert r.stdout.count("-->") == 501
    assert "warning: this graph has 501 edges; Mermaid draws at most 500 by default" in r.stderr
    assert pipe("graph", "long", "--format", "dot").stderr == ""


MERMAID_JS = os.environ.get("PIPE_TEST_MERMAID_JS", "")


@pytest.mark.skipif(not os.path.isfile(MERMAID_JS) or shutil.which("chromium") is None,
                    reason="set PIPE_TEST_MERMAID_JS to a mermaid.min.js (`npm pack mermaid@11`, package/dist/) "
                           "and install chromium to draw with the real Mermaid")
def test_real_mermaid_in_chromium_draws_every_pipeline_and_refuses_501_edges(pipe, three, write_pipeline):
    """Mermaid 11.17.2 in Debian's Chromium drew this; two flowcharts back to back were a parse error."""
    from playwright.sync_api import sync_playwright

    every = pipe("graph", "--format", "mermaid").stdout
    tasks = "".join(f"  t{i}:\n    run: echo\n" + (f"    deps: [t{i - 1}]\n" if i else "") for i in range(502))
    write_pipeline("long", "tasks:\n" + tasks)
    long = pipe("graph", "long", "--format", "mermaid").stdout
    draw = """async (t) => { try { await mermaid.render('g' + Math.floor(Math.random() * 1e9), t); return 'ok' }
                             catch (e) { return String(e.message || e) } }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_content("<html><body></body></html>")
            page.add_script_tag(path=MERMAID_JS)
            page.evaluate("mermaid.initialize({startOnLoad: false})")
            assert page.evaluate(draw, every) == "ok"
            assert "Edge limit exceeded" in page.evaluate(draw, long)
        finally:
            browser.close()
