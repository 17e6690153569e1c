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
from typing import TYPE_CHECKING, Any, TextIO

from .model import FAILED, RETRYING, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED

if TYPE_CHECKING:       # render is imported on paths that need no state folder
    from .model import Pipeline
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
        self._line(run, f"run {run.run_id} {_began(run)} ({run.kind}, logical date {run.logical_date}, "
                        f"{_n(len(run.selected), 'task')})")

    def stopping(self, run: RunView, signal_name: str | None = None) -> None:
        self._line(run, f"stopping: {signal_name or 'interrupted'}, cancelling the running tasks "
                        "(Ctrl-C again to kill now)")

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
    """A live Rich table on a terminal: running tasks first, then the latest changes, then
    pending ones while rows are free; the title and the counts are lines of their own, as
    wide as the terminal, and the columns a user copies (task ids, states) are never cut."""

    def __init__(self):
        from rich.console import Console
        from rich.live import Live

        self.run: RunView | None = None
        self.recent: list[str] = []
        self.stop_note: str | None = None
        self.console = Console(highlight=False)
        # The table is built at each refresh (8 a second), not at each of a big run's
        # thousands of state changes.
        self.live = Live(console=self.console, refresh_per_second=8, transient=False, get_renderable=self._view)

    def run_started(self, run: RunView) -> None:
        self.run = run
        self.live.start()

    def task_changed(self, run: RunView, task: TaskView) -> None:
        if task.id in self.recent:
            self.recent.remove(task.id)
        self.recent.append(task.id)
        del self.recent[:-LIVE_ROWS * 4]

    def stopping(self, run: RunView, signal_name: str | None = None) -> None:
        self.stop_note = (f"stopping ({signal_name or 'interrupted'}): cancelling the running tasks "
                          "(Ctrl-C again to kill now)")
        self.live.refresh()

    def run_finished(self, run: RunView) -> None:
        self.live.stop()       # draws the final table
        summary(run, None, console=self.console)

    def _view(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        run = self.run
        if run is None:
            return ""
        tasks = run.tasks
        selected = [tasks[t] for t in (run.selected or list(tasks)) if t in tasks]
        running = [t for t in selected if t.state in (RUNNING, RETRYING)]
        seen = {t.id for t in running}
        shown = list(running)
        for tid in reversed(self.recent):
            if tid not in seen and tid in tasks:
                shown.append(tasks[tid])
                seen.add(tid)
        for t in selected:                 # pending tasks while rows are free
            if len(shown) >= LIVE_ROWS:
                break
            if t.id not in seen:
                shown.append(t)
                seen.add(t.id)
        shown = shown[:LIVE_ROWS]
        now = datetime.now().astimezone()
        rows = []
        for t in shown:
            duration = t.duration
            if t.state == RUNNING and t.started:
                duration = (now - datetime.fromisoformat(t.started)).total_seconds()
            rows.append([t.id, t.state, str(t.attempt or ""), fmt_duration(duration), t.reason or ""])
        width = self.console.width
        headers = ["task", "state", "attempt", "duration", "reason"]
        cols = fit(headers, rows, width, drop=("reason", "attempt", "duration"), fold=("reason",))
        table = _rich_table(headers, rows, cols)
        counts = run.counts() if hasattr(run, "counts") else _counts(run)
        hidden = len(selected) - len(shown)
        footer = " · ".join(f"{n} {s}" for s, n in counts.items()) + (f" · {hidden} more not shown" if hidden > 0 else "")
        parts = [Text(f"{run.pipeline} · run {run.run_id} · logical date {run.logical_date}"), table, Text(footer)]
        if self.stop_note:
            parts.append(Text(self.stop_note, style="bold yellow"))
        return Group(*parts)


STYLE = {SUCCEEDED: "green", FAILED: "bold red", UPSTREAM_FAILED: "red", RUNNING: "cyan", RETRYING: "yellow",
         SKIPPED: "dim", "pending": "dim", "cancelled": "yellow", "interrupted": "bold yellow", "running_run": "cyan"}


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


def logs_command(run: RunView, task: str) -> str:
    """The `pipe logs` command that shows a task's log, from the current folder."""
    import shlex

    state = run.dir.parent.parent.parent
    option = "" if state.resolve() == Path(".pipe").resolve() else f" --state-dir {shlex.quote(str(state))}"
    return f"pipe logs {run.pipeline} {task} --run {run.run_id}{option}"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _began(run: RunView) -> str:
    return "resumed" if getattr(run, "resumed", None) else "started"


def summary(run: RunView, stream: TextIO | None, console=None) -> None:
    """The end of a run: its state, time and the counts of the tasks it ran (not of the tasks
    left out by --only/--from), the task that failed first, and each failure's log tail."""
    counts = ", ".join(f"{n} {s}" for s, n in (run.counts() if hasattr(run, "counts") else _counts(run)).items())
    lines = [f"{run.pipeline}: run {run.run_id} {run.state} in {fmt_duration(run.duration)} ({counts})"]
    failed = [t for t in run.tasks.values() if t.state == FAILED]
    if len(failed) > 1:
        first = min(failed, key=lambda t: t.finished or "~")
        lines.append(f"  first failure: {first.id}")
    for t in run.tasks.values():
        if t.state != FAILED:
            continue
        lines.append(f"  {t.id} failed (attempt {t.attempt}): {t.reason or ''}")
        log = run.dir / "logs" / f"{t.id}.{t.attempt}.log"
        for line in tail(log):
            lines.append(f"    | {line}")
        if log.exists():        # a task that failed before it started (a template error) has no log
            lines.append(f"    all of it: {logs_command(run, t.id)}")
    if console is not None:
        from rich.markup import escape

        for line in lines:       # never folded: a `pipe logs` hint stays one line to copy
            console.print(escape(line), highlight=False, soft_wrap=True)
    else:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def reporter_for_output(json_mode: bool, prefix: bool = False):
    from .reporter import NullReporter

    if json_mode or sys.stdout is None:
        return NullReporter()
    if is_terminal(sys.stdout):
        return LiveReporter()
    return PlainReporter(sys.stdout, prefix=prefix)


# --- status, list, logs --------------------------------------------------------------------

def fit(headers: list[str], rows: list[list[str]], width: int | None, drop: tuple[str, ...] = (),
        fold: tuple[str, ...] = ()) -> dict[str, int | None]:
    """Which columns to show at this width, and the width of each folding column (None: its
    own). Columns are never cut: the ones in `drop` go first (in that order) and the ones
    in `fold` wrap, so that run ids, dates, states and task ids show whole."""
    natural = {h: max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)}
    shown = list(headers)

    def need(cols: list[str], folded: int) -> int:
        return sum(min(natural[c], folded) if c in fold else natural[c] for c in cols) + 3 * len(cols) + 1

    if width is None:
        return {h: None for h in shown}
    order = list(drop)
    while need(shown, 16) > width and order:
        col = order.pop(0)
        if col in shown and len(shown) > 1:
            shown.remove(col)
    widths: dict[str, int | None] = {h: None for h in shown}
    folding = [c for c in shown if c in fold]
    if folding and need(shown, 10**6) > width:
        fixed = sum(natural[c] for c in shown if c not in fold) + 3 * len(shown) + 1
        room = max(8, (width - fixed) // len(folding))
        for c in folding:
            widths[c] = min(natural[c], room)
    return widths


def _rich_table(headers: list[str], rows: list[list[str]], cols: dict[str, int | None], title: str | None = None):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    index = {h: i for i, h in enumerate(headers)}
    for h in cols:
        if cols[h] is None:
            table.add_column(h, no_wrap=True, min_width=max([len(h)] + [len(r[index[h]]) for r in rows]))
        else:
            table.add_column(h, overflow="fold", max_width=cols[h])
    for r in rows:
        table.add_row(*[_styled(r[index[h]]) for h in cols])
    return table


def _table(headers: list[str], rows: list[list[str]], title: str | None = None, drop: tuple[str, ...] = (),
           fold: tuple[str, ...] = ()) -> None:
    if is_terminal(sys.stdout):
        from rich.console import Console
        from rich.text import Text

        console = Console()
        if title:          # wrapped between words at the terminal's width, never cut
            console.print(Text(title))
        console.print(_rich_table(headers, rows, fit(headers, rows, console.width, drop, fold)))
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


def short_date(text: str | None) -> str:
    """A logical date as a person reads it: the day alone when it starts at midnight."""
    if not text:
        return ""
    date, _, time = text.partition("T")
    return date if time[:8] in ("", "00:00:00") else text


def when(text: str | None) -> str:
    """A date-time pipe recorded (UTC, ISO) in the local zone, to the second."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def runs_table(pipeline: str, runs: list[RunView], note: str = "") -> None:
    """Newest first."""
    rows = [[r.run_id, r.state, r.kind, short_date(r.logical_date), when(r.started), fmt_duration(r.duration)]
            for r in runs]
    _table(["run", "state", "kind", "logical date", "started", "duration"], rows,
           title=f"{pipeline}: {'recent runs' if not note else note}", drop=("kind", "started", "duration"))


def run_table(run: RunView) -> None:
    selected = set(run.selected or run.tasks)
    shown = [t for t in run.tasks.values() if t.id in selected or t.state != "pending"]
    # Where each attempt ran, when any ran elsewhere than here (the Dask executor).
    remote = any(getattr(t, "worker", None) not in (None, "local") for t in shown)
    rows = [[t.id, t.state, str(t.attempt or ""), fmt_duration(t.duration)]
            + ([getattr(t, "worker", None) or ""] if remote else []) + [t.reason or ""] for t in shown]
    title = (f"{run.pipeline} · run {run.run_id} · {run.state} · {run.kind} · logical date {run.logical_date}")
    _table(["task", "state", "attempt", "duration"] + (["worker"] if remote else []) + ["reason"], rows,
           title=title, drop=("attempt", "duration", "worker"), fold=("reason",))
    for n in getattr(run, "notifications", ()):     # deliveries after the run (notify.py): already masked
        said = "sent" if n.get("ok") else f"NOT delivered: {n.get('error')}"
        sys.stdout.write(f"notify {n.get('when')} -> {n.get('target')}: {said}\n")
    if run.skipped_lines:
        sys.stdout.write(f"note: skipped {run.skipped_lines} unreadable line(s) in {run.dir / 'events.jsonl'}\n")


def pipelines_table(rows: list[dict]) -> None:
    table_rows = []
    for r in rows:
        table_rows.append([r["name"], r.get("schedule_words") or "-", r.get("next_due") or "-", str(r["tasks"]),
                           (r.get("last_state") or "-") + (" (late)" if r.get("late") else ""),
                           when(r.get("last_started")), r.get("description") or ""])
    _table(["pipeline", "schedule", "next due", "tasks", "last run", "started", "description"], table_rows,
           drop=("started", "tasks", "description"), fold=("description", "schedule"))


# --- results ---------------------------------------------------------------------------------

def show(result, json_mode: bool = False) -> None:
    """Print a command's result: its JSON document, or the text made for a person."""
    if json_mode and hasattr(result, "to_json"):
        json_out(result.to_json())
        for error in getattr(result, "invalid", ()):       # what is wrong is said on stderr as well
            print_errors(error.lines())
        print_errors(getattr(result, "problems", []))
        if type(result).__name__ == "ValidateResult":
            for f in result.files:
                print_errors([str(p) for p in f.problems])
        return
    text = TEXT.get(type(result).__name__)
    if text is not None:
        text(result)
    sys.stdout.flush()


def stdout_gone() -> None:
    """stdout cannot be written: later writes (and the flush at exit) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _plan_text(result) -> None:
    plan_obj = result.plan
    out = sys.stdout
    out.write(f"{plan_obj.pipeline}: dry run for logical date {plan_obj.run.logical_date} "
              f"({_n(len(plan_obj.steps), 'task')}; nothing is run)\n")
    for i, step in enumerate(plan_obj.steps, 1):
        after = f" after {', '.join(step['deps'])}" if step["deps"] else ""
        note = " (up to date: would be skipped)" if step["up_to_date"] else ""
        out.write(f"{i:>3}. {step['task']}{after}{note}\n     {step['kind']}: {step['command']}\n     in {step['cwd']}\n")


def _validate_text(result) -> None:
    for f in result.files:
        if f.problems:
            print_errors([str(p) for p in f.problems])
        else:
            sys.stdout.write(f"{f.file}: ok ({f.pipeline}, {_n(f.tasks, 'task')})\n")
        for w in f.warnings:        # e.g. a template inside the user's own quotes
            sys.stderr.write(f"{w}\n")


def _graph_text(result) -> None:
    pipelines = result.pipelines
    if result.fmt == "json":
        json_out(result.to_json())
    elif result.fmt == "tree":
        sys.stdout.write("\n".join(graph_tree(p) for p in pipelines))
    else:
        text = (graph_mermaid if result.fmt == "mermaid" else graph_dot)(pipelines)   # one document
        sys.stdout.write(text)
        if result.fmt == "mermaid":
            for why in mermaid_limits(pipelines, text):
                sys.stderr.write(f"warning: {why}\n")


def _list_text(result) -> None:
    if result.rows:
        pipelines_table(result.rows)
    if result.problems:
        print_errors(result.problems)


def _status_text(result) -> None:
    what = f" in state {result.filter}" if result.filter else ""
    if not result.pipelines:
        sys.stdout.write(f"no runs yet (state folder {result.state_dir})\n")
        return
    single = len(result.pipelines) == 1 and result.run is not None
    if single and len(result.pipelines[0].runs) == 1 and result.pipelines[0].runs[0] is result.run:
        run_table(result.run)          # --run RUN_ID (or a pipeline with one run)
        return
    for i, p in enumerate(result.pipelines):
        if i:
            sys.stdout.write("\n")
        if p.runs:
            runs_table(p.pipeline, p.runs, note=f"recent runs{what}" if what else "")
        elif result.run is None and not what:
            sys.stdout.write(f"pipeline {p.pipeline!r} has no runs yet (state folder {result.state_dir})\n")
        else:
            sys.stdout.write(f"{p.pipeline}: no runs{what}\n")
    if result.run is not None:
        sys.stdout.write("\n")
        run_table(result.run)


def _tick_text(result) -> None:
    for error in result.invalid:
        print_errors(error.lines() + [f"{error.problems[0].file}: skipped (invalid)"])
    if not result.dry_run:
        return                  # the runs said what went wrong themselves; success is silent
    for plan in result.plans:
        if plan.intervals or plan.resume:
            blocked = plan.active >= plan.pipeline.max_active_runs
            for r in plan.resume:
                sys.stdout.write(f"{plan.pipeline.name}: would resume interrupted run {r.run_id} ({r.logical_date})"
                                 + (f" but {plan.why}" if blocked else "") + "\n")
            for i in plan.intervals:
                sys.stdout.write(f"{plan.pipeline.name}: would run {i.start.isoformat()} .. {i.end.isoformat()}"
                                 + (f" but {plan.why}" if blocked else "") + "\n")
        else:
            nxt = plan.next_due.isoformat() if plan.next_due else "never"
            sys.stdout.write(f"{plan.pipeline.name}: nothing due ({plan.why}); next due {nxt}\n")


def _backfill_text(result) -> None:
    states = [i.state for i in result.intervals]
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    sys.stdout.write(f"{result.pipeline}: backfill of {_n(len(states), 'interval')}: "
                     + ", ".join(f"{n} {s}" for s, n in counts.items()) + "\n")


def _init_text(result) -> None:
    out = sys.stdout
    out.write(f"wrote {result.path} (pipeline {result.name}) and its Python tasks next to it\n\nnext:\n")
    for step in result.next_steps:
        out.write(f"  {step}\n")


def _text(result) -> None:
    sys.stdout.write(result.text)


TEXT = {"PlanResult": _plan_text, "ValidateResult": _validate_text, "GraphResult": _graph_text,
        "ListResult": _list_text, "StatusResult": _status_text, "TickResult": _tick_text,
        "BackfillResult": _backfill_text, "InitResult": _init_text, "TextResult": _text}


# --- graphs -----------------------------------------------------------------------------------

def graph_json(p: Pipeline) -> dict:
    return {"pipeline": p.name, "file": p.path,
            "nodes": [{"id": t.id, "kind": "python" if t.python else "command", "deps": list(t.deps),
                       "trigger": t.trigger} for t in p.tasks.values()],
            "edges": [[d, t.id] for t in p.tasks.values() for d in t.deps]}


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
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    if len(pipelines) == 1:
        p = pipelines[0]
        lines = [f"digraph {q(p.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
        for tid in p.tasks:
            lines.append(f"  {q(tid)};")
        for t in p.tasks.values():
            for d in t.deps:
                lines.append(f"  {q(d)} -> {q(t.id)};")
        lines.append("}")
        return "\n".join(lines) + "\n"
    lines = ['digraph "pipelines" {', "  rankdir=LR;", "  node [shape=box];"]
    for k, p in enumerate(pipelines):
        lines.append(f'  subgraph "cluster_{k}" {{')
        lines.append(f"    label={q(p.name)};")
        for tid in p.tasks:
            lines.append(f"    {q(f'{k}/{tid}')} [label={q(tid)}];")
        for t in p.tasks.values():
            for d in t.deps:
                lines.append(f"    {q(f'{k}/{d}')} -> {q(f'{k}/{t.id}')};")
        lines.append("  }")
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

