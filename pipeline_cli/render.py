"""Everything pipe shows: run progress, summaries, tables, graphs, errors, JSON.

Rich is imported only where a terminal gets a live table or a styled table; plain output
(cron, CI, pipes) is plain text with no escape codes, and `--json` is one document.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from .model import FAILED, RETRYING, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED, Pipeline
from .state import RunView, TaskView

TAIL_LINES = 10
LIVE_ROWS = 18


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


def print_errors(lines: list[str], stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    for line in lines:
        stream.write(f"error: {line}\n" if not _located(line) else f"{line}\n")
    stream.flush()


def _located(line: str) -> bool:
    head = line.split(": ", 1)[0]
    return ":" in head and head.rsplit(":", 2)[-1].isdigit()


def json_out(doc: Any, stream: TextIO | None = None) -> None:
    """One JSON document: indented for a person on a terminal, on one line for a program
    (json's indenting encoder is pure Python: 0.1 s for a 10,000-task graph)."""
    stream = stream or sys.stdout
    indent = 2 if stream.isatty() else None
    stream.write(json.dumps(doc, indent=indent, default=str) + "\n")
    stream.flush()


# --- run progress -------------------------------------------------------------------------

class PlainReporter:
    """One line per state change, for cron, CI and pipes."""

    def __init__(self, stream: TextIO | None = None, prefix: bool = False):
        self.stream = stream or sys.stdout
        self.prefix = prefix

    def _line(self, run: RunView, text: str) -> None:
        now = datetime.now().astimezone().strftime("%H:%M:%S")
        who = f"{run.pipeline} " if self.prefix else ""
        self.stream.write(f"{now} {who}{text}\n")
        self.stream.flush()

    def run_started(self, run: RunView) -> None:
        self._line(run, f"run {run.run_id} started ({run.kind}, logical date {run.logical_date}, "
                        f"{len(run.selected)} tasks)")

    def task_changed(self, run: RunView, task: TaskView) -> None:
        parts = [f"{task.id} {task.state}"]
        if task.attempt and task.state in (RUNNING, RETRYING, SUCCEEDED, FAILED):
            parts.append(f"attempt {task.attempt}")
        if task.duration is not None and task.state != RUNNING:
            parts.append(fmt_duration(task.duration))
        if task.reason:
            parts.append(task.reason)
        self._line(run, " · ".join(parts))

    def run_finished(self, run: RunView) -> None:
        summary(run, self.stream)


class LiveReporter:
    """A live Rich table on a terminal: running and recent tasks, the rest counted."""

    def __init__(self):
        from rich.console import Console
        from rich.live import Live

        self.run: RunView | None = None
        self.recent: list[str] = []
        self.console = Console(highlight=False)
        # The table is built at each refresh (8 a second), not at each of a big run's
        # thousands of state changes.
        self.live = Live(console=self.console, refresh_per_second=8, transient=False, get_renderable=self._table)

    def run_started(self, run: RunView) -> None:
        self.run = run
        self.live.start()

    def task_changed(self, run: RunView, task: TaskView) -> None:
        if task.id in self.recent:
            self.recent.remove(task.id)
        self.recent.append(task.id)
        del self.recent[:-LIVE_ROWS * 4]

    def run_finished(self, run: RunView) -> None:
        self.live.stop()       # draws the final table
        summary(run, None, console=self.console)

    def _table(self):
        from rich.table import Table

        run = self.run
        if run is None:
            return ""
        table = Table(title=f"{run.pipeline} · {run.run_id} · {run.logical_date}", title_justify="left")
        for col in ("task", "state", "attempt", "duration", "reason"):
            table.add_column(col, no_wrap=col != "reason", overflow="ellipsis", max_width=60 if col == "reason" else None)
        tasks = run.tasks
        running = [t for t in tasks.values() if t.state in (RUNNING, RETRYING)]
        shown = running + [tasks[i] for i in reversed(list(self.recent)) if tasks[i] not in running]
        shown = shown[:LIVE_ROWS]
        for t in shown:
            duration = t.duration
            if t.state == RUNNING and t.started:
                duration = (datetime.now().astimezone() - datetime.fromisoformat(t.started)).total_seconds()
            table.add_row(t.id, f"[{STYLE.get(t.state, '')}]{t.state}[/]", str(t.attempt or ""),
                          fmt_duration(duration), t.reason or "")
        counts = _counts(run)
        hidden = len(tasks) - len(shown)
        table.caption = " · ".join(f"{n} {s}" for s, n in counts.items()) + (f" · {hidden} more not shown" if hidden > 0 else "")
        return table


STYLE = {SUCCEEDED: "green", FAILED: "bold red", UPSTREAM_FAILED: "red", RUNNING: "cyan", RETRYING: "yellow",
         SKIPPED: "dim", "pending": "dim", "interrupted": "bold yellow", "running_run": "cyan"}


def _counts(run: RunView) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in run.tasks.values():
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def summary(run: RunView, stream: TextIO | None, console=None) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in _counts(run).items())
    lines = [f"{run.pipeline}: run {run.run_id} {run.state} in {fmt_duration(run.duration)} ({counts})"]
    for t in run.tasks.values():
        if t.state != FAILED:
            continue
        lines.append(f"  {t.id} failed (attempt {t.attempt}): {t.reason or ''}")
        for line in tail(run.dir / "logs" / f"{t.id}.{t.attempt}.log"):
            lines.append(f"    | {line}")
        lines.append(f"    all of it: pipe logs {run.pipeline} {t.id} --run {run.run_id}")
    if console is not None:
        from rich.markup import escape

        for line in lines:
            console.print(escape(line), highlight=False)
    else:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def reporter_for_output(json_mode: bool, prefix: bool = False):
    from .events import NullReporter

    if json_mode:
        return NullReporter()
    if is_terminal(sys.stdout):
        return LiveReporter()
    return PlainReporter(sys.stdout, prefix=prefix)


def plan(plan_obj, json_mode: bool) -> None:
    if json_mode:
        json_out({"pipeline": plan_obj.pipeline, "dry_run": True, "logical_date": plan_obj.run.logical_date,
                  "data_interval_start": plan_obj.run.interval_start, "data_interval_end": plan_obj.run.interval_end,
                  "params": plan_obj.run.params, "tasks": plan_obj.steps})
        return
    out = sys.stdout
    out.write(f"{plan_obj.pipeline}: dry run for logical date {plan_obj.run.logical_date} "
              f"({len(plan_obj.steps)} tasks; nothing is run)\n")
    for i, step in enumerate(plan_obj.steps, 1):
        after = f" after {', '.join(step['deps'])}" if step["deps"] else ""
        note = " (up to date: would be skipped)" if step["up_to_date"] else ""
        out.write(f"{i:>3}. {step['task']}{after}{note}\n     {step['kind']}: {step['command']}\n     in {step['cwd']}\n")


# --- status, list, logs --------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[str]], title: str | None = None) -> None:
    if is_terminal(sys.stdout):
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for h in headers:
            table.add_column(h)
        for r in rows:
            table.add_row(*[_styled(c) for c in r])
        Console().print(table)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = sys.stdout
    if title:
        out.write(title + "\n")
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def _styled(cell: str) -> str:
    from rich.markup import escape

    style = STYLE.get(cell)
    return f"[{style}]{escape(cell)}[/]" if style else escape(cell)


def runs_table(pipeline: str, runs: list[RunView]) -> None:
    rows = [[r.run_id, r.state, r.kind, r.logical_date or "", (r.started or "")[:19], fmt_duration(r.duration)]
            for r in reversed(runs)]
    _table(["run", "state", "kind", "logical date", "started", "duration"], rows, title=f"{pipeline}: recent runs")


def run_table(run: RunView) -> None:
    rows = [[t.id, t.state, str(t.attempt or ""), fmt_duration(t.duration), t.reason or ""]
            for t in run.tasks.values()]
    title = (f"{run.pipeline} · run {run.run_id} · {run.state} · {run.kind} · logical date {run.logical_date}")
    _table(["task", "state", "attempt", "duration", "reason"], rows, title=title)
    if run.skipped_lines:
        sys.stdout.write(f"note: skipped {run.skipped_lines} unreadable line(s) in {run.dir / 'events.jsonl'}\n")


def pipelines_table(rows: list[dict]) -> None:
    table_rows = []
    for r in rows:
        table_rows.append([r["name"], r.get("schedule_words") or "-", r.get("next_due") or "-", str(r["tasks"]),
                           r.get("last_state") or "-", (r.get("last_started") or "")[:19], r.get("description") or ""])
    _table(["pipeline", "schedule", "next due", "tasks", "last run", "started", "description"], table_rows)


# --- graphs -----------------------------------------------------------------------------------

def graph_json(p: Pipeline) -> dict:
    return {"pipeline": p.name, "file": p.path,
            "nodes": [{"id": t.id, "kind": "python" if t.python else "command", "deps": list(t.deps),
                       "trigger": t.trigger} for t in p.tasks.values()],
            "edges": [[d, t.id] for t in p.tasks.values() for d in t.deps]}


def graph_mermaid(p: Pipeline) -> str:
    ids = {tid: f"n{i}" for i, tid in enumerate(p.tasks)}
    lines = ["flowchart LR"]
    for tid, t in p.tasks.items():
        label = tid.replace('"', "#quot;")
        lines.append(f'  {ids[tid]}["{label}"]')
    for t in p.tasks.values():
        for d in t.deps:
            lines.append(f"  {ids[d]} --> {ids[t.id]}")
    return "\n".join(lines) + "\n"


def graph_dot(p: Pipeline) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {q(p.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for tid in p.tasks:
        lines.append(f"  {q(tid)};")
    for t in p.tasks.values():
        for d in t.deps:
            lines.append(f"  {q(d)} -> {q(t.id)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_tree(p: Pipeline) -> str:
    """Roots first; each task under its first dependency, with a note where it also joins."""
    from .dag import Dag

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

