"""Delivery, bounded in time: every message to every target (through Apprise) and the block's
`run:` command once per message, each in its own thread, all together within
min(timeout, 30 s); what happened is a Result per (message, target), recorded as `notify`
events and warned about on stderr, never raised."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..model import Pipeline
from ..redact import Redactor
from .command import run_command
from .message import seconds
from .targets import Target
from .via_apprise import prepare, send

TOTAL = 30.0               # all deliveries of one run (or tick) together, seconds


@dataclass
class Message:
    when: str
    title: str
    body: str
    command_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    when: str
    target: str
    ok: bool
    error: str | None
    title: str


Outcomes = dict[tuple[int, int], tuple[bool, str | None]]     # (message index, target index) -> (ok, error)
Rows = list[tuple[int, int, str]]                              # (message index, target index, shown)


def deliver(pipeline: Pipeline, messages: list[Message], targets: list[Target], redactor: Redactor,
            timeout: float, log_dir: Path | None = None) -> list[Result]:
    """Send every message to every target, and run the block's command once per message.
    One thread per target (its messages in order) and per command run; all of them
    together end within min(timeout, 30 s): one that has not finished by then is recorded
    as timed out and left to finish (or not) on its own."""
    n = pipeline.notify
    budget = min(timeout, TOTAL)
    results: Outcomes = {}
    rows: Rows = []
    if any(t.error is None and t.url is not None for t in targets):
        prepare(targets)
    jobs = _target_jobs(messages, targets, results, rows)
    if n is not None and n.run is not None:
        jobs += _command_jobs(pipeline, messages, len(targets), redactor, budget, log_dir, results, rows)
    _run_within(jobs, budget)
    snapshot = dict(results)
    out = []
    for mi, ti, shown in rows:
        ok, error = snapshot.get((mi, ti), (False, f"no answer within {seconds(budget)} (timed out)"))
        out.append(Result(messages[mi].when, shown, ok, redactor.text(error) if error else None,
                          redactor.text(messages[mi].title)))
    return out


def _target_jobs(messages: list[Message], targets: list[Target], results: Outcomes,
                 rows: Rows) -> list[threading.Thread]:
    """A thread per usable target, sending it every message in order; a target in error
    has its error as the result of every message."""
    def to_target(ti: int, t: Target) -> None:
        for mi, m in enumerate(messages):
            try:
                results[(mi, ti)] = send(t, m.title, m.body, m.when)
            except BaseException as e:        # a thread's error is a result, never a traceback
                results[(mi, ti)] = (False, f"{type(e).__name__}: {e}")

    jobs = []
    for ti, t in enumerate(targets):
        for mi in range(len(messages)):
            rows.append((mi, ti, t.shown))
            if t.error is not None:
                results[(mi, ti)] = (False, t.error)
        if t.error is None:
            jobs.append(threading.Thread(target=to_target, args=(ti, t), daemon=True, name=f"pipe-notify-{ti}"))
    return jobs


def _command_jobs(pipeline: Pipeline, messages: list[Message], ti: int, redactor: Redactor, budget: float,
                  log_dir: Path | None, results: Outcomes, rows: Rows) -> list[threading.Thread]:
    """A thread per message running the block's command (its row is target index `ti`)."""
    n = pipeline.notify
    shown = "run: " + (n.run if isinstance(n.run, str) else " ".join(n.run))

    def command(mi: int, m: Message) -> None:
        log = log_dir / f"{m.when}.log" if log_dir is not None else None
        try:
            # killed a little before the end of the budget, so that its end is recorded in it
            results[(mi, ti)] = run_command(pipeline, n.run, m.command_env, m.body, budget * 0.9, log, redactor)
        except BaseException as e:
            results[(mi, ti)] = (False, f"{type(e).__name__}: {e}")

    jobs = []
    for mi, m in enumerate(messages):
        rows.append((mi, ti, redactor.text(shown)))
        jobs.append(threading.Thread(target=command, args=(mi, m), daemon=True, name=f"pipe-notify-run-{mi}"))
    return jobs


def _run_within(jobs: list[threading.Thread], budget: float) -> None:
    """Start every job and wait for them, all together, at most `budget` seconds."""
    end = time.monotonic() + budget
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(max(0.0, end - time.monotonic()))


def record(events: Path, redactor: Redactor, results: list[Result], **extra) -> None:
    """One `notify` event per result, appended to the events file `events`."""
    from ..state import EventLog

    log = EventLog(events, redactor.value)
    try:
        for r in results:
            log.append("notify", when=r.when, target=r.target, ok=r.ok, error=r.error, title=r.title, **extra)
    finally:
        log.close()


def warn(text: str) -> None:
    try:
        sys.stderr.write(f"pipe: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def warn_failures(name: str, results: list[Result], what: str = "") -> None:
    for r in results:
        if not r.ok:
            warn(f"{name}: the {r.when} message{what} was not delivered to {r.target}: {r.error}")
