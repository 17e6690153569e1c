"""The web layer's one door to history and pipeline files.

Every page and API answer reads through `History`. The documents of the JSON API come from
the same functions as `pipe list --json` and `pipe status --json` (commands.list_pipelines,
run_status, pipeline_runs).

Runs come from the state's RunStore with its cache on: a kept store re-reads only the
bytes appended to a run's events since its last look.
"""
from __future__ import annotations

import copy
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..errors import PipeError, SpecError, UsageError
from ..state import RUN_ID_RE, NotFound, RunStore, this_host
from ..state.layout import PIPELINE_RE as STATE_PIPELINE_RE, TASK_RE

PIPELINE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")   # a name, or the stem of an invalid file


@dataclass
class Run:
    """A run as the pages show it: the store's view, and whether it runs on another host."""

    view: Any                              # state.RunView

    @property
    def run_id(self) -> str:
        return self.view.run_id

    @property
    def state(self) -> str:
        return self.view.state

    @property
    def host(self) -> str | None:
        return self.view.host

    @property
    def remote(self) -> bool:
        """Its pipe runs on another machine (a shared state folder): shown running there."""
        return not self.view.ended and bool(self.view.host) and self.view.host != this_host()


class History:
    """Pipelines (files and history), runs, logs: read-only, cached."""

    def __init__(self, g):
        self.g = g                      # commands.Globals: the folders, as the CLI found them
        self.pipelines_dir = Path(g.pipelines_dir).absolute()
        self.state_dir = Path(g.state_dir).absolute()
        self.store = RunStore(self.state_dir, cache=True)
        self._specs: dict[Path, tuple[tuple[int, int], Any]] = {}
        self._errors: dict[Path, list[str]] = {}       # an invalid file's file:line:column messages
        self._ids: dict[str, tuple[int, list[str], frozenset]] = {}
        self._list: tuple[tuple, datetime, dict] | None = None
        self._running: set[tuple[str, str]] = set()
        self._logical: dict[tuple[str, str], float] = {}
        self._views: dict[tuple[str, str], tuple[tuple[int, int], Run]] = {}

    # -- pipelines ----------------------------------------------------------------------
    def list_doc(self) -> dict:
        """The document of `pipe list --json`, made by the CLI's own function. It is kept
        until a pipeline file or a latest run changes, or the earliest `next_due` passes
        (at most 10 s when a pipeline is overdue or has a deadline: those move with time)."""
        return copy.deepcopy(self._list_rows(whole=True))

    def _list_rows(self, whole: bool = False):
        """list_doc's cached document (whole=True) or its rows, not copied: not to be changed."""
        key = self._list_key()
        now = datetime.now(timezone.utc)
        cached = self._list
        if cached is not None and cached[0] == key and now < cached[1]:
            return cached[2] if whole else cached[2].get("pipelines", [])
        doc = self._list_doc()
        rows = doc.get("pipelines", [])
        dues = [datetime.fromisoformat(r["next_due"]) for r in rows if r.get("next_due")]
        dues = [d if d > now else now + timedelta(seconds=10) for d in dues]   # overdue: it moves on
        if any("late" in r for r in rows):      # a deadline can pass at any time: look again soon
            dues.append(now + timedelta(seconds=10))
        self._list = (key, min(dues, default=now + timedelta(days=365)), doc)
        return doc if whole else rows

    def _list_key(self) -> tuple:
        from .. import spec

        files = []
        try:
            paths = spec.discover(self.pipelines_dir)
        except (PipeError, OSError):
            paths = []
        for path in paths:
            try:
                st = path.stat()
                files.append((str(path), st.st_size, st.st_mtime_ns))
            except OSError:
                files.append((str(path), None, None))
        latest = []
        for name in self.store.pipelines():
            ids = self.run_ids(name)
            if ids:
                path = self.store.layout.events(self.store.layout.run_dir(name, ids[-1]))
                try:
                    st = path.stat()
                    stamp = (st.st_size, st.st_mtime_ns)
                except OSError:
                    stamp = None
                latest.append((name, ids[-1], stamp, self.run(name, ids[-1]).state))
        paused = tuple(sorted(str(p) for p in self.store.root.glob("*/paused.json")))     # pipe pause (SPEC 12)
        return tuple(files), tuple(latest), paused

    def overview_stamp(self) -> tuple:
        """Changes when the overview may show something else: a file, a new or changed
        latest run, or a change of state of any run that was running."""
        running = tuple((name, rid, self.run(name, rid).state) for name, rid in sorted(self._running))
        key = self._list_key()
        self._running = {(name, rid) for name, rid, _, state in key[1] if state == "running"} | \
            {(name, rid) for name, rid, state in running if state == "running"}
        return key, running

    def _list_doc(self) -> dict:
        from .. import commands

        return commands.list_pipelines(self.g).to_json()

    def status_doc(self, name: str, run_id: str) -> dict:
        """The document of `pipe status NAME --run RUN_ID --json`."""
        from .. import commands

        self.run(name, run_id)          # NotFound for what cannot name a run
        return commands.run_status(self.g, name, run_id).to_json()

    def runs_doc(self, name: str, limit: int) -> dict:
        """A pipeline's latest runs, newest first, as `pipe status NAME --json` lists them."""
        from .. import commands

        return commands.pipeline_runs(self.g, name, limit).to_json()

    def spec(self, name: str):
        """The valid pipeline file named `name` (its name or its file's stem), or None."""
        from .. import spec

        try:
            paths = spec.discover(self.pipelines_dir)
        except (PipeError, OSError):
            return None
        for path in paths:
            p = self._load(path)
            if p is not None and (p.name == name or path.stem == name):
                return p
        return None

    def _load(self, path: Path):
        from .. import spec

        try:
            st = path.stat()
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        hit = self._specs.get(path)
        if hit and hit[0] == key:
            return hit[1]
        errors: list[str] = []
        try:
            p = spec.load(path, cache=self.store.layout.spec_cache, write_cache=False)
        except SpecError as e:
            p, errors = None, e.lines()
        except (UsageError, OSError) as e:
            p, errors = None, [str(e)]
        self._specs[path] = (key, p)
        self._errors[path] = errors
        return p

    def file_path(self, name: str) -> Path | None:
        """The pipeline file named `name` (its name, or an invalid file's stem), or None."""
        from .. import spec

        p = self.spec(name)
        if p is not None:
            return Path(p.path)
        try:
            paths = spec.discover(self.pipelines_dir)
        except (PipeError, OSError):
            return None
        return next((path for path in paths if path.stem == name), None)

    def errors(self, name: str) -> list[str]:
        """The messages (file:line:column: what is wrong) of the invalid file named `name`
        (its stem), as `pipe validate` says them; [] when there is none."""
        from .. import spec

        try:
            paths = spec.discover(self.pipelines_dir)
        except (PipeError, OSError):
            return []
        for path in paths:
            if path.stem == name and self._load(path) is None:
                return self._errors.get(path, [])
        return []

    def spec_of_file(self, file: str | None):
        return self._load(Path(file)) if file else None

    def names(self) -> list[str]:
        """Every pipeline with a file or a history."""
        from .. import spec

        names = set(self.store.pipelines())
        try:
            paths = spec.discover(self.pipelines_dir)
        except (PipeError, OSError):
            paths = []
        for path in paths:
            p = self._load(path)
            names.add(p.name if p is not None else path.stem)
        return sorted(names)

    def check_name(self, name: str) -> str:
        if not PIPELINE_RE.match(name) or name not in self.names():
            raise NotFound(f"no pipeline {name!r}")
        return name

    # -- runs -----------------------------------------------------------------------------
    def pipelines_with_history(self) -> list[str]:
        return self.store.pipelines()

    def run_ids(self, name: str) -> list[str]:
        """Run ids, oldest first; listed again only when the runs folder changes."""
        if not STATE_PIPELINE_RE.fullmatch(name):
            return []
        try:
            mtime = os.stat(f"{self.store.root}/{name}/runs").st_mtime_ns     # layout.runs_dir, as a string
        except OSError:
            return []
        hit = self._ids.get(name)
        # A folder's mtime has the kernel's coarse clock: two runs begun within one tick of it
        # leave the same mtime, so a listing younger than 2 s is made again.
        if hit is None or hit[0] != mtime or time.time_ns() - mtime < 2_000_000_000:
            ids = self.store.run_ids(name)
            hit = self._ids[name] = (mtime, ids, frozenset(ids))
        return hit[1]

    def by_logical_date(self, name: str) -> list[str]:
        """Run ids ordered by their logical date (then id): the grid's columns. A run's logical
        date never changes once written, so each run is read for it once."""
        ids = self.run_ids(name)
        key = []
        for rid in ids:
            when = self._logical.get((name, rid))
            if when is None:
                when = _timestamp(self.run(name, rid).view.logical_date)
                if when is not None:
                    self._logical[(name, rid)] = when
                else:
                    when = _id_time(rid)       # not begun yet: where it started
            key.append((when, rid))
        key.sort()
        return [rid for _, rid in key]

    def logical_time(self, name: str, run_id: str) -> float:
        when = self._logical.get((name, run_id))
        return when if when is not None else _id_time(run_id)

    def has_run(self, name: str, run_id: str) -> bool:
        self.run_ids(name)
        hit = self._ids.get(name)
        return hit is not None and run_id in hit[2]

    def run(self, name: str, run_id: str) -> Run:
        if not STATE_PIPELINE_RE.fullmatch(name) or not RUN_ID_RE.match(run_id or ""):
            raise NotFound(f"no run {run_id!r} of pipeline {name!r}")
        if not self.has_run(name, run_id):
            raise NotFound(f"no run {run_id!r} of pipeline {name!r}")
        # A finished run is read again only when its events file changes (a notification, a
        # mark): one stat of a path made as a string, not the store's path objects (the
        # overview reads 600 runs at each look).
        path = f"{self.store.root}/{name}/runs/{run_id}/events.jsonl"
        try:
            st = os.stat(path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            stamp = None
        hit = self._views.get((name, run_id))
        if hit is not None and stamp is not None and hit[0] == stamp:
            return hit[1]
        view = self.store.run_at(name, self.store.layout.run_dir(name, run_id))
        run = Run(view)
        if view.ended and stamp is not None:
            self._views[(name, run_id)] = (stamp, run)
        return run

    def runs(self, name: str, limit: int | None = None) -> list[Run]:
        """The latest `limit` runs, oldest first."""
        ids = self.run_ids(name)
        if limit is not None:
            ids = ids[-limit:] if limit > 0 else []
        return [self.run(name, r) for r in ids]

    def run_stamp(self, name: str, run_id: str) -> tuple:
        """Changes whenever what a page shows of the run may have changed."""
        path = self.store.layout.events(self.store.layout.run_dir(name, run_id))
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size = mtime = 0
        view = self.run(name, run_id).view
        # The last item: the tasks still running. A killed pipe's task goes from running to
        # cancelled when its process group is gone, with no event written.
        running = tuple(tid for tid, t in view.tasks.items() if t.state == "running")
        return (run_id, view.state, view.started is not None, size, mtime, running)

    def due_stamp(self, name: str | None = None) -> tuple:
        """Changes when a pipeline's next due time moves or becomes overdue (pipe list's own
        reckoning): its page, or the overview, says so without a reload."""
        try:
            rows = self._list_rows()
        except PipeError:
            return ()
        return tuple((r["name"], r.get("next_due"), r.get("overdue")) for r in rows
                     if name is None or r["name"] == name)

    def executions(self, view) -> list[tuple[str, str | None]]:
        """A run's executions: its first start and each resume, as (begin, end) times; end is
        None while it runs. An execution whose pipe died without a last word ends with its
        last sign of life: its last event, or the last write to the log of an attempt it left
        unfinished (a killed pipe's task runs on until its watcher stops it), whichever is
        later, and never after the resume that followed."""
        if not view.started:
            return []
        killed = not view.ended and view.state != "running"
        if not view.resumed and not killed:
            return [(view.started, view.finished)]
        from ..state.events import NOTIFY, RUN_FINISHED, RUN_RESUMED, RUN_STARTED, read_events

        events, _ = read_events(self.store.layout.events(view.dir))
        spans: list[list] = []          # [begin, end, closed by run_finished]
        last = None
        for e in events:
            kind, when = e.get("event"), e.get("time")
            if not isinstance(when, str) or kind == NOTIFY:
                continue
            if kind in (RUN_STARTED, RUN_RESUMED):
                if spans and spans[-1][1] is None:
                    spans[-1][1] = last
                spans.append([when, None, False])
            elif kind == RUN_FINISHED and spans:
                spans[-1][1], spans[-1][2] = when, True
            last = when
        if spans and spans[-1][1] is None and view.state != "running":
            spans[-1][1] = view.finished or last
        for i, span in enumerate(spans):
            if span[2] or span[1] is None:
                continue
            limit = spans[i + 1][0] if i + 1 < len(spans) else None
            seen = self._last_log_write(view, span[0], limit)
            try:
                if seen is not None and datetime.fromisoformat(seen) > datetime.fromisoformat(span[1]):
                    span[1] = seen
            except (TypeError, ValueError):
                pass
        return [(b, e) for b, e, _ in spans]

    def _last_log_write(self, view, begin: str, limit: str | None) -> str | None:
        """The latest write (ISO time, UTC) to the log of an attempt that began at or after
        `begin` and never ended, up to `limit`."""
        try:
            b = datetime.fromisoformat(begin)
            cap = datetime.fromisoformat(limit) if limit else None
        except ValueError:
            return None
        if b.tzinfo is None:
            return None
        latest = None
        for t in view.tasks.values():
            for a in t.attempts:
                if a.finished is not None or not a.started:
                    continue
                try:
                    if datetime.fromisoformat(a.started) < b:
                        continue
                    mtime = self.store.log_path(view.pipeline, view.run_id, t.id, a.number).stat().st_mtime
                except (OSError, ValueError, TypeError):
                    continue
                when = datetime.fromtimestamp(mtime, timezone.utc)
                if cap is not None and cap.tzinfo is not None:
                    when = min(when, cap)
                latest = when if latest is None or when > latest else latest
        return latest.isoformat() if latest is not None else None

    # -- logs ------------------------------------------------------------------------------
    def log_path(self, name: str, run_id: str, task: str, attempt: int) -> Path:
        run = self.run(name, run_id)
        from ..state.events import instance_of

        found = instance_of(task or "")
        t = run.view.task(task) if TASK_RE.fullmatch(found[0] if found else task or "") else None
        if t is None:
            raise NotFound(f"run {run_id} has no task {task!r}")
        if not isinstance(attempt, int) or attempt < 1 or attempt > max(t.attempt, 0):
            raise NotFound(f"task {task!r} of run {run_id} has no attempt {attempt}")
        path = self.store.log_path(name, run_id, task, attempt)
        if not path.is_file():
            raise NotFound(f"no log for task {task!r} attempt {attempt} in run {run_id}")
        return path

    def log(self, name: str, run_id: str, task: str, attempt: int, offset: int = 0,
            limit: int | None = None) -> tuple[bytes, int]:
        """The log's bytes from `offset` (at most `limit`), and the offset after them."""
        self.log_path(name, run_id, task, attempt)
        return self.store.log(name, run_id, task, attempt, offset, limit)


def _timestamp(value: str | None) -> float | None:
    try:
        t = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _id_time(run_id: str) -> float:
    """The start time a run id begins with (20261207T235331136Z-...), in seconds."""
    try:
        return datetime.strptime(run_id[:18], "%Y%m%dT%H%M%S%f").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return 0.0
