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
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .errors import PipeError, SpecError, UsageError
from .model import BACKFILL, RUN_INTERRUPTED, RUN_RUNNING, RUN_SUCCEEDED, SCHEDULED, Pipeline
from .state import StateDir, makedirs, read_json_dict, write_atomic

MAX_BACKFILL = 100_000    # intervals in one backfill: a range of centuries is a mistake, not a plan
RECENT = 50          # ledger entries whose runs are checked for being active or interrupted



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
    if result.intervals:
        result.next_due = result.intervals[0].end     # due already: tick runs it now
    if not result.intervals and not result.resume and latest is not None:
        result.why = f"the latest interval ({latest.start.isoformat()}) has been run"
    if result.active >= pipeline.max_active_runs and (result.intervals or result.resume):
        result.why = f"{result.active} run(s) active, max_active_runs is {pipeline.max_active_runs}"
    return result


def next_due(pipeline: Pipeline, state: StateDir, now: datetime) -> datetime:
    """When tick will next run something of this pipeline: the end of the oldest interval it
    would run now (a time already past), else the end of the next interval to end. `pipe list`
    (and the web pages) show this, so they and tick never disagree."""
    return due(pipeline, state, now).next_due


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

    cache = read_json_dict(state.layout.tick_cache)
    if not cache:
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
    path = state.layout.tick_cache
    cache = read_json_dict(path)
    for file, (digest, from_, until) in quiet_until.items():
        cache[file] = {"digest": digest, "from": from_, "until": until}
    makedirs(path.parent)
    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())


def _forget(state: StateDir, file: str) -> None:
    path = state.layout.tick_cache
    cache = read_json_dict(path)
    if cache.pop(file, None) is not None:
        write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())


# --- tick -------------------------------------------------------------------------------

# How a child of tick (a fork running one pipeline, or one run) tells its parent how it went:
# its exit status. Not the CLI's exit codes: the command decides those from the TickReport.
CHILD_OK, CHILD_FAILED, CHILD_INVALID = 0, 1, 2


@dataclass
class TickReport:
    failed: bool = False                 # a run of this tick did not succeed (or a child died)
    invalid: list[SpecError] = field(default_factory=list)    # pipeline files skipped as invalid
    refused: bool = False                # a child met a user error (e.g. a file changed meanwhile)
    plans: list[Due] = field(default_factory=list)


def tick(pipelines_dir: Path, state: StateDir, now: datetime, *, dry_run: bool = False,
         reporter_for=None, make_executor=None) -> TickReport:
    """Find what is due in every scheduled pipeline and run it; due pipelines run at once,
    each in a child process (a fork of this one: nothing to import or parse again) that
    holds that pipeline's lock. `make_executor`, if given, is called in each run's process."""
    from . import spec

    report = TickReport()
    stamp = now.astimezone(timezone.utc).isoformat()
    remember: dict[str, tuple[str, str, str]] = {}
    children = []
    deadlines: list[Pipeline] = []     # pipelines whose notify block has a deadline
    for path in spec.discover(pipelines_dir):
        try:
            pipeline = spec.load(path, cache=state.layout.spec_cache, write_cache=not dry_run)
        except SpecError as e:
            report.invalid.append(e)
            continue
        key = str(path.resolve())
        if not pipeline.schedule:
            remember[key] = (pipeline.digest, stamp, "9999")
            continue
        plan = due(pipeline, state, now)
        report.plans.append(plan)
        if pipeline.notify is not None and pipeline.notify.deadline is not None:
            deadlines.append(pipeline)
        if not plan.intervals and not plan.resume:
            if plan.active == 0:
                until = plan.next_due
                if pipeline in deadlines:      # a deadline that passes ends "nothing due" too
                    from .notify import next_check

                    until = min(until, next_check(pipeline, now) or until)
                remember[key] = (pipeline.digest, stamp, until.astimezone(timezone.utc).isoformat())
            continue
        if plan.active >= pipeline.max_active_runs or dry_run:
            continue
        _forget(state, key)
        children.append(start_child(tick_pipeline, path, state, now, reporter_for, make_executor))
    if remember and not dry_run:
        _remember(state, remember)
    codes = [c.wait() for c in children]
    if deadlines and not dry_run:
        from .notify import check_deadline

        for pipeline in deadlines:      # after this tick's runs: a run that just failed was said already
            check_deadline(pipeline, state, now)
    report.failed = any(c not in (CHILD_OK, CHILD_INVALID) for c in codes)
    report.refused = CHILD_INVALID in codes
    return report


def tick_pipeline(path: Path, state: StateDir, now: datetime, reporter_for=None, make_executor=None) -> int:
    """The child of tick for one pipeline: under its lock, resume and run what is due, oldest
    first, with up to max_active_runs runs (less those already active) going at once."""
    from . import spec

    pipeline = spec.load(path, cache=state.layout.spec_cache)
    lock = state.lock(pipeline.name)
    if not lock.acquire(wait=False):
        return CHILD_OK            # another tick is on it: leave it alone
    try:
        plan = due(pipeline, state, now)
        slots = pipeline.max_active_runs - plan.active
        jobs = [(_resume_one, pipeline, state, run.run_id, reporter_for, make_executor) for run in plan.resume]
        jobs += [(_run_one, pipeline, state, interval, now, reporter_for, make_executor) for interval in plan.intervals]
        codes = _at_most(slots, jobs)
    finally:
        lock.release()
    return CHILD_FAILED if any(c != CHILD_OK for c in codes) else CHILD_OK


def _run_one(pipeline: Pipeline, state: StateDir, interval, now: datetime, reporter_for, make_executor) -> int:
    from . import runner

    view = runner.new_run(pipeline, state, reporter=reporter_for(pipeline) if reporter_for else None,
                          kind=SCHEDULED, window=runner.Window(interval.start, interval.end), claim=True, now=now,
                          **({"executor": make_executor()} if make_executor else {}))
    return CHILD_OK if view.state == RUN_SUCCEEDED else CHILD_FAILED


def _resume_one(pipeline: Pipeline, state: StateDir, run_id: str, reporter_for, make_executor) -> int:
    from . import runner

    view = runner.resume(pipeline, state, run_id, reporter=reporter_for(pipeline) if reporter_for else None,
                         **({"executor": make_executor()} if make_executor else {}))
    return CHILD_OK if view.state == RUN_SUCCEEDED else CHILD_FAILED


def _at_most(slots: int, jobs: list[tuple]) -> list[int]:
    """Run jobs (function, *args) in order, at most `slots` at once: one slot (or one job) in
    this process, more each in a child process. Returns their exit codes."""
    if slots <= 0 or not jobs:
        return []
    if slots == 1 or len(jobs) == 1:
        return [job[0](*job[1:]) for job in jobs]
    codes, running = [], []
    pending = list(jobs)
    while pending or running:
        while pending and len(running) < slots:
            job = pending.pop(0)
            running.append(start_child(job[0], *job[1:]))
        finished = _wait_any(running)
        running.remove(finished)
        codes.append(finished.code)
    return codes


# --- child processes ----------------------------------------------------------------------

class Child:
    """A forked child running one function; `wait()` returns its exit code."""

    def __init__(self, pid: int):
        self.pid, self.code = pid, None

    def wait(self) -> int:
        if self.code is None:
            _, status = os.waitpid(self.pid, 0)
            self.code = _code(status)
        return self.code


def _code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else CHILD_FAILED         # killed by a signal: a failure


def _wait_any(children: list[Child]) -> Child:
    by_pid = {c.pid: c for c in children}
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid in by_pid:
            by_pid[pid].code = _code(status)
            return by_pid[pid]


def start_child(function, *args) -> Child:
    """Fork, and run function(*args) in the child, which exits with its return value. A fork
    costs no start-up: the child has every module and the parsed pipelines already."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Child(pid)
    code = CHILD_FAILED
    try:
        code = function(*args)
    except PipeError as e:
        for line in e.lines():
            sys.stderr.write(f"error: {line}\n")
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130              # as the CLI: interrupted
    except BaseException:        # never return into the parent's code from a child
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else CHILD_FAILED)


# --- backfill ---------------------------------------------------------------------------

def backfill(pipeline: Pipeline, state: StateDir, start: datetime, end: datetime, *, rerun: bool,
             reporter_for, on_interval=None, make_executor=None) -> list[tuple[object, str]]:
    """Run every interval starting in [start, end], oldest first; skip those that already
    succeeded unless rerun. Returns (interval, state) pairs ('skipped' for the skipped).
    `make_executor`, if given, makes the executor of each run."""
    from . import runner
    from .schedule import Schedule
    from .state import replay

    if not pipeline.schedule:
        raise UsageError(f"pipeline {pipeline.name!r} has no schedule, so it has no intervals to backfill "
                         "(use `pipe run --date`)")
    if end < start:
        raise UsageError(f"--end {end.date()} is before --start {start.date()}")
    if pipeline.start_date is not None and start < pipeline.start_date:
        raise UsageError(f"--start {start.isoformat()} is before the pipeline's start_date "
                         f"{pipeline.start_date.isoformat()}: no interval before it is ever run; "
                         f"start at {pipeline.start_date.date()} or later")
    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    intervals = []
    t = sched.first_start_at_or_after(start)
    while t <= end:
        if len(intervals) == MAX_BACKFILL:
            raise UsageError(f"--start {start.date()} .. --end {end.date()} holds more than {MAX_BACKFILL:,} intervals "
                             f"of schedule {pipeline.schedule!r}; backfill a shorter range")
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
                                  window=runner.Window(interval.start, interval.end), claim=True,
                                  **({"executor": make_executor()} if make_executor else {}))
            results.append((interval, view.state))
            if view.state == RUN_INTERRUPTED:
                break
    finally:
        lock.release()
    return results
