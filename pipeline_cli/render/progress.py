"""A run as it goes: the live Rich table on a terminal, plain lines elsewhere, the summary."""
from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from ..model import FAILED, RETRYING, RUNNING, SUCCEEDED
from .common import LIVE_ROWS, _began, _counts, _n, fmt_duration, is_terminal, logs_command, tail
from .tables import _rich_table, fit

if TYPE_CHECKING:
    from ..state import RunView, TaskView


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
        from ..state.layout import log_file

        log = log_file(run.dir, t.id, t.attempt)
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
    from ..reporter import NullReporter

    if json_mode or sys.stdout is None:
        return NullReporter()
    if is_terminal(sys.stdout):
        return LiveReporter()
    return PlainReporter(sys.stdout, prefix=prefix)
