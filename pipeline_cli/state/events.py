"""The events of a run: their names and fields, their JSON, and the one reducer that turns
them into a run's view. The runner applies each event it writes with `apply`, and every
reader (status, list, logs, tick, the web UI) replays the file with the same `apply`, so
the two can never disagree.

A run's events.jsonl (keep stable: persisted):
    run_started   format, run_id, pipeline, file, digest, kind, logical_date, interval_start,
                  interval_end, params, tasks, kept, executor, pid, pid_start, host [, consumed:
                  the asset partitions it reads, {asset, start, version, run_id}]   (`tasks`: every
                  task the run records, in pipeline order; `kept`: those of them it does not
                  run, left out by --only/--from, whose earlier outputs it uses)
    run_resumed   tasks, pid, pid_start, host
    task          task, state, attempt [, reason, exit_code, duration, outputs, retry_in,
                  worker, pgid, pgid_start, kept_from]   (a second `running` of the same
                  attempt with a `worker`: where it was placed, once a remote executor knows;
                  `skipped` with `kept_from`: a task --only/--from left out of the run, whose
                  outputs, from that earlier run, the run's tasks use)
                  A foreach task's instances are tasks `ID[N]` (N from 0, in item order); the
                  task's own `running` has `items` (how many) and `values` (the items).
    run_finished  state
    notify        when, target, ok [, error]          (after run_finished: deliveries)
    task_marked   task, state, reason, by             (a person set a task of a finished run
                  succeeded or failed, e.g. from pipe serve; the run's own state is kept)
Every event also has `event` and `time` (ISO 8601, UTC). Events are written with one
write() each, straight to the file, so a SIGKILL loses at most the line being written; a
reader skips a torn or garbled line and counts it.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..model import (CANCELLED, FAILED, FINISHED_STATES, PENDING, RETRYING, RUN_FAILED, RUN_INTERRUPTED,
                     RUN_RUNNING, RUNNING, SKIPPED, SUCCEEDED, WAITING)

EVENT_FORMAT = 1     # keep stable: persisted; a reader refuses a newer format
_INSTANCE = re.compile(r"^(.+)\[(\d+)\]$")


def instance_of(tid: str) -> tuple[str, int] | None:
    """`fetch[3]` (an instance of foreach task fetch) -> ("fetch", 3); a task id -> None."""
    m = _INSTANCE.match(tid)
    return (m.group(1), int(m.group(2))) if m else None

RUN_STARTED = "run_started"
RUN_RESUMED = "run_resumed"
TASK = "task"
RUN_FINISHED = "run_finished"
NOTIFY = "notify"
TASK_MARKED = "task_marked"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


class EventLog:
    """An append-only JSON Lines file; every event is one write() of one whole line."""

    def __init__(self, path: Path, redact: Callable[[Any], Any] | None = None):
        self.path = path
        self.redact = redact
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # A torn last line (its writer was killed mid-write) must not swallow our first event.
        try:
            with open(path, "rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"
        except OSError:        # empty (or unreadable) file
            torn = False
        if torn:
            os.write(self.fd, b"\n")

    def append(self, event: str, **fields: Any) -> dict:
        """Write one event; return it as written (masked), for the reducer."""
        record = {"event": event, "time": iso(now_utc()), **fields}
        if self.redact is not None:
            record = self.redact(record)
        os.write(self.fd, (_encode(record) + "\n").encode())
        return record

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def parse_lines(data: bytes) -> tuple[list[dict], int]:
    """The events in whole lines of bytes, and how many lines were skipped (torn or garbled)."""
    events, skipped = [], 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            skipped += 1
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
        else:
            skipped += 1
    return events, skipped


def read_from(path: Path, offset: int = 0, final: bool = True) -> tuple[list[dict], int, int]:
    """Events from byte `offset`: (events, skipped lines, new offset). With `final`, a last
    line without its newline is read too (the file is complete, or its writer died);
    without it, that line is left for the next read (a live follower)."""
    try:
        with open(path, "rb") as f:
            if offset:
                f.seek(offset)
            data = f.read()
    except OSError:
        return [], 0, offset
    if not final:
        end = data.rfind(b"\n") + 1
        data = data[:end]
    events, skipped = parse_lines(data)
    return events, skipped, offset + len(data)


def read_events(path: Path) -> tuple[list[dict], int]:
    """The events of a file, and how many lines were skipped."""
    events, skipped, _ = read_from(path)
    return events, skipped


@dataclass
class AttemptView:
    number: int
    state: str = RUNNING
    started: str | None = None
    finished: str | None = None
    duration: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    worker: str | None = None

    def to_json(self) -> dict:
        return {"attempt": self.number, "state": self.state, "started": self.started, "finished": self.finished,
                "duration": self.duration, "exit_code": self.exit_code, "reason": self.reason, "worker": self.worker}


@dataclass
class TaskView:
    id: str
    state: str = PENDING
    attempt: int = 0
    started: str | None = None
    finished: str | None = None
    duration: float | None = None
    reason: str | None = None
    exit_code: int | None = None
    outputs: dict = field(default_factory=dict)
    worker: str | None = None
    pgid: int | None = None            # the running attempt's process group (local), for resume
    pgid_start: str | None = None
    kept_from: str | None = None       # not run in this run: its outputs come from that run
    attempts: list[AttemptView] = field(default_factory=list)
    items: int | None = None           # a foreach task, once expanded: how many instances
    values: list | None = None         # ... and their items
    instances: dict[int, "TaskView"] = field(default_factory=dict)    # index -> instance, as recorded

    def instance_counts(self) -> dict[str, int]:
        """A foreach task's instances by state (those not started yet are pending)."""
        counts: dict[str, int] = {}
        for t in self.instances.values():
            counts[t.state] = counts.get(t.state, 0) + 1
        missing = (self.items or 0) - len(self.instances)
        if missing > 0:
            counts[PENDING] = counts.get(PENDING, 0) + missing
        return counts

    def to_json(self) -> dict:
        doc = {"state": self.state, "attempt": self.attempt, "started": self.started, "finished": self.finished,
               "duration": self.duration, "reason": self.reason, "exit_code": self.exit_code,
               "outputs": self.outputs, "worker": self.worker,
               "pid": self.pgid if self.state == RUNNING else None,      # its process group, while it runs here
               "kept_from": self.kept_from}
        if self.items is not None:
            doc["items"] = self.items
            doc["instance_counts"] = self.instance_counts()
            doc["instances"] = [dict(self.instances[i].to_json(), id=self.instances[i].id, index=i,
                                     item=self.values[i] if self.values and i < len(self.values) else None)
                                for i in sorted(self.instances)]
        return doc



@dataclass
class RunView:
    """A run, as its events tell it."""

    run_id: str
    pipeline: str
    dir: Path
    state: str = RUN_RUNNING
    kind: str = "manual"
    file: str | None = None
    logical_date: str | None = None
    interval_start: str | None = None
    interval_end: str | None = None
    params: dict = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    resumed: str | None = None         # when the latest resume began
    active_seconds: float = 0.0        # time spent running before the latest (re)start
    selected: list[str] = field(default_factory=list)
    tasks: dict[str, TaskView] = field(default_factory=dict)
    skipped_lines: int = 0
    pid: int | None = None
    pid_start: str | None = None
    host: str | None = None
    executor: str | None = None
    format: int | None = None
    ended: bool = False                # a run_finished event closes the latest (re)start
    last_event: str | None = None      # the time of the latest event
    notifications: list[dict] = field(default_factory=list)
    consumed: list[dict] = field(default_factory=list)    # asset partitions read: asset, start, version, run_id
    stale: list[dict] | None = None    # of those, the ones produced again since (set by a reader that looked)
    marks: list[dict] = field(default_factory=list)      # task_marked events: who set which task how, and why

    @property
    def duration(self) -> float | None:
        """Time spent running: a resumed run does not count the idle time before the resume."""
        begin = self.resumed or self.started
        if not begin:
            return None
        end = datetime.fromisoformat(self.finished) if self.finished else now_utc()
        return round(self.active_seconds + (end - datetime.fromisoformat(begin)).total_seconds(), 3)

    def task(self, tid: str) -> TaskView | None:
        """A task, or an instance `ID[N]` of a foreach task."""
        t = self.tasks.get(tid)
        if t is None and (found := instance_of(tid)) is not None:
            parent = self.tasks.get(found[0])
            t = parent.instances.get(found[1]) if parent is not None else None
        return t

    def counts(self) -> dict[str, int]:
        """The states of the run's own tasks (not of those --only/--from left out)."""
        counts: dict[str, int] = {}
        for tid in self.selected or list(self.tasks):
            t = self.tasks.get(tid)
            if t is not None:
                counts[t.state] = counts.get(t.state, 0) + 1
        return counts

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id, "pipeline": self.pipeline, "state": self.state, "kind": self.kind,
            "logical_date": self.logical_date, "data_interval_start": self.interval_start,
            "data_interval_end": self.interval_end, "params": self.params, "started": self.started,
            "finished": self.finished, "duration": self.duration, "host": self.host, "executor": self.executor,
            "counts": self.counts(), "tasks": {t.id: t.to_json() for t in self.tasks.values()},
            "notifications": self.notifications,
            **({"consumed": self.consumed} if self.consumed else {}),
            **({"stale": self.stale} if self.stale else {}),
            "skipped_lines": self.skipped_lines,
            **({"marks": self.marks} if self.marks else {}),
        }


def apply(run: RunView, e: dict) -> None:
    """The reducer: one event into a run's view."""
    kind = e.get("event")
    before = run.last_event
    if isinstance(e.get("time"), str):
        run.last_event = e["time"]
    if kind == TASK:
        _apply_task(run, e)
    elif kind == RUN_STARTED:
        run.format = e.get("format")
        run.kind = e.get("kind", run.kind)
        run.file = e.get("file")
        run.logical_date = e.get("logical_date")
        run.interval_start = e.get("interval_start")
        run.interval_end = e.get("interval_end")
        run.params = e.get("params") or {}
        run.started = e.get("time")
        run.executor = e.get("executor") or "local"
        tasks = list(e.get("tasks") or [])
        for tid in tasks:
            run.tasks.setdefault(tid, TaskView(tid))
        kept = set(e.get("kept") or ())
        run.selected = [t for t in tasks if t not in kept] if kept else tasks
        run.pid, run.pid_start, run.host = e.get("pid"), e.get("pid_start"), e.get("host")
        run.consumed = [c for c in e.get("consumed") or () if isinstance(c, dict)]
        run.ended = False
    elif kind == RUN_RESUMED:
        # The execution before counts until it finished, or (its pipe was killed) until its
        # last event: a resumed run's duration is the time spent running, never the idle gap.
        end = run.finished or before
        if end and (run.resumed or run.started):
            begin = datetime.fromisoformat(run.resumed or run.started)
            run.active_seconds += max(0.0, (datetime.fromisoformat(end) - begin).total_seconds())
        run.resumed = e.get("time")
        run.pid, run.pid_start, run.host = e.get("pid"), e.get("pid_start"), e.get("host")
        run.finished = None
        run.state = RUN_RUNNING
        if e.get("executor"):
            run.executor = e["executor"]
        for tid in e.get("tasks") or []:
            run.tasks.setdefault(tid, TaskView(tid))
            if tid not in run.selected:
                run.selected.append(tid)
        run.ended = False
    elif kind == RUN_FINISHED:
        run.state = e.get("state", RUN_FAILED)
        run.finished = e.get("time")
        run.ended = True
    elif kind == NOTIFY:
        run.notifications.append({k: v for k, v in e.items() if k != "event"})
    elif kind == TASK_MARKED:
        t = run.tasks.get(e.get("task")) if isinstance(e.get("task"), str) else None
        if t is not None and e.get("state") in (SUCCEEDED, FAILED):
            run.marks.append({k: v for k, v in e.items() if k != "event"})
            t.state = e["state"]
            t.reason = f"marked {e['state']} by {e.get('by') or 'someone'}: {e.get('reason') or ''}".rstrip(": ")


def _apply_task(run: RunView, e: dict) -> None:
    tid = e.get("task")
    if not isinstance(tid, str):
        return
    found = instance_of(tid)
    if found is not None:
        parent = run.tasks.get(found[0])
        if parent is None:
            parent = run.tasks[found[0]] = TaskView(found[0])
        t = parent.instances.get(found[1])
        if t is None:
            t = parent.instances[found[1]] = TaskView(tid)
    else:
        t = run.tasks.get(tid)
        if t is None:
            t = run.tasks[tid] = TaskView(tid)
    if "items" in e and e.get("state") == RUNNING:
        # A foreach task expanded: it runs while its instances do (it has no attempt of its own).
        t.state, t.started, t.finished, t.reason = RUNNING, e.get("time"), None, None
        t.items = e["items"] if isinstance(e["items"], int) else None
        t.values = e["values"] if isinstance(e.get("values"), list) else None
        t.kept_from = None
        return
    t.state = e.get("state", t.state)
    if t.state == SUCCEEDED and e.get("attempt") == 0 and "exit_code" not in e and t.items is None:
        t.state = SKIPPED      # written by an older pipe: a task left out of the run, not a success of it
    t.attempt = e.get("attempt", t.attempt) or t.attempt
    when = e.get("time")
    if "kept_from" in e:
        t.kept_from = e["kept_from"]
    if t.state == WAITING:
        # A sensor waits (no process, no worker); a resumed run going on with the same attempt
        # keeps when it began to wait.
        t.kept_from = None
        current = t.attempts[-1] if t.attempts and t.attempts[-1].number == t.attempt else None
        if current is None or current.finished is not None:
            t.started, t.finished, t.duration, t.exit_code = when, None, None, None
            t.attempts.append(AttemptView(t.attempt, WAITING, when))
        t.reason = e.get("reason", t.reason)
        return
    if t.state == RUNNING:
        t.kept_from = None
        current = t.attempts[-1] if t.attempts and t.attempts[-1].number == t.attempt else None
        if current is not None and current.finished is None and e.get("worker"):
            # The same attempt, placed: a remote executor learns the worker once it starts there.
            t.worker = current.worker = e["worker"]
            return
        t.started, t.finished, t.duration, t.reason, t.exit_code = when, None, None, None, None
        t.worker, t.pgid, t.pgid_start = e.get("worker"), e.get("pgid"), e.get("pgid_start")
        t.attempts.append(AttemptView(t.attempt, RUNNING, when, worker=t.worker))
        return
    for name in ("reason", "exit_code", "duration"):
        if name in e:
            setattr(t, name, e[name])
    if t.state == SUCCEEDED and "reason" not in e:
        t.reason = None        # a sensor's "waiting for ..." is over
    if "worker" in e:
        t.worker = e["worker"]
    if t.state in FINISHED_STATES:
        t.finished = when
    if "outputs" in e:
        t.outputs = e["outputs"] or {}
    t.pgid = t.pgid_start = None
    if t.attempts and t.attempts[-1].number == t.attempt and t.attempts[-1].finished is None:
        a = t.attempts[-1]
        a.state, a.finished, a.duration = t.state, when, e.get("duration")
        a.exit_code, a.reason = e.get("exit_code"), e.get("reason")


def replay(run_id: str, pipeline: str, run_dir: Path, events: list[dict], skipped: int = 0) -> RunView:
    run = RunView(run_id=run_id, pipeline=pipeline, dir=run_dir, skipped_lines=skipped)
    for e in events:
        apply(run, e)
    return run


def interrupted_view(run: RunView, why: str, alive: Callable[[list], set] | None = None) -> RunView:
    """The view of a run whose `pipe` died: its running tasks were stopped with it (cancelled,
    not failed of their own: `resume` reruns them). A task whose process group lives on
    (`alive` says which of the (pgid, leader start) pairs it is given still have a process;
    pipe's watcher stops them within the kill grace) is still running, and says so with its
    pid. A new view; `run` is left as it is."""
    from dataclasses import replace

    tasks = dict(run.tasks)
    everything = [*tasks.values(), *(i for t in tasks.values() for i in t.instances.values())]
    groups = [(t.pgid, t.pgid_start) for t in everything if t.state == RUNNING and t.pgid]
    live = alive(groups) if alive is not None and groups else set()
    def stopped(t: TaskView) -> TaskView:
        if t.instances:
            t = replace(t, instances={i: stopped(inst) for i, inst in t.instances.items()})
        if t.state == RUNNING and t.pgid in live:
            return replace(t, reason=f"{why}, but its process group {t.pgid} is still running")
        if t.state in (RUNNING, RETRYING, WAITING):
            return replace(t, state=CANCELLED, reason=why)
        return t

    for tid, t in tasks.items():
        tasks[tid] = stopped(t)
    # It ended, as far as anyone can tell, with its last event: its duration stops growing.
    return replace(run, state=RUN_INTERRUPTED, tasks=tasks, finished=run.finished or run.last_event)
