"""A run as it goes: the live Rich table on a terminal, plain lines elsewhere, the summary."""
from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from ..model import FAILED, RETRYING, RUN_INTERRUPTED, RUNNING, SUCCEEDED, TASK_STATES
from .tables import instances_reason
from .common import (LIVE_ROWS, _began, _counts, _n, fmt_duration, is_terminal, logs_command, resume_command, tail,
                     to_second)

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
        self._line(run, f"run {run.run_id} {_began(run)} ({run.kind}, logical date {to_second(run.logical_date)}, "
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


class QuietReporter:
    """tick's reporter: a run's plain progress lines are kept, and printed (with the summary)
    only if the run did not succeed (a run left waiting is no failure), so a healthy cron job
    prints nothing."""

    def __init__(self, stream: TextIO):
        import io

        self.buffer = io.StringIO()
        self.inner = PlainReporter(self.buffer, prefix=True)
        self.stream = stream

    def run_started(self, run: RunView) -> None:
        self.inner.run_started(run)

    def task_changed(self, run: RunView, task: TaskView) -> None:
        self.inner.task_changed(run, task)

    def run_finished(self, run: RunView) -> None:
        self.inner.run_finished(run)
        if run.state not in (SUCCEEDED, "waiting"):
            self.stream.write(self.buffer.getvalue())
            self.stream.flush()


class SideBySideReporter(PlainReporter):
    """The reporter of a backfill run going on beside others: plain lines, each with the
    pipeline and the run's logical date (one live table per run would fight for the screen)."""

    def _line(self, run: RunView, text: str) -> None:
        from .common import short_date

        now = datetime.now().astimezone().strftime("%H:%M:%S")
        self.stream.write(f"{now} {run.pipeline} {short_date(run.logical_date)} {text}\n")
        self.stream.flush()


def side_by_side_reporter(json_mode: bool):
    if json_mode or sys.stdout is None:
        return None        # no reporter (the run core's hooks skip a None)
    return SideBySideReporter(sys.stdout)


class LiveReporter:
    """A live Rich table on a terminal, never taller than the terminal: the title, the task
    rows that fit (running and retrying tasks first, then failed ones, then the latest
    changes, then pending ones), a "… N more" line for the rest, and the counts, which stay
    on screen whatever the size of the run. Columns keep their place from frame to frame:
    task ids and states are never cut, the attempt is dropped only when even the duration
    and the reason do not leave room for it, and a reason is cut to one line (it is whole
    in the summary and in `pipe status`)."""

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
        tid = task.id.split("[", 1)[0]          # an instance: its foreach task's row (with counts)
        if tid in self.recent:
            self.recent.remove(tid)
        self.recent.append(tid)
        del self.recent[:-LIVE_ROWS * 4]

    def stopping(self, run: RunView, signal_name: str | None = None) -> None:
        self.stop_note = (f"stopping ({signal_name or 'interrupted'}): cancelling the running tasks "
                          "(Ctrl-C again to kill now)")
        self.live.refresh()

    def run_finished(self, run: RunView) -> None:
        self.live.stop()       # draws the final table
        summary(run, None, console=self.console)

    def _rows_first(self, selected: list[TaskView]) -> list[TaskView]:
        """The selected tasks in the order they earn a row."""
        run = self.run
        order = [t for t in selected if t.state in (RUNNING, RETRYING)]
        order += [t for t in selected if t.state == FAILED]
        seen = {t.id for t in order}
        for tid in reversed(self.recent):
            if tid not in seen and tid in run.tasks:
                order.append(run.tasks[tid])
                seen.add(tid)
        order += [t for t in selected if t.id not in seen]
        return order

    def _view(self):
        from rich.console import Group
        from rich.text import Text

        run = self.run
        if run is None:
            return ""
        width, height = self.console.size
        tasks = run.tasks
        selected = [tasks[t] for t in (run.selected or list(tasks)) if t in tasks]
        counts = run.counts() if hasattr(run, "counts") else _counts(run)
        title = Text(f"{run.pipeline} · run {run.run_id} · logical date {to_second(run.logical_date)}")
        footer = Text(" · ".join(f"{n} {s}" for s, n in counts.items()))
        note = Text(self.stop_note, style="bold yellow") if self.stop_note else None
        fixed = sum(self._height(part, width) for part in (title, footer, note) if part is not None)
        room = min(LIVE_ROWS, height - fixed - 4)          # a table's borders and header take 4 lines
        shown = self._rows_first(selected)
        if len(shown) > room:
            room -= 1                                         # for the "… N more" line
            shown = shown[:max(room, 0)]
        hidden = len(selected) - len(shown)
        parts = [title]
        if shown:
            parts.append(self._table(shown, selected, width))
        if hidden > 0:
            parts.append(Text(f"… {hidden} more task{'s' if hidden != 1 else ''}", style="dim"))
        parts.append(footer)
        if note is not None:
            parts.append(note)
        return Group(*parts)

    def _height(self, text, width: int) -> int:
        return len(self.console.render_lines(text, self.console.options.update_width(width), pad=False))

    def _table(self, shown: list[TaskView], selected: list[TaskView], width: int):
        from rich.table import Table

        from .common import _styled

        now = datetime.now().astimezone()
        rows = []
        for t in shown:
            duration = t.duration
            if t.state == RUNNING and t.started:
                duration = (now - datetime.fromisoformat(t.started)).total_seconds()
            rows.append([t.id, t.state, str(t.attempt or ""), fmt_duration(duration), instances_reason(t, short=True)])
        # Widths from every selected task and every state, so that columns stay put.
        widths = {"task": max(len("task"), *(len(t.id) for t in selected)), "state": max(len(s) for s in (*TASK_STATES, *(t.state for t in shown))),
                  "attempt": len("attempt"), "duration": len("duration")}
        cols = ["task", "state", "attempt", "duration"]

        def need(names):
            return sum(widths[c] for c in names) + 3 * len(names) + 1

        for col in ("duration", "attempt"):
            if need(cols) > width:
                cols.remove(col)
        if need(cols) > width:        # ids near the longest allowed (64): as wide as the rows shown
            widths["task"] = max(len("task"), *(len(r[0]) for r in rows))
            widths["state"] = max(len("state"), *(len(r[1]) for r in rows))
        reason_room = width - need(cols) - 3
        if reason_room >= 8 and any(r[4] for r in rows):
            cols.append("reason")
        table = Table()
        for c in cols:
            if c == "reason":
                table.add_column(c, no_wrap=True, overflow="ellipsis", max_width=reason_room)
            else:
                table.add_column(c, no_wrap=True, min_width=widths[c])
        index = {"task": 0, "state": 1, "attempt": 2, "duration": 3, "reason": 4}
        for r in rows:
            table.add_row(*[_styled(r[index[c]]) for c in cols])
        return table


def summary(run: RunView, stream: TextIO | None, console=None) -> None:
    """The end of a run: its state, time and the counts of the tasks it ran (not of the tasks
    left out by --only/--from), the task that failed first, each failure's log tail, and
    for an interrupted run the `pipe resume` command that goes on with it."""
    counts = ", ".join(f"{n} {s}" for s, n in (run.counts() if hasattr(run, "counts") else _counts(run)).items())
    lines = [f"{run.pipeline}: run {run.run_id} {run.state} in {fmt_duration(run.duration)} ({counts})"]
    commands = set()          # lines that end with a command to copy
    failed = [t for t in run.tasks.values() if t.state == FAILED]
    if len(failed) > 1:
        first = min(failed, key=lambda t: t.finished or "~")
        lines.append(f"  first failure: {first.id}")
    shown = []
    for t in run.tasks.values():
        if t.state == FAILED and t.items is not None:
            lines.append(f"  {t.id} failed: {t.reason or ''}")
            shown += [i for _, i in sorted(t.instances.items()) if i.state == FAILED][:3]
        elif t.state == FAILED:
            shown.append(t)
    for t in shown:
        lines.append(f"  {t.id} failed (attempt {t.attempt}): {t.reason or ''}")
        from ..state.layout import log_file

        log = log_file(run.dir, t.id, t.attempt)
        for line in tail(log):
            lines.append(f"    | {line}")
        if log.exists():        # a task that failed before it started (a template error) has no log
            commands.add(len(lines))
            lines.append(f"    all of it: {logs_command(run, t.id)}")
    if run.state == "waiting":
        for t in run.tasks.values():
            if t.state == "waiting":
                lines.append(f"  {t.id} {t.reason or 'waiting'} (since {to_second(t.started)})")
        lines.append("  the next pipe tick checks again and goes on with the run once it holds")
    if run.state == RUN_INTERRUPTED:
        commands.add(len(lines))
        lines.append(f"  resume it: {resume_command(run)}")
    if console is not None:
        from rich.markup import escape

        for i, line in enumerate(lines):
            # A command stays one line to copy (the terminal wraps it, never Rich); the
            # rest wraps between words.
            console.print(escape(line), highlight=False, soft_wrap=i in commands)
    else:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def reporter_for_output(json_mode: bool, prefix: bool = False):
    """The run hook that shows a run on stdout: the live table on a terminal, plain lines
    elsewhere, nothing with --json (None)."""
    if json_mode or sys.stdout is None:
        return None
    return StdoutReporter(LiveReporter() if is_terminal(sys.stdout) else PlainReporter(sys.stdout, prefix=prefix))


class StdoutReporter:
    """A reporter on stdout whose output cannot stop the run: when stdout goes away (`pipe
    run | head`, a closed terminal), stdout is pointed at /dev/null (later writes, and the
    flush at exit, go nowhere) and the OSError tells the run's hooks to drop this one."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name: str):
        hook = getattr(self.inner, name)

        def guarded(*args):
            try:
                hook(*args)
            except OSError:
                from .results import stdout_gone

                stdout_gone()
                raise
        return guarded
