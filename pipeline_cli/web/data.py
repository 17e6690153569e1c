"""The web layer's one door to history and pipeline files.

Every page and API answer reads through `History`. The documents of `/api/pipelines` and of a run come
from the same functions as `pipe list --json` and `pipe status --json`.

Runs come from the state's RunStore with its cache on: a kept store re-reads only the
bytes appended to a run's events since its last look.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError, UsageError
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

    @property
    def attempts(self) -> dict[str, list]:
        return {tid: t.attempts for tid, t in self.view.tasks.items()}

    def to_json(self) -> dict:
        return self.view.to_json()


class History:
    """Pipelines (files and history), runs, logs: read-only, cached."""

    def __init__(self, pipelines_dir: str | os.PathLike, state_dir: str | os.PathLike):
        self.given = (Path(pipelines_dir), Path(state_dir))    # as the CLI would see them (same cwd)
        self.pipelines_dir = Path(pipelines_dir).absolute()
        self.state_dir = Path(state_dir).absolute()
        self.store = RunStore(self.state_dir, cache=True)
        self._specs: dict[Path, tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()

    # -- pipelines ----------------------------------------------------------------------
    def _globals(self):
        from ..commands import Globals

        return Globals(*self.given)

    def list_doc(self) -> dict:
        """The document of `pipe list --json`."""
        from .. import commands

        # commands.list_pipelines prints its document; until it returns a typed result,
        # read what it prints (one JSON line) rather than build the document a second time.
        out, err = io.StringIO(), io.StringIO()
        with self._lock, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            commands.list_pipelines(self._globals(), True)
        return json.loads(out.getvalue())

    def spec(self, name: str):
        """The valid pipeline file named `name` (its name or its file's stem), or None."""
        from .. import spec

        for path in spec.discover(self.pipelines_dir):
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
        try:
            p = spec.load(path, cache=self.state_dir / "cache" / "specs")
        except (SpecError, UsageError, OSError):
            p = None
        self._specs[path] = (key, p)
        return p

    def spec_of_file(self, file: str | None):
        return self._load(Path(file)) if file else None

    def names(self) -> list[str]:
        """Every pipeline with a file or a history."""
        from .. import spec

        names = set(self.store.pipelines())
        for path in spec.discover(self.pipelines_dir):
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
        if not STATE_PIPELINE_RE.fullmatch(name):
            return []
        return self.store.run_ids(name)

    def run(self, name: str, run_id: str) -> Run:
        if not STATE_PIPELINE_RE.fullmatch(name) or not RUN_ID_RE.match(run_id or ""):
            raise NotFound(f"no run {run_id!r} of pipeline {name!r}")
        return Run(self.store.run(name, run_id))

    def runs(self, name: str, limit: int | None = None) -> list[Run]:
        """The latest `limit` runs, oldest first."""
        if not STATE_PIPELINE_RE.fullmatch(name):
            return []
        return [Run(v) for v in self.store.runs(name, limit=limit)]

    def run_stamp(self, name: str, run_id: str) -> tuple:
        """Changes whenever what a page shows of the run may have changed."""
        path = self.store.layout.events(self.store.layout.run_dir(name, run_id))
        try:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size = mtime = 0
        view = self.run(name, run_id).view
        return (run_id, view.state, view.started is not None, size, mtime)

    # -- logs ------------------------------------------------------------------------------
    def log_path(self, name: str, run_id: str, task: str, attempt: int) -> Path:
        run = self.run(name, run_id)
        if not TASK_RE.fullmatch(task or "") or task not in run.view.tasks:
            raise NotFound(f"run {run_id} has no task {task!r}")
        if not isinstance(attempt, int) or attempt < 1 or attempt > max(run.view.tasks[task].attempt, 0):
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
