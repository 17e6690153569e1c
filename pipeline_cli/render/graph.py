"""Task graphs: a tree for people, and one Mermaid, Graphviz dot or JSON document."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model import Pipeline


MERMAID_MAX_EDGES = 500          # Mermaid's default `maxEdges`: more is "Too many edges"


MERMAID_MAX_TEXT = 50_000        # its default `maxTextSize`: more is "Maximum text size in diagram exceeded"


def graph_mermaid(pipelines: list[Pipeline]) -> str:
    """One Mermaid flowchart: a single pipeline as it is, several as one subgraph each."""
    lines = ["flowchart LR"]
    many = len(pipelines) > 1
    for k, p in enumerate(pipelines):
        prefix = f"p{k}n" if many else "n"
        ids = {tid: f"{prefix}{i}" for i, tid in enumerate(p.tasks)}
        indent = "    " if many else "  "
        if many:
            lines.append(f'  subgraph p{k}["{p.name}"]')
        for tid in p.tasks:
            lines.append(f'{indent}{ids[tid]}["{tid}"]')      # ids and names are [A-Za-z0-9_-]: nothing to escape
        for t in p.tasks.values():
            for d in t.deps:
                lines.append(f"{indent}{ids[d]} --> {ids[t.id]}")
        if many:
            lines.append("  end")
    return "\n".join(lines) + "\n"


def mermaid_limits(pipelines: list[Pipeline], text: str) -> list[str]:
    """Why Mermaid, with its default configuration, would refuse to draw this graph."""
    edges = sum(len(t.deps) for p in pipelines for t in p.tasks.values())
    why = []
    if edges > MERMAID_MAX_EDGES:
        why.append(f"this graph has {edges} edges; Mermaid draws at most {MERMAID_MAX_EDGES} by default "
                   "(raise `maxEdges` in mermaid.initialize(), or use --format dot)")
    if len(text) > MERMAID_MAX_TEXT:
        why.append(f"this graph is {len(text)} characters long; Mermaid reads at most {MERMAID_MAX_TEXT:,} by "
                   "default (raise `maxTextSize` in mermaid.initialize(), or use --format dot)")
    return why


def graph_dot(pipelines: list[Pipeline]) -> str:
    """One Graphviz digraph: a single pipeline as it is, several as one cluster each."""
    if len(pipelines) == 1:
        p = pipelines[0]
        lines = [f"digraph {_dot_quote(p.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
        lines += _dot_tasks(p, "  ", lambda tid: tid)
        lines.append("}")
        return "\n".join(lines) + "\n"
    lines = ['digraph "pipelines" {', "  rankdir=LR;", "  node [shape=box];"]
    for k, p in enumerate(pipelines):
        lines.append(f'  subgraph "cluster_{k}" {{')
        lines.append(f"    label={_dot_quote(p.name)};")
        lines += _dot_tasks(p, "    ", lambda tid, k=k: f"{k}/{tid}")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_tasks(p: Pipeline, indent: str, node_id) -> list[str]:
    """A pipeline's nodes (labelled with the task id where node_id changes it) and edges."""
    lines = []
    for tid in p.tasks:
        label = "" if node_id(tid) == tid else f" [label={_dot_quote(tid)}]"
        lines.append(f"{indent}{_dot_quote(node_id(tid))}{label};")
    for t in p.tasks.values():
        for d in t.deps:
            lines.append(f"{indent}{_dot_quote(node_id(d))} -> {_dot_quote(node_id(t.id))};")
    return lines


def graph_tree(p: Pipeline) -> str:
    """Roots first; each task under its first dependency, with a note where it also joins."""
    from ..dag import Dag

    dag = Dag(p)
    lines = [f"{p.name} ({len(p.tasks)} tasks)"]
    shown: set[str] = set()
    stack: list[tuple[str, str, str, str | None]] = []   # (task, its line's prefix, children's prefix, parent)
    for root in reversed(dag.roots()):
        stack.append((root, "", "", None))
    while stack:
        tid, head, body, parent = stack.pop()
        deps = p.tasks[tid].deps
        if tid in shown:
            lines.append(f"{head}{tid} (see above)")
            continue
        shown.add(tid)
        others = [d for d in deps if d != parent]
        note = f"  ← also after {', '.join(others)}" if parent is not None and others else ""
        lines.append(f"{head}{tid}{note}")
        children = dag.downstream[tid]
        for i, child in reversed(list(enumerate(children))):
            last = i == len(children) - 1
            stack.append((child, body + ("└── " if last else "├── "), body + ("    " if last else "│   "), tid))
    return "\n".join(lines) + "\n"
