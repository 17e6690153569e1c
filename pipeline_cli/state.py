"""The state folder: plain files a person can read.

    <state>/<pipeline>/runs/<run_id>/events.jsonl       append-only, one event a line
    <state>/<pipeline>/runs/<run_id>/logs/<task>.<attempt>.log
    <state>/<pipeline>/runs/<run_id>/outputs/<task>.<attempt>   $PIPE_OUTPUT (and .json)
    <state>/<pipeline>/intervals.jsonl                  ledger: the intervals claimed by runs
    <state>/<pipeline>/durations.json                   task duration estimates
    <state>/<pipeline>/lock                             held by tick and backfill
    <state>/cache/                                      tick's "nothing due" cache

Folders are 0700 and files 0600. Events are written with one write() each, straight to
the file (no user-space buffer), so a SIGKILL loses at most the line being written; a
reader skips a torn or garbled line and says how many it skipped.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError
from .model import (FAILED, FINISHED_STATES, PENDING, RETRYING, RUN_FAILED, RUN_INTERRUPTED,
                    RUN_RUNNING, RUN_SUCCEEDED, RUNNING)

RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{9}Z-[a-z]+-[0-9a-f]{4}$")
EVENT_FORMAT = 1     # keep stable: persisted


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def makedirs(path: Path) -> Path:
    # os.makedirs gives `mode` to the last folder only: missing parents get 0700 too.
    path = Path(path)
    if not path.is_dir() and path.parent != path and not path.parent.is_dir():
        makedirs(path.parent)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over the target."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (to tell it from a later one with the same pid)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return None       # dead, not yet reaped by its parent (or by a slow init): not running
        return fields[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    if os.path.exists("/proc/self/stat"):
        return start is not None and process_start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def me() -> dict:
    return {"pid": os.getpid(), "pid_start": process_start_time(os.getpid()), "host": os.uname().nodename}


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

    def append(self, event: str, **fields: Any) -> None:
        record = {"event": event, "time": iso(now_utc()), **fields}
        if self.redact is not None:
            record = self.redact(record)
        os.write(self.fd, (_encode_event(record) + "\n").encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_encode_event = json.JSONEncoder(separators=(",", ":"), default=str).encode


def read_events(path: Path) -> tuple[list[dict], int]:
    """The events of a run, and how many lines were skipped (torn or garbled)."""
    events, skipped = [], 0
    try:
        data = path.read_bytes()
    except OSError:
        return [], 0
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


@dataclass
class RunView:
    """A run, replayed from its events."""

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
    selected: list[str] = field(default_factory=list)
    tasks: dict[str, TaskView] = field(default_factory=dict)
    skipped_lines: int = 0
    pid: int | None = None
    pid_start: str | None = None

    @property
    def duration(self) -> float | None:
        if not self.started:
            return None
        end = datetime.fromisoformat(self.finished) if self.finished else now_utc()
        return (end - datetime.fromisoformat(self.started)).total_seconds()

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id, "pipeline": self.pipeline, "state": self.state, "kind": self.kind,
            "logical_date": self.logical_date, "data_interval_start": self.interval_start,
            "data_interval_end": self.interval_end, "params": self.params, "started": self.started,
            "finished": self.finished, "duration": self.duration,
            "tasks": {t.id: {"state": t.state, "attempt": t.attempt, "started": t.started,
                             "finished": t.finished, "duration": t.duration, "reason": t.reason,
                             "exit_code": t.exit_code, "outputs": t.outputs} for t in self.tasks.values()},
            "skipped_lines": self.skipped_lines,
        }


def replay(run_id: str, pipeline: str, run_dir: Path) -> RunView:
    events, skipped = read_events(run_dir / "events.jsonl")
    run = RunView(run_id=run_id, pipeline=pipeline, dir=run_dir, skipped_lines=skipped)
    finished = False
    for e in events:
        kind = e["event"]
        if kind == "run_started":
            run.kind = e.get("kind", run.kind)
            run.file = e.get("file")
            run.logical_date = e.get("logical_date")
            run.interval_start = e.get("interval_start")
            run.interval_end = e.get("interval_end")
            run.params = e.get("params") or {}
            run.started = e.get("time")
            run.selected = list(e.get("tasks") or [])
            for tid in run.selected:
                run.tasks.setdefault(tid, TaskView(tid))
            run.pid, run.pid_start = e.get("pid"), e.get("pid_start")
            finished = False
        elif kind == "run_resumed":
            run.pid, run.pid_start = e.get("pid"), e.get("pid_start")
            run.finished = None
            for tid in e.get("tasks") or []:
                run.tasks.setdefault(tid, TaskView(tid))
                if tid not in run.selected:
                    run.selected.append(tid)
            finished = False
        elif kind == "task" and isinstance(e.get("task"), str):
            t = run.tasks.setdefault(e["task"], TaskView(e["task"]))
            t.state = e.get("state", t.state)
            t.attempt = e.get("attempt", t.attempt) or t.attempt
            if t.state == RUNNING:
                t.started, t.finished, t.duration, t.reason, t.exit_code = e.get("time"), None, None, None, None
            else:
                for name in ("reason", "exit_code", "duration"):
                    if name in e:
                        setattr(t, name, e[name])
                if t.state in FINISHED_STATES:
                    t.finished = e.get("time")
                if "outputs" in e:
                    t.outputs = e["outputs"] or {}
        elif kind == "run_finished":
            run.state = e.get("state", RUN_FAILED)
            run.finished = e.get("time")
            finished = True
    if not finished:
        run.state = RUN_RUNNING if process_alive(run.pid, run.pid_start) else RUN_INTERRUPTED
    if run.state == RUN_INTERRUPTED:
        for t in run.tasks.values():
            if t.state in (RUNNING, RETRYING):
                t.state, t.reason = FAILED, "interrupted"
    return run


class PipelineLock:
    """An exclusive lock on one pipeline's folder (flock: released when the holder dies)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def acquire(self, wait: bool) -> bool:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self.fd)
            self.fd = -1
            return False
        return True

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StateDir:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()     # tasks run elsewhere: their paths must be absolute

    def pipeline_dir(self, pipeline: str, create: bool = False) -> Path:
        path = self.root / pipeline
        return makedirs(path) if create else path

    def runs_dir(self, pipeline: str) -> Path:
        return self.root / pipeline / "runs"

    def new_run(self, pipeline: str, kind: str, now: datetime | None = None) -> tuple[str, Path]:
        now = (now or now_utc()).astimezone(timezone.utc)
        makedirs(self.root)
        makedirs(self.root / pipeline)
        makedirs(self.runs_dir(pipeline))
        while True:
            run_id = f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{kind}-{os.urandom(2).hex()}"
            run_dir = self.runs_dir(pipeline) / run_id
            try:
                os.mkdir(run_dir, 0o700)     # mkdir is the claim: two runs never share a folder
            except FileExistsError:
                continue
            makedirs(run_dir / "logs")
            makedirs(run_dir / "outputs")
            return run_id, run_dir

    def run_ids(self, pipeline: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.runs_dir(pipeline)) if RUN_ID_RE.match(n))
        except OSError:
            return []

    def run(self, pipeline: str, run_id: str | None = None) -> RunView:
        """A run by id, or the latest one (None or 'latest')."""
        ids = self.run_ids(pipeline)
        if run_id in (None, "latest"):
            if not ids:
                raise UsageError(f"pipeline {pipeline!r} has no runs yet (state folder {self.root})")
            run_id = ids[-1]
        elif not RUN_ID_RE.match(run_id) or run_id not in ids:
            import difflib

            close = difflib.get_close_matches(run_id, ids, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"no run {run_id!r} of pipeline {pipeline!r}{hint}")
        return replay(run_id, pipeline, self.runs_dir(pipeline) / run_id)

    def runs(self, pipeline: str, limit: int | None = None) -> list[RunView]:
        ids = self.run_ids(pipeline)
        if limit is not None:
            ids = ids[-limit:]
        return [replay(r, pipeline, self.runs_dir(pipeline) / r) for r in ids]

    def pipelines(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root) if (self.root / n / "runs").is_dir())
        except OSError:
            return []

    # The interval ledger ------------------------------------------------------------
    def ledger_path(self, pipeline: str) -> Path:
        return self.root / pipeline / "intervals.jsonl"

    def claim(self, pipeline: str, **record: Any) -> None:
        makedirs(self.root / pipeline)
        log = EventLog(self.ledger_path(pipeline))
        try:
            log.append("interval", **record)
        finally:
            log.close()

    def ledger(self, pipeline: str) -> list[dict]:
        events, _ = read_events(self.ledger_path(pipeline))
        return [e for e in events if isinstance(e.get("start"), str) and isinstance(e.get("run_id"), str)]

    def lock(self, pipeline: str) -> PipelineLock:
        makedirs(self.root)
        makedirs(self.root / pipeline)
        return PipelineLock(self.root / pipeline / "lock")

    # Duration estimates --------------------------------------------------------------
    def estimates(self, pipeline: str) -> dict[str, float]:
        try:
            data = json.loads((self.root / pipeline / "durations.json").read_bytes())
            return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}
        except (OSError, ValueError, AttributeError):
            return {}

    def save_estimates(self, pipeline: str, durations: dict[str, float]) -> None:
        if not durations:
            return
        old = self.estimates(pipeline)
        for tid, d in durations.items():
            # An exponential moving average: recent runs count most.
            old[tid] = round(d if tid not in old else 0.5 * old[tid] + 0.5 * d, 4)
        makedirs(self.root / pipeline)
        write_atomic(self.root / pipeline / "durations.json", json.dumps(old, sort_keys=True).encode())
