"""The history: one read API over the state folder (RunStore), and the few writes that are
not a run's own events (StateDir: new runs, the interval ledger, duration estimates).

`status`, `list`, `logs`, tick and the web UI all read through RunStore. It reads a run's
events incrementally: a store that is kept (the web server) re-reads only the bytes
appended since its last look, keyed by the file's identity, size and modification time.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..model import RUN_RUNNING
from . import events as ev
from .events import EventLog, RunView, apply, interrupted_view, now_utc, read_from
from .layout import RUN_ID_RE, Layout, NotFound
from .liveness import alive_groups, process_alive, this_host
from .locks import FileLock


@dataclass
class _Cached:
    stamp: tuple[int, int, int, int]      # (device, inode, size, mtime_ns)
    offset: int                           # bytes applied: whole lines only
    view: RunView


class RunStore:
    """Read the history in the state folder."""

    def __init__(self, root: str | os.PathLike, cache: bool = False):
        self.layout = Layout(root)
        self.root = self.layout.root
        self._cache: dict[Path, _Cached] | None = {} if cache else None

    # -- pipelines and runs -----------------------------------------------------------
    def pipelines(self) -> list[str]:
        """Names of the pipelines with history, sorted."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return sorted(n for n in names if _is_pipeline(n) and (self.root / n / "runs").is_dir())

    def run_ids(self, pipeline: str) -> list[str]:
        """Run ids of a pipeline, oldest first (ids sort by start time)."""
        try:
            return sorted(n for n in os.listdir(self.layout.runs_dir(pipeline)) if RUN_ID_RE.match(n))
        except OSError:
            return []

    def runs(self, pipeline: str, limit: int | None = None, before: str | None = None) -> list[RunView]:
        """The latest `limit` runs (before run id `before`, for paging), oldest first."""
        ids = self.run_ids(pipeline)
        if before is not None:
            ids = [r for r in ids if r < before]
        if limit is not None:
            ids = ids[-limit:] if limit > 0 else []
        return [self._view(pipeline, r) for r in ids]

    def run(self, pipeline: str, run_id: str | None = None) -> RunView:
        """A run by id, or the latest one (None or 'latest'). NotFound if there is none."""
        ids = self.run_ids(pipeline)
        if run_id in (None, "latest"):
            if not ids:
                raise NotFound(f"pipeline {pipeline!r} has no runs yet (state folder {self.root})")
            run_id = ids[-1]
        elif not RUN_ID_RE.match(run_id) or run_id not in ids:
            import difflib

            close = difflib.get_close_matches(run_id, ids, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise NotFound(f"no run {run_id!r} of pipeline {pipeline!r}{hint}")
        return self._view(pipeline, run_id)

    def latest(self, pipeline: str) -> RunView | None:
        ids = self.run_ids(pipeline)
        return self._view(pipeline, ids[-1]) if ids else None

    def latest_attempt_elsewhere(self, pipeline: str, task: str, not_in: str, limit: int = 200) -> str | None:
        """The newest run other than `not_in` in which `task` made an attempt (where its
        latest log is), or None; the latest `limit` runs are looked at."""
        for run_id in reversed(self.run_ids(pipeline)[-limit:]):
            if run_id != not_in:
                t = self._view(pipeline, run_id).tasks.get(task)
                if t is not None and t.attempt:
                    return run_id
        return None

    def unfinished_before(self, pipeline: str, run: RunView, limit: int = 50) -> tuple[RunView, list[str]] | None:
        """The newest run before `run` that has tasks to resume (failed, upstream_failed,
        cancelled or never started) that no later run ran again, and those tasks; None if
        there is none. Runs of a scheduled pipeline count per interval: a run of another
        logical date settles nothing of this one."""
        from ..model import SKIPPED, SUCCEEDED

        settled: set[tuple] = set()

        def key(r: RunView, tid: str) -> tuple:
            scheduled = r.interval_start != r.interval_end
            return (r.interval_start, tid) if scheduled else (None, tid)

        settled.update(key(run, t) for t in run.selected)
        ids = [r for r in self.run_ids(pipeline) if r < run.run_id][-limit:]
        for run_id in reversed(ids):
            r = self._view(pipeline, run_id)
            if r.state == RUN_RUNNING:
                continue
            left = [t for t in r.selected if key(r, t) not in settled
                    and r.tasks.get(t) is not None and r.tasks[t].state not in (SUCCEEDED, SKIPPED)]
            if left:
                return r, left
            settled.update(key(r, t) for t in r.selected)
        return None

    def run_at(self, pipeline: str, run_dir: Path) -> RunView:
        """A run by its folder (the ledger's runs), whatever state it is in."""
        return self._view(pipeline, run_dir.name)

    # -- live reading ------------------------------------------------------------------
    def follow(self, pipeline: str, run_id: str, offset: int = 0) -> tuple[list[dict], int]:
        """The events appended since byte `offset` (whole lines only) and the new offset."""
        path = self.layout.events(self.layout.run_dir(pipeline, run_id))
        if not path.exists():
            raise NotFound(f"no run {run_id!r} of pipeline {pipeline!r}")
        events, _, end = read_from(path, offset, final=False)
        return events, end

    def log_path(self, pipeline: str, run_id: str, task: str, attempt: int) -> Path:
        return self.layout.log(self.layout.run_dir(pipeline, run_id), task, attempt)

    def log(self, pipeline: str, run_id: str, task: str, attempt: int, offset: int = 0,
            limit: int | None = None) -> tuple[bytes, int]:
        """A task attempt's log from byte `offset` (at most `limit` bytes) and the new offset."""
        path = self.log_path(pipeline, run_id, task, attempt)
        try:
            with open(path, "rb") as f:
                f.seek(max(0, offset))
                data = f.read() if limit is None else f.read(limit)
        except FileNotFoundError:
            raise NotFound(f"no log for task {task!r} attempt {attempt} in run {run_id}") from None
        except OSError as e:
            raise UsageError(f"cannot read {path}: {e.strerror}") from None
        return data, max(0, offset) + len(data)

    # -- replay ------------------------------------------------------------------------
    def _view(self, pipeline: str, run_id: str) -> RunView:
        run_dir = self.layout.run_dir(pipeline, run_id)
        path = self.layout.events(run_dir)
        view = self._replay(pipeline, run_id, path)
        if view.format is not None and (not isinstance(view.format, int) or view.format > ev.EVENT_FORMAT):
            raise UsageError(f"run {run_id} of {pipeline!r} was written by a newer pipe (event format "
                             f"{view.format}; this pipe reads up to {ev.EVENT_FORMAT}): upgrade pipe to read it")
        view = _settled(view, self.layout.run_lock(run_dir))
        if self._cache is not None and view.state != RUN_RUNNING:
            cached = self._cache.get(path)
            if cached is not None and cached.offset < cached.stamp[2]:
                # A kept store leaves an unterminated last line for its next read, as a live
                # follower must; once the run is over that line is torn for good: count it,
                # as a one-off read does.
                from dataclasses import replace

                view = replace(view, skipped_lines=view.skipped_lines + 1)
        return view

    def _replay(self, pipeline: str, run_id: str, path: Path) -> RunView:
        run_dir = path.parent
        if self._cache is None:
            events, skipped, _ = read_from(path)
            return ev.replay(run_id, pipeline, run_dir, events, skipped)
        try:
            st = os.stat(path)
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            return RunView(run_id=run_id, pipeline=pipeline, dir=run_dir)
        cached = self._cache.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached.view
        if cached is None or cached.stamp[:2] != stamp[:2] or cached.stamp[2] > stamp[2]:
            cached = _Cached(stamp, 0, RunView(run_id=run_id, pipeline=pipeline, dir=run_dir))
        events, skipped, end = read_from(path, cached.offset, final=False)
        for e in events:
            apply(cached.view, e)
        cached.view.skipped_lines += skipped
        cached.offset, cached.stamp = end, stamp
        self._cache[path] = cached
        return cached.view


def _is_pipeline(name: str) -> bool:
    from .layout import PIPELINE_RE

    return bool(PIPELINE_RE.fullmatch(name))


def _settled(view: RunView, lock_path: Path) -> RunView:
    """A run with no final event is running while its `pipe` lives, on this host; a run on
    another host cannot be checked from here and is shown running there until its events
    say otherwise; a run whose first event is not written yet is running while its `pipe`
    holds the run's lock (it is starting); otherwise its `pipe` died: interrupted."""
    if view.ended:
        return view
    if view.host and view.host != this_host():
        view.state = RUN_RUNNING
        return view
    if view.pid is None and _locked(lock_path):
        view.state = RUN_RUNNING
        return view
    if process_alive(view.pid, view.pid_start):
        view.state = RUN_RUNNING
        return view
    return interrupted_view(view, "interrupted: pipe stopped", lambda groups: alive_groups(groups, reuse=True))


def _locked(path: Path) -> bool:
    """Whether a process holds the lock file (without taking it for long)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


class StateDir(RunStore):
    """The state folder, with the writes that are not a run's own events."""

    def pipeline_dir(self, pipeline: str, create: bool = False) -> Path:
        path = self.layout.pipeline_dir(pipeline)
        return makedirs(path) if create else path

    def runs_dir(self, pipeline: str) -> Path:
        return self.layout.runs_dir(pipeline)

    def new_run(self, pipeline: str, kind: str, now: datetime | None = None) -> tuple[str, Path]:
        now = (now or now_utc()).astimezone(timezone.utc)
        runs = makedirs(self.layout.runs_dir(pipeline))
        while True:
            run_id = f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{kind}-{os.urandom(2).hex()}"
            run_dir = runs / run_id
            try:
                os.mkdir(run_dir, 0o700)     # mkdir is the claim: two runs never share a folder
            except FileExistsError:
                continue
            makedirs(self.layout.logs_dir(run_dir))
            makedirs(self.layout.outputs_dir(run_dir))
            return run_id, run_dir

    def run_lock(self, run_dir: Path) -> FileLock:
        return FileLock(self.layout.run_lock(run_dir))

    # The interval ledger ------------------------------------------------------------
    def claim(self, pipeline: str, **record: Any) -> None:
        makedirs(self.layout.pipeline_dir(pipeline))
        log = EventLog(self.layout.ledger(pipeline))
        try:
            log.append("interval", **record)
        finally:
            log.close()

    def ledger(self, pipeline: str) -> list[dict]:
        events, _ = ev.read_events(self.layout.ledger(pipeline))
        return [e for e in events if isinstance(e.get("start"), str) and isinstance(e.get("run_id"), str)
                and RUN_ID_RE.match(e["run_id"])]

    def lock(self, pipeline: str) -> FileLock:
        makedirs(self.layout.pipeline_dir(pipeline))
        return FileLock(self.layout.pipeline_lock(pipeline))

    # Duration estimates --------------------------------------------------------------
    def estimates(self, pipeline: str) -> dict[str, float]:
        data = read_json_dict(self.layout.durations(pipeline))
        return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))}

    def save_estimates(self, pipeline: str, durations: dict[str, float]) -> None:
        if not durations:
            return
        old = self.estimates(pipeline)
        for tid, d in durations.items():
            # An exponential moving average: recent runs count most.
            old[tid] = round(d if tid not in old else 0.5 * old[tid] + 0.5 * d, 4)
        makedirs(self.layout.pipeline_dir(pipeline))
        write_atomic(self.layout.durations(pipeline), json.dumps(old, sort_keys=True).encode())


def tail_lines(path: Path, lines: int, window: int = 65536) -> list[str]:
    """The last `lines` lines of a log, read from its last `window` bytes only (a log may be
    huge); [] when there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - window))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def makedirs(path: Path) -> Path:
    """A folder and its missing parents, each 0700 (os.makedirs gives `mode` to the last only).
    An unusable place (a file in the way, no permission, /proc) is a UsageError, not a traceback."""
    path = Path(path)
    try:
        if not path.is_dir() and path.parent != path and not path.parent.is_dir():
            makedirs(path.parent)
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the folder {path}: {e.strerror or e}") from None
    return path


def read_json_dict(path: Path) -> dict:
    """A small JSON file of pipe's own (a cache, a memory): {} when it is absent, unreadable
    or not an object (it is rebuilt, never trusted)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


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
