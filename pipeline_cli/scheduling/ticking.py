"""`pipe tick`: every scheduled pipeline's due intervals run (and interrupted or waiting runs
resumed), each pipeline in a forked child holding its lock."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SpecError
from ..model import RUN_SUCCEEDED, RUN_WAITING, SCHEDULED, Pipeline
from ..state import StateDir
from .children import CHILD_FAILED, CHILD_INVALID, CHILD_OK, Child, _as_they_end, _wait_any, start_child
from .planning import Due, due
from .quiet_cache import _forget, _remember


# --- tick -------------------------------------------------------------------------------



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
    from .. import spec

    report = TickReport()
    stamp = now.astimezone(timezone.utc).isoformat()
    remember: dict[str, tuple[str, str, str]] = {}
    children: dict[int, tuple["Child", Pipeline]] = {}      # by id(child)
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
        if plan.paused is not None:
            # Nothing starts, nothing is late. Quiet until `pipe unpause`, which forgets this.
            remember[key] = (pipeline.digest, stamp, "9999")
            continue
        if pipeline.notify is not None and pipeline.notify.deadline is not None:
            deadlines.append(pipeline)
        if not plan.intervals and not plan.resume:
            if plan.active == 0 and not plan.waiting and not plan.waiting_for:   # looked at again each tick
                until = plan.next_due
                if pipeline in deadlines:      # a deadline that passes ends "nothing due" too
                    from ..notify import next_check

                    check = next_check(pipeline, now)
                    until = check if until is None else min(until, check or until)
                remember[key] = (pipeline.digest, stamp,
                                 "9999" if until is None else until.astimezone(timezone.utc).isoformat())
            continue
        if plan.active >= pipeline.max_active_runs or dry_run:
            continue
        _forget(state, key)
        child = start_child(tick_pipeline, path, state, now, reporter_for, make_executor)
        children[id(child)] = (child, pipeline)
    if remember and not dry_run:
        _remember(state, remember)
    waiting = {p.name for _, p in children.values()}
    if not dry_run:
        for pipeline in deadlines:     # a pipeline with no run now: checked at once
            if pipeline.name not in waiting:
                _check_deadline(pipeline, state, now)
    codes = []
    # Each child as it ends, not in the order they started: a slow pipeline does not hold
    # back what another one has to say.
    for child in _as_they_end([c for c, _ in children.values()]):
        pipeline = children[id(child)][1]
        codes.append(child.code)
        if getattr(child, "died", ""):
            sys.stderr.write(f"pipe tick: {pipeline.name}: the process running it {child.died} before its run "
                             "finished; the next tick resumes the interrupted run\n")
            sys.stderr.flush()
        if pipeline in deadlines:      # after its own run: a run that just failed was said already
            _check_deadline(pipeline, state, now)
    report.failed = any(c not in (CHILD_OK, CHILD_INVALID) for c in codes)
    report.refused = CHILD_INVALID in codes
    return report


def _check_deadline(pipeline: Pipeline, state: StateDir, now: datetime) -> None:
    from ..notify import check_deadline

    check_deadline(pipeline, state, now)


def tick_pipeline(path: Path, state: StateDir, now: datetime, reporter_for=None, make_executor=None) -> int:
    """The child of tick for one pipeline: under its lock, resume and run what is due, oldest
    first, with up to max_active_runs runs (less those already active) going at once."""
    from .. import spec

    pipeline = spec.load(path, cache=state.layout.spec_cache)
    lock = state.lock(pipeline.name)
    if not lock.acquire(wait=False):
        return CHILD_OK            # another tick is on it: leave it alone
    try:
        plan = due(pipeline, state, now)
        slots = pipeline.max_active_runs - plan.active
        jobs = [(_resume_one, pipeline, state, run.run_id, reporter_for, make_executor, now) for run in plan.resume]
        jobs += [(_run_one, pipeline, state, interval, now, reporter_for, make_executor) for interval in plan.intervals]
        codes = _at_most(slots, jobs, stop=lambda: is_paused(state, pipeline.name))
    finally:
        lock.release()
    return CHILD_FAILED if any(c != CHILD_OK for c in codes) else CHILD_OK


def _run_one(pipeline: Pipeline, state: StateDir, interval, now: datetime, reporter_for, make_executor) -> int:
    from .. import run

    from ..assets import consumed_now

    request = run.run_request(pipeline, now=now, interval=interval, kind=SCHEDULED, claim=True, leave_waiting=True,
                              consumed=consumed_now(pipeline, interval, state))
    view = run.new_run(state, request, _run_hooks(pipeline, state, reporter_for),
                       make_executor() if make_executor else None)
    return CHILD_OK if view.state in (RUN_SUCCEEDED, RUN_WAITING) else CHILD_FAILED


def _resume_one(pipeline: Pipeline, state: StateDir, run_id: str, reporter_for, make_executor,
                now: datetime | None = None) -> int:
    from .. import run

    request = run.ResumeRequest(pipeline, run_id, leave_waiting=True, now=now)
    view = run.resume(state, request, _run_hooks(pipeline, state, reporter_for), make_executor() if make_executor else None)
    return CHILD_OK if view.state in (RUN_SUCCEEDED, RUN_WAITING) else CHILD_FAILED


def _run_hooks(pipeline: Pipeline, state: StateDir, reporter_for) -> list:
    return run_hooks(pipeline, state, reporter_for(pipeline) if reporter_for else None)


def run_hooks(pipeline: Pipeline, state: StateDir, reporter) -> list:
    """What hears of a run that a command, tick or backfill starts: its notifications (a
    pipeline without a `notify:` block imports nothing of notify/), then its reporter."""
    notify = None
    if pipeline.notify is not None:
        from ..notify.hook import NotifyAfterRun

        notify = NotifyAfterRun(pipeline, state)
    return [notify, reporter]


def is_paused(state: StateDir, name: str) -> bool:
    from ..state.pause import paused

    return paused(state.layout, name) is not None


def _at_most(slots: int, jobs: list[tuple], stop=None) -> list[int]:
    """Run jobs (function, *args) in order, at most `slots` at once: one slot (or one job) in
    this process, more each in a child process. Returns their exit codes. Once `stop()` is
    true (the pipeline was paused meanwhile) no job starts; those going on finish."""
    if slots <= 0 or not jobs:
        return []
    if slots == 1 or len(jobs) == 1:
        codes = []
        for job in jobs:
            if stop is not None and stop():
                break
            codes.append(job[0](*job[1:]))
        return codes
    codes, running = [], []
    pending = list(jobs)
    while pending or running:
        if stop is not None and pending and stop():
            pending = []
        while pending and len(running) < slots:
            job = pending.pop(0)
            running.append(start_child(job[0], *job[1:]))
        if not running:
            break
        finished = _wait_any(running)
        running.remove(finished)
        codes.append(finished.code)
    return codes
