"""The title and body of every message: a run's, a late interval's, `pipe notify test`'s and
`pipe tick --notify`'s. The title is what a phone's lock screen shows."""
from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from ..model import FAILED, RUN_INTERRUPTED, Pipeline
from ..redact import Redactor
from .decide import FAILURE, RECOVERY, RETRY

LOG_LINES = 20             # of each failed task's log, in the message
LINE_MAX = 400             # characters of one log line in the message


# --- a run's message ------------------------------------------------------------------------

def run_message(when: str, pipeline: Pipeline, view, state_root: Path, redactor: Redactor,
                memory: dict | None = None) -> tuple[str, str]:
    """(title, body) of a run's message. The title is what a phone's lock screen shows:
    `[pipe] weather 2026-11-22 failed: fetch`."""
    name, date = view.pipeline, date_text(view.interval_start or view.logical_date, view.interval_end)
    failed = failed_tasks(view)
    retried = [t for t in view.tasks.values() if t.attempt > 1]
    title = _run_title(when, view, name, date, failed, retried)
    lines = _run_summary(pipeline, view)
    if when == RECOVERY and memory and memory.get("failing_since"):
        since = memory["failing_since"]
        lines.append(f"Failing since: run {since.get('run_id')} (logical date {since.get('logical_date')})")
    opt = _state_option(state_root)
    if when in (FAILURE,) or (when == RETRY and failed):
        for t in failed:
            lines += _failed_task(t, view, opt)
    if when == RETRY:
        lines.append("")
        for t in retried:
            lines.append(f"{t.id}: {t.state} after {t.attempt} attempts")
    if view.state == RUN_INTERRUPTED:
        lines += ["", f"Resume it: pipe resume {name} {view.run_id}{opt}"]
    lines += ["", f"Status: pipe status {name} --run {view.run_id}{opt}"]
    return redactor.text(title), redactor.text("\n".join(lines) + "\n")


def _run_title(when: str, view, name: str, date: str, failed: list, retried: list) -> str:
    if when == FAILURE:
        if view.state == RUN_INTERRUPTED:
            return f"[pipe] {name} {date} interrupted"
        if failed:
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            return f"[pipe] {name} {date} failed: {failed[0].id}{more}"
        return f"[pipe] {name} {date} failed"
    if when == RECOVERY:
        return f"[pipe] {name} {date} recovered"
    if when == RETRY:
        return f"[pipe] {name} {date} {view.state}, retried: {', '.join(t.id for t in retried) or '-'}"
    return f"[pipe] {name} {date} {view.state}"


def _run_summary(pipeline: Pipeline, view) -> list[str]:
    """The run at a glance: pipeline, run, dates, state, task counts, duration, page."""
    name = view.pipeline
    counts = view.counts()          # what ran in this run; not the tasks --only/--from left out
    ran = set(view.selected or view.tasks)
    kept: dict[str, int] = {}       # those left out, whose outputs come from an earlier run
    for t in view.tasks.values():
        if t.id not in ran and t.kept_from:
            kept[t.kept_from] = kept.get(t.kept_from, 0) + 1
    tasks = ", ".join(f"{k} {s}" for s, k in counts.items()) or "none"
    if kept:
        tasks += "; " + ", ".join(f"{k} kept from run {rid}" for rid, k in kept.items())
    lines = [
        f"Pipeline:     {name} ({pipeline.path})",
        f"Run:          {view.run_id} ({view.kind})",
        f"Logical date: {view.logical_date}",
        f"Interval:     {view.interval_start} to {view.interval_end}",
        f"State:        {view.state}",
        f"Tasks:        {tasks}",
    ]
    if view.duration is not None:
        lines.append(f"Duration:     {view.duration:.1f}s")
    url = run_url(name, view.run_id)
    if url:
        lines.append(f"Page:         {url}")
    return lines


def _failed_task(t, view, opt: str) -> list[str]:
    """A failed task: why, the tail of its log, and the command that shows all of it."""
    detail = ", ".join(x for x in (f"attempt {t.attempt}", f"exit code {t.exit_code}" if t.exit_code is not None
                                   else "") if x)
    reason = "" if not t.reason or t.reason == f"exit code {t.exit_code}" else t.reason
    lines = ["", f"{t.id} failed ({detail})" + (f": {reason}" if reason else "")]
    tail = _tail(view.dir / "logs" / f"{t.id}.{t.attempt}.log")
    if tail:
        lines.append(f"  last {len(tail)} line(s) of its log:")
        lines += [f"  | {line}" for line in tail]
    lines.append(f"  All of it: pipe logs {view.pipeline} {t.id} --run {view.run_id}{opt}")
    return lines


# --- other messages ---------------------------------------------------------------------------

def deadline_message(pipeline: Pipeline, info: dict, now: datetime, state_root: Path) -> tuple[str, str]:
    """(title, body) of a late interval (`info` as `late` returns it)."""
    deadline = pipeline.notify.deadline
    name, date = pipeline.name, date_text(info["interval_start"], info["interval_end"])
    title = f"[pipe] {name} {date} late: not succeeded {duration(deadline)} after its interval ended"
    lines = [f"Pipeline:     {name} ({pipeline.path})",
             f"Interval:     {info['interval_start']} to {info['interval_end']}",
             f"Deadline:     {info['deadline']} ({duration(deadline)} after the interval's end)",
             f"Now:          {now.isoformat()}"]
    opt = _state_option(state_root)
    if info["run_id"]:
        lines.append(f"Run:          {info['run_id']} ({info['state']})")
        url = run_url(name, info["run_id"])
        if url:
            lines.append(f"Page:         {url}")
        lines += ["", f"Status: pipe status {name} --run {info['run_id']}{opt}"]
    else:
        lines += ["Run:          none: the interval has not been run (is `pipe tick` in cron, and is the "
                  "pipeline's lock held by a run that never ends?)", "", f"Status: pipe list{opt}"]
    return title, "\n".join(lines) + "\n"


def test_message(pipeline: Pipeline) -> tuple[str, str]:
    """(title, body) of `pipe notify test`: what the block notifies about."""
    n = pipeline.notify
    when = ", ".join(n.when) + (f"; deadline {duration(n.deadline)}" if n.deadline is not None else "")
    title = f"[pipe] {pipeline.name}: test message"
    body = (f"A test message from pipe for pipeline {pipeline.name} ({pipeline.path}).\n"
            f"It notifies about: {when}"
            f"{'; manual runs too' if n.manual else ''}{'; every failure' if n.repeat else ''}.\n"
            "If you read this, delivery to this target works.\n")
    return title, body


def tick_problem_message(error) -> tuple[str, str]:
    """(title, body) of a pipeline file that `pipe tick` skips because it is invalid (a SpecError)."""
    import socket

    file = error.problems[0].file
    title = f"[pipe] tick: {Path(file).name} is invalid; its pipeline is not scheduled"
    body = (f"pipe tick on {socket.gethostname()} skips {file} until it is valid again:\n\n"
            + "\n".join(error.lines()) + "\n\nCheck it with: pipe validate " + _quote(file) + "\n")
    return title, body


# --- pieces -------------------------------------------------------------------------------------

def date_text(start: str | None, end: str | None = None) -> str:
    """The logical date as a person reads it: 2026-11-22, or 2026-11-22 05:00 for an interval
    shorter than a day (or one that does not start at midnight)."""
    if not start:
        return "?"
    try:
        t = datetime.fromisoformat(start)
        short = end is not None and datetime.fromisoformat(end) - t < timedelta(days=1)
    except ValueError:
        return start
    return t.strftime("%Y-%m-%d %H:%M") if short or (t.hour, t.minute) != (0, 0) else t.strftime("%Y-%m-%d")


def run_url(pipeline: str, run_id: str) -> str | None:
    base = os.environ.get("PIPE_BASE_URL", "").strip().rstrip("/")
    return f"{base}/pipelines/{pipeline}/runs/{run_id}" if base else None


def failed_tasks(view) -> list:
    failed = [t for t in view.tasks.values() if t.state == FAILED]
    return sorted(failed, key=lambda t: t.finished or "")


def duration(seconds: float) -> str:
    s = int(seconds)
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{seconds:g}s"


def seconds(s: float) -> str:
    return f"{s:g}s"


def _state_option(state_root: Path) -> str:
    """`--state-dir X` when the state folder is not the default one of the current folder."""
    try:
        default = (Path.cwd() / ".pipe").resolve()
    except OSError:
        default = None
    root = Path(state_root).resolve()
    return "" if root == default else f" --state-dir {_quote(str(root))}"


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _tail(path: Path, lines: int = LOG_LINES) -> list[str]:
    from ..state.store import tail_lines

    out = tail_lines(path, lines)
    return [line if len(line) <= LINE_MAX else line[:LINE_MAX] + " [...]" for line in out]
