"""Where everything lives in the state folder: the one place that knows the layout.

    <state>/<pipeline>/runs/<run_id>/events.jsonl       append-only, one event a line
    <state>/<pipeline>/runs/<run_id>/lock               held by the pipe running or resuming it
    <state>/<pipeline>/runs/<run_id>/logs/<task>.<attempt>.log
    <state>/<pipeline>/runs/<run_id>/outputs/<task>.<attempt>   $PIPE_OUTPUT (and .json)
    <state>/<pipeline>/intervals.jsonl                  ledger: the intervals claimed by runs
    <state>/<pipeline>/durations.json                   task duration estimates
    <state>/<pipeline>/notify.json                      what notifications remember (streaks, deadlines)
    <state>/<pipeline>/lock                             held by tick and backfill
    <state>/<pipeline>/paused.json                      `pipe pause`: who, when, why (absent: not paused)
    <state>/<pipeline>/pruned.jsonl                     runs `pipe prune` removed: id, interval, state
    <state>/retention.json                              when tick last applied pipe.yaml's retention
    <state>/cache/specs/                                validated pipeline files
    <state>/cache/tick.json                             tick's "nothing due" cache
    <state>/tick-problems.json                          what tick said about broken files (once each)

Folders are 0700 and files 0600. Names that reach a path are checked here, so an id from a
URL or a command line can never point outside the state folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import UsageError

RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{9}Z-[a-z]+-[0-9a-f]{4}$")
PIPELINE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
TASK_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
POOL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
ASSET_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,127}$")


class NotFound(UsageError):
    """A pipeline, run, task, attempt or log that does not exist (or a name that cannot)."""


def check_name(kind: str, value: str, pattern: re.Pattern) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise NotFound(f"no {kind} {value!r}")
    return value


def events_file(run_dir: Path) -> Path:
    return Path(run_dir) / "events.jsonl"


def _task_name(task: str) -> str:
    """A task id, or an instance `ID[N]` of a foreach task, checked as a file name part."""
    if task.endswith("]") and "[" in task:
        base, _, index = task[:-1].partition("[")
        if index.isdigit() and len(index) <= 5:
            return f"{check_name('task', base, TASK_RE)}[{int(index)}]"
    return check_name("task", task, TASK_RE)


def log_file(run_dir: Path, task: str, attempt: int) -> Path:
    return Path(run_dir) / "logs" / f"{_task_name(task)}.{int(attempt)}.log"


def output_file(run_dir: Path, task: str, attempt: int) -> Path:
    return Path(run_dir) / "outputs" / f"{_task_name(task)}.{int(attempt)}"


class Layout:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()     # tasks run elsewhere: their paths must be absolute

    def pipeline_dir(self, pipeline: str) -> Path:
        return self.root / check_name("pipeline", pipeline, PIPELINE_RE)

    def runs_dir(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "runs"

    def run_dir(self, pipeline: str, run_id: str) -> Path:
        return self.runs_dir(pipeline) / check_name("run", run_id, RUN_ID_RE)

    def events(self, run_dir: Path) -> Path:
        return events_file(run_dir)

    def run_lock(self, run_dir: Path) -> Path:
        return run_dir / "lock"

    def logs_dir(self, run_dir: Path) -> Path:
        return run_dir / "logs"

    def outputs_dir(self, run_dir: Path) -> Path:
        return run_dir / "outputs"

    def log(self, run_dir: Path, task: str, attempt: int) -> Path:
        return log_file(run_dir, task, attempt)

    def output(self, run_dir: Path, task: str, attempt: int) -> Path:
        return output_file(run_dir, task, attempt)

    def ledger(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "intervals.jsonl"

    def durations(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "durations.json"

    def notify_memory(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "notify.json"

    def asset_file(self, asset: str) -> Path:
        """The partitions of an asset (state/assets.py)."""
        return self.root / "assets" / f"{check_name('asset', asset, ASSET_RE)}.jsonl"

    def pool_dir(self, pool: str) -> Path:
        """The slot files of a pool (state/pools.py)."""
        return self.root / "pools" / check_name("pool", pool, POOL_RE)

    def notify_dir(self, run_dir: Path) -> Path:
        """What each delivery of a run's notifications said (its command's output)."""
        return Path(run_dir) / "notify"

    def notify_log(self, pipeline: str) -> Path:
        """The notify events of a pipeline that belong to no run (a deadline passed with none)."""
        return self.pipeline_dir(pipeline) / "notify.jsonl"

    @property
    def tick_problems(self) -> Path:
        """The pipeline files tick found invalid, each remembered once per content."""
        return self.root / "tick-problems.json"

    def pipeline_lock(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "lock"

    def paused(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "paused.json"

    def pruned(self, pipeline: str) -> Path:
        return self.pipeline_dir(pipeline) / "pruned.jsonl"

    @property
    def retention_stamp(self) -> Path:
        return self.root / "retention.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def spec_cache(self) -> Path:
        return self.root / "cache" / "specs"

    @property
    def tick_cache(self) -> Path:
        return self.root / "cache" / "tick.json"
