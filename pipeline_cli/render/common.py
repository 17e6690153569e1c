"""What every renderer shares: terminal detection, durations, dates, errors, JSON, styles."""
from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..model import FAILED, RETRYING, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED

if TYPE_CHECKING:
    from ..state import RunView


TAIL_LINES = 10


LIVE_ROWS = 18          # most task rows of the live table (fewer when the terminal is shorter)


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


STYLE = {SUCCEEDED: "green", FAILED: "bold red", UPSTREAM_FAILED: "red", RUNNING: "cyan", RETRYING: "yellow",
         SKIPPED: "dim", "pending": "dim", "cancelled": "yellow", "interrupted": "bold yellow", "running_run": "cyan"}


def _counts(run: RunView) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in run.tasks.values():
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    from ..state.store import tail_lines

    return tail_lines(path, lines, 16384)


def logs_command(run: RunView, task: str) -> str:
    """The `pipe logs` command that shows a task's log, from the current folder."""
    import shlex

    return f"pipe logs {run.pipeline} {shlex.quote(task)} --run {run.run_id}{_state_option(run)}"


def resume_command(run: RunView) -> str:
    """The `pipe resume` command that goes on with a run, from the current folder."""
    return f"pipe resume {run.pipeline} {run.run_id}{_state_option(run)}"


def _state_option(run: RunView) -> str:
    import shlex

    state = run.dir.parent.parent.parent
    return "" if state.resolve() == Path(".pipe").resolve() else f" --state-dir {shlex.quote(str(state))}"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _began(run: RunView) -> str:
    return "resumed" if getattr(run, "resumed", None) else "started"


def _styled(cell: str) -> str:
    from rich.markup import escape

    style = STYLE.get(cell)
    return f"[{style}]{escape(cell)}[/]" if style else escape(cell)


def to_second(text: str | None) -> str:
    """An ISO date-time as the terminal shows it: to the second, in its own zone, with its
    UTC offset (`--json` keeps what was recorded, to the microsecond)."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).isoformat(timespec="seconds")
    except ValueError:
        return text


def short_date(text: str | None) -> str:
    """A logical date as a person reads it: the day alone when it starts at midnight, else
    the date-time to the second."""
    if not text:
        return ""
    date, _, time = text.partition("T")
    return date if time[:8] in ("", "00:00:00") else to_second(text)


def when(text: str | None) -> str:
    """A date-time pipe recorded (UTC, ISO) in the local zone, to the second."""
    if not text:
        return ""
    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text
