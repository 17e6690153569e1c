"""`pipe graph` (tree, mermaid, dot, json) and `pipe list` (SPEC section 4)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

FAN = """
    name: fan
    description: Fan out and in
    schedule: "0 6 * * *"
    timezone: Europe/Amsterdam
    tasks:
      extract:
        run: echo extract
      left:
        run: echo left
        deps: [extract]
      right:
        python: mod:fn
        deps: [extract]
      other:
        run: echo other
      join:
        run: echo join
        deps: [left, right, other]
"""
EDGES = {("extract", "left"), ("extract", "right"), ("left", "join"), ("right", "join"), ("other", "join")}

ADHOC = """
    description: No schedule
    tasks:
      only:
        run: echo hello
"""


@pytest.fixture
def fan(write_pipeline):
    path = write_pipeline("fan", FAN)
    (path.parent / "mod.py").write_text("def fn():\n    return {}\n")     # validation reads `right`'s module
    return path


def test_graph_tree(project, pipe, fan):
    r = pipe("graph", "fan")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "fan (5 tasks)"
    # roots come first, at the left margin, in declaration order
    roots = [line for line in lines[1:] if not line.startswith((" ", "│", "├", "└"))]
    assert roots == ["extract", "other"]
    # fan-out: extract's children are shown under it
    i = lines.index("extract")
    assert lines[i + 1].startswith("├── left")
    assert any(re.match(r"^└── right", line) for line in lines[i + 1:])
    # fan-in: join appears once in full, noting its other parents; elsewhere "(see above)"
    full = [line for line in lines if re.search(r"join\b(?! \(see above\))", line)]
    assert len(full) == 1
    assert "also after right, other" in full[0]
    assert sum("join (see above)" in line for line in lines) == 2
    assert r.stderr == ""


def test_graph_mermaid(project, pipe, fan):
    r = pipe("graph", "fan", "--format", "mermaid")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("flowchart")
    labels = dict(re.findall(r'^\s*(\w+)\["([^"]+)"\]', r.stdout, re.M))
    assert sorted(labels.values()) == sorted(["extract", "left", "right", "other", "join"])
    edges = re.findall(r"^\s*(\w+) --> (\w+)\s*$", r.stdout, re.M)
    assert r.stdout.count("-->") == len(EDGES)
    assert {(labels[a], labels[b]) for a, b in edges} == EDGES


def test_graph_dot(project, pipe, fan):
    r = pipe("graph", "fan", "--format", "dot")
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert text.lstrip().startswith("digraph")
    assert text.count("{") == text.count("}") and text.count("{") >= 1
    assert text.rstrip().endswith("}")
    assert text.count("->") == len(EDGES)
    edges = set(re.findall(r'"([^"]+)"\s*->\s*"([^"]+)"', text))
    assert edges == EDGES


def test_graph_dot_renders_with_graphviz(project, pipe, fan):
    if shutil.which("dot") is None:
        pytest.skip("graphviz `dot` is not installed")
    r = pipe("graph", "fan", "--format", "dot")
    out = subprocess.run(["dot", "-Tsvg"], input=r.stdout, text=True, capture_output=True)
    assert out.returncode == 0, out.stderr
    assert "<svg" in out.stdout


def test_graph_json(project, pipe, fan):
    r = pipe("graph", "fan", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["pipeline"] == "fan"
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert list(nodes) == ["extract", "left", "right", "other", "join"]
    assert nodes["join"]["deps"] == ["left", "right", "other"]
    assert nodes["right"]["kind"] == "python" and nodes["left"]["kind"] == "command"
    assert {tuple(e) for e in doc["edges"]} == EDGES
    assert len(doc["edges"]) == len(EDGES)


def test_graph_every_pipeline(project, pipe, fan, write_pipeline):
    write_pipeline("adhoc", ADHOC)
    r = pipe("graph")
    assert r.returncode == 0, r.stderr
    assert "fan (5 tasks)" in r.stdout
    assert "adhoc (1 task" in r.stdout
    r = pipe("graph", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert sorted(p["pipeline"] for p in doc["pipelines"]) == ["adhoc", "fan"]
    r = pipe("graph", "--format", "mermaid")
    assert r.stdout.count("flowchart") == 1 and r.stdout.count("  subgraph ") == 2    # one document (issue 15)


def test_graph_bad_format_and_invalid_file(project, pipe, fan, write_pipeline):
    r = pipe("graph", "fan", "--format", "png")
    assert r.returncode == 2
    assert "--format" in r.stderr and "Traceback" not in r.stderr
    write_pipeline("bad", "tasks:\n  a:\n    run: echo\n    deps: [a]\n")
    r = pipe("graph", "bad")
    assert r.returncode == 2
    assert r.stderr.startswith("pipelines/bad.yaml:4:12: task 'a' depends on itself")


def test_graph_10000_tasks(project, pipe, write_pipeline):
    n = 10_000
    lines = ["name: big", "tasks:"]
    for i in range(n):
        lines.append(f"  t{i}:")
        lines.append(f"    run: echo {i}")
        if i:
            deps = sorted({(i - 1), (i * 7919) % i})
            lines.append(f"    deps: [{', '.join(f't{d}' for d in deps)}]")
    write_pipeline("big", "\n".join(lines) + "\n")
    r = pipe("validate", "big", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ok (big, 10000 tasks)" in r.stdout
    r = pipe("graph", "big", "--format", "json", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert len(doc["nodes"]) == n
    assert len(doc["edges"]) >= n - 1


def _rows(pipe):
    r = pipe("list", "--json")
    assert r.returncode == 0, r.stderr
    return {row["name"]: row for row in json.loads(r.stdout)["pipelines"]}


def test_list_json(project, pipe, fan, write_pipeline):
    write_pipeline("adhoc", ADHOC)
    before = datetime.now(timezone.utc)
    rows = _rows(pipe)
    assert set(rows) == {"fan", "adhoc"}
    fan_row = rows["fan"]
    assert fan_row["description"] == "Fan out and in"
    assert fan_row["schedule"] == "0 6 * * *"
    assert fan_row["tasks"] == 5
    due = datetime.fromisoformat(fan_row["next_due"])
    # With no history tick runs the latest ended interval now, so "due" may be just past.
    assert due.tzinfo is not None and abs((due - before).total_seconds()) <= 86400 + 60
    local = due.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert (local.hour, local.minute) == (6, 0)
    adhoc = rows["adhoc"]
    assert adhoc["tasks"] == 1 and adhoc["description"] == "No schedule"
    assert not adhoc.get("schedule") and not adhoc.get("next_due")
    assert "last_state" not in adhoc or adhoc["last_state"] is None


def test_list_table(project, pipe, fan, write_pipeline):
    write_pipeline("adhoc", ADHOC)
    r = pipe("list")
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout
    lines = r.stdout.splitlines()
    fan_line = next(line for line in lines if line.startswith("fan"))
    assert "every day at 06:00" in fan_line and "Fan out and in" in fan_line
    assert re.search(r"\d{4}-\d\d-\d\dT06:00:00\+0[12]:00", fan_line)
    adhoc_line = next(line for line in lines if line.startswith("adhoc"))
    assert "No schedule" in adhoc_line


def test_list_after_run_shows_last_state(project, pipe, write_pipeline):
    write_pipeline("adhoc", ADHOC)
    write_pipeline("failing", "tasks:\n  boom:\n    run: exit 3\n")
    assert pipe("run", "adhoc").returncode == 0
    assert pipe("run", "failing").returncode == 1
    rows = _rows(pipe)
    assert rows["adhoc"]["last_state"] == "succeeded"
    assert rows["failing"]["last_state"] == "failed"
    assert rows["adhoc"]["last_run"]
    r = pipe("list")
    adhoc_line = next(line for line in r.stdout.splitlines() if line.startswith("adhoc"))
    assert "succeeded" in adhoc_line


def test_list_with_invalid_file(project, pipe, fan, write_pipeline):
    write_pipeline("bad", "tasks:\n  a:\n    run: echo\n    deps: [zz]\n")
    r = pipe("list", "--json")
    assert r.returncode == 2
    rows = {row["name"]: row for row in json.loads(r.stdout)["pipelines"]}
    assert rows["bad"]["valid"] is False and rows["fan"]["valid"] is True
    assert "pipelines/bad.yaml:4:12:" in r.stderr and "Traceback" not in r.stderr
