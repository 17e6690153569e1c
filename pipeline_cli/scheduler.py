"""`pipe tick` and `pipe backfill`: which intervals are due, and running them exactly once.

Exactly once: a run claims its interval in the pipeline's ledger (intervals.jsonl) under
the pipeline's lock, so two ticks never run one interval twice; a claim whose run never
wrote its first event (its `pipe` died at once) does not count. An interrupted scheduled
run is resumed by the next tick. A tick that finds nothing due for a pipeline remembers
until when nothing can become due (keyed by the file's digest), so the next ticks answer
from that cache without loading YAML, the schema or croniter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, SpecError, UsageError
from .model import BACKFILL, RUN_INTERRUPTED, RUN_RUNNING, RUN_SUCCEEDED, SCHEDULED, Pipeline
from .state import StateDir, makedirs, write_atomic

RECENT = 50          # ledger entries whose runs are checked for being active or interrupted
CACHE = "cache/tick.json"


@dataclass
class Due:
    """What tick would do for one pipeline now, and why."""

    pipeline: Pipeline
    intervals: list = field(default_factory=list)        # schedule.Interval, oldest first
    resume: list = field(default_factory=list)           # RunView of interrupted scheduled runs
    active: int = 0
    why: str = ""
    next_due: datetime | None = None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def due(pipeline: Pipeline, state: StateDir, now: datetime) -> Due:
    from .schedule import Schedule
    from .state import replay

    result = Due(pipeline)
    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    ledger = state.ledger(pipeline.name)
    claimed: dict[str, dict] = {}
    for i, entry in enumerate(ledger):
        if i >= len(ledger) - RECENT:
            run = replay(entry["run_id"], pipeline.name, state.runs_dir(pipeline.name) / entry["run_id"])
            if run.started is None and run.state != RUN_RUNNING:
                continue       # claimed, but its pipe died before the run began: not run
            if run.state == RUN_RUNNING:
                result.active += 1
            elif run.state == RUN_INTERRUPTED and run.kind == SCHEDULED:
                result.resume.append(run)
        claimed[_utc(entry["start"]).isoformat()] = entry
    # An interval resumed later (or rerun) is no longer interrupted.
    result.resume = [r for r in result.resume if claimed.get(_utc(r.interval_start).isoformat(), {}).get("run_id") == r.run_id]
    latest = sched.latest_complete(now)
    result.next_due = sched.next_due(now)
    catchup = pipeline.catchup
    if latest is None:
        result.why = "no interval has ended yet" + (f" (start_date {pipeline.start_date.date()})" if pipeline.start_date else "")
        candidates = []
    elif not claimed:
        if catchup is True and pipeline.start_date is not None:
            candidates = sched.intervals(pipeline.start_date, now)
        elif catchup and catchup is not True:
            candidates = sched.intervals(now - timedelta(seconds=catchup), now)
        else:
            candidates = [latest]
    else:
        last_end = max(_utc(e["end"]) for e in claimed.values())
        if catchup is True:
            candidates = sched.intervals(last_end, now)
        elif catchup:
            candidates = sched.intervals(max(last_end, now - timedelta(seconds=catchup)), now)
        else:
            candidates = [latest] if latest.start >= last_end else []
    result.intervals = [c for c in candidates if c.key not in claimed]
    if not result.intervals and not result.resume and latest is not None:
        result.why = f"the latest interval ({latest.start.isoformat()}) has been run"
    if result.active >= pipeline.max_active_runs and (result.intervals or result.resume):
        result.why = f"{result.active} run(s) active, max_active_runs is {pipeline.max_active_runs}"
    return result


# --- the "nothing due" cache ------------------------------------------------------------

def _digest(path: Path) -> str | None:
    from .spec import file_digest

    try:
        return file_digest(path.read_bytes())
    except OSError:
        return None


def quiet(pipelines_dir: Path, state: StateDir, now: datetime) -> bool:
    """True when the cache proves that nothing is due in any pipeline file now."""
    from .spec import discover

    try:
        cache = json.loads((state.root / CACHE).read_bytes())
    except (OSError, ValueError):
        return False
    files = discover(pipelines_dir)
    stamp = now.astimezone(timezone.utc).isoformat()
    for path in files:
        entry = cache.get(str(path.resolve()))
        if not isinstance(entry, dict) or entry.get("digest") != _digest(path):
            return False
        if not (entry.get("from", "~") <= stamp < entry.get("until", "")):
            return False
    return True


def _remember(state: StateDir, quiet_until: dict[str, tuple[str, str, str]]) -> None:
    path = state.root / CACHE
    try:
        cache = json.loads(path.read_bytes())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    for file, (digest, from_, until) in quiet_until.items():
        cache[file] = {"digest": digest, "from": from_, "until": until}
    makedirs(path.parent)
    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())


def _forget(state: StateDir, file: str) -> None:
    path = state.root / CACHE
    try:
        cache = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return
    if isinstance(cache, dict) and cache.pop(file, None) is not None:
        write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())


# --- tick -------------------------------------------------------------------------------

@dataclass
class TickReport:
    exit_code: int = EXIT_OK
    invalid: list[SpecError] = field(default_factory=list)
    plans: list[Due] = field(default_factory=list)


def tick(pipelines_dir: Path, state: StateDir, now: datetime, *, dry_run: bool = False,
         global_args: list[str] | None = None) -> TickReport:
    """Find what is due in every scheduled pipeline and run it; due pipelines run at once,
    each in a child process that holds that pipeline's lock."""
    from . import spec

    report = TickReport()
    stamp = now.astimezone(timezone.utc).isoformat()
    remember: dict[str, tuple[str, str, str]] = {}
    children = []
    for path in spec.discover(pipelines_dir):
        try:
            pipeline = spec.load(path, cache=state.root / "cache" / "specs")
        except SpecError as e:
            report.invalid.append(e)
            continue
        key = str(path.resolve())
        if not pipeline.schedule:
            remember[key] = (pipeline.digest, stamp, "9999")
            continue
        plan = due(pipeline, state, now)
        report.plans.append(plan)
        if not plan.intervals and not plan.resume:
            if plan.active == 0:
                remember[key] = (pipeline.digest, stamp, plan.next_due.astimezone(timezone.utc).isoformat())
            continue
        if plan.active >= pipeline.max_active_runs or dry_run:
            continue
        _forget(state, key)
        command = [sys.executable, "-m", "pipeline_cli", *(global_args or []), "tick", "--now", stamp,
                   "--pipeline-file", str(path)]
        children.append(subprocess.Popen(command))
    if remember and not dry_run:
        _remember(state, remember)
    codes = [c.wait() for c in children]
    if any(c not in (EXIT_OK, EXIT_INVALID) for c in codes):
        report.exit_code = EXIT_FAILED
    elif report.invalid or EXIT_INVALID in codes:
        report.exit_code = EXIT_INVALID
    return report


def tick_pipeline(path: Path, state: StateDir, now: datetime, reporter_for) -> int:
    """The child of tick for one pipeline: under its lock, resume and run what is due."""
    from . import runner, spec
    from .schedule import Interval

    pipeline = spec.load(path, cache=state.root / "cache" / "specs")
    lock = state.lock(pipeline.name)
    if not lock.acquire(wait=False):
        return EXIT_OK            # another tick is on it: leave it alone
    failed = False
    try:
        plan = due(pipeline, state, now)
        slots = pipeline.max_active_runs - plan.active
        for run in plan.resume:
            if slots <= 0:
                break
            view = runner.resume(pipeline, state, run.run_id, reporter=reporter_for(pipeline))
            failed |= view.state != RUN_SUCCEEDED
        for interval in plan.intervals:
            if slots <= 0:
                break
            view = runner.new_run(pipeline, state, reporter=reporter_for(pipeline), kind=SCHEDULED,
                                  window=runner.Window(interval.start, interval.end), claim=True, now=now)
            failed |= view.state != RUN_SUCCEEDED
    finally:
        lock.release()
    return EXIT_FAILED if failed else EXIT_OK


# --- backfill ---------------------------------------------------------------------------

def backfill(pipeline: Pipeline, state: StateDir, start: datetime, end: datetime, *, rerun: bool,
             reporter_for, on_interval=None) -> list[tuple[object, str]]:
    """Run every interval starting in [start, end], oldest first; skip those that already
    succeeded unless rerun. Returns (interval, state) pairs ('skipped' for the skipped)."""
    from . import runner
    from .schedule import Schedule
    from .state import replay

    if not pipeline.schedule:
        raise UsageError(f"pipeline {pipeline.name!r} has no schedule, so it has no intervals to backfill "
                         "(use `pipe run --date`)")
    if end < start:
        raise UsageError(f"--end {end.date()} is before --start {start.date()}")
    sched = Schedule(pipeline.schedule, pipeline.timezone)
    intervals = []
    t = sched.first_start_at_or_after(start)
    while t <= end:
        intervals.append(sched.interval_at(t))
        t = intervals[-1].end
    lock = state.lock(pipeline.name)
    lock.acquire(wait=True)
    results = []
    try:
        succeeded = set()
        for entry in state.ledger(pipeline.name):
            run = replay(entry["run_id"], pipeline.name, state.runs_dir(pipeline.name) / entry["run_id"])
            key = _utc(entry["start"]).isoformat()
            if run.state == RUN_SUCCEEDED:
                succeeded.add(key)
        for i, interval in enumerate(intervals):
            if on_interval:
                on_interval(i, len(intervals), interval)
            if interval.key in succeeded and not rerun:
                results.append((interval, "skipped"))
                continue
            view = runner.new_run(pipeline, state, reporter=reporter_for(pipeline), kind=BACKFILL,
                                  window=runner.Window(interval.start, interval.end), claim=True)
            results.append((interval, view.state))
            if view.state == RUN_INTERRUPTED:
                break
    finally:
        lock.release()
    return results
