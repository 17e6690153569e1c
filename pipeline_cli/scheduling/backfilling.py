"""`pipe backfill`: the intervals of a range, oldest first, up to max_active_runs at once."""
from __future__ import annotations

import os
from datetime import datetime, timezone

from ..errors import UsageError
from ..model import BACKFILL, RUN_INTERRUPTED, RUN_SUCCEEDED, Pipeline
from ..state import StateDir
from .children import Child, start_child
from .planning import _pruned, _u, _utc
from .ticking import _run_hooks

MAX_BACKFILL = 100_000    # intervals in one backfill: a range of centuries is a mistake, not a plan


# --- backfill ---------------------------------------------------------------------------

class BackfillPlan:
    """What a backfill of [start, end] would do, decided before anything runs (so that
    `--dry-run` and the confirmation say exactly what the run does). A plain class: a
    dataclass costs start-up time at every `pipe tick`."""

    def __init__(self, intervals: list, succeeded: dict, todo: list, cut: datetime | None = None):
        self.intervals = intervals      # schedule.Interval in the range, oldest first
        self.succeeded = succeeded      # interval key -> the run that succeeded for it
        self.todo = todo                # the intervals it runs (the others already succeeded)
        self.cut = cut                  # the range went past the pipeline's end_date: cut there


def backfill_plan(pipeline: Pipeline, state: StateDir, start: datetime, end: datetime, *, rerun: bool,
                  now: datetime | None = None) -> BackfillPlan:
    """The intervals starting in [start, end] (none at or after the pipeline's end_date),
    and those of them that would run: all with rerun, else those not yet succeeded."""
    from ..schedule import Schedule

    if not pipeline.schedule:
        raise UsageError(f"pipeline {pipeline.name!r} has no schedule, so it has no intervals to backfill "
                         "(use `pipe run --date`)")
    if pipeline.schedule == "@once":
        raise UsageError(f"pipeline {pipeline.name!r} runs @once: it has no intervals to backfill "
                         "(`pipe run --date D` runs it for a date)")
    if end < start:
        raise UsageError(f"--end {end.date()} is before --start {start.date()}")
    if pipeline.start_date is not None and start < pipeline.start_date:
        raise UsageError(f"--start {start.isoformat()} is before the pipeline's start_date "
                         f"{pipeline.start_date.isoformat()}: no interval before it is ever run; "
                         f"start at {pipeline.start_date.date()} or later")
    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    cut = None
    if pipeline.end_date is not None and _u(end) >= _u(pipeline.end_date):
        if _u(sched.first_start_at_or_after(start)) >= _u(pipeline.end_date):
            raise UsageError(f"--start {start.isoformat()} is at or after the pipeline's end_date "
                             f"{pipeline.end_date.isoformat()}: no interval starting from there is ever run "
                             "(its schedule has ended; `pipe run --date D` runs one interval by hand)")
        cut = pipeline.end_date
        end = sched.before(pipeline.end_date)      # the last interval that starts before end_date
    intervals = backfill_intervals(pipeline, sched, start, end, now or datetime.now(timezone.utc))
    succeeded = succeeded_runs(pipeline, state)
    todo = [i for i in intervals if rerun or i.key not in succeeded]
    return BackfillPlan(intervals, succeeded, todo, cut)


def succeeded_runs(pipeline: Pipeline, state: StateDir) -> dict[str, str]:
    """Interval key -> the latest run that succeeded for it, from the ledger (a run whose
    folder was pruned counts as what it was when it was pruned)."""
    from ..state import replay

    pruned = _pruned(state, pipeline.name)
    done = {}
    for entry in state.ledger(pipeline.name):
        try:
            key = _utc(entry["start"]).isoformat()
        except (TypeError, ValueError):
            continue
        run_id = entry["run_id"]
        if run_id in pruned:
            run_state = pruned[run_id].get("state")
        else:
            run_state = replay(run_id, pipeline.name, state.runs_dir(pipeline.name) / run_id).state
        if run_state == RUN_SUCCEEDED:
            done[key] = run_id
    return done


def backfill(pipeline: Pipeline, state: StateDir, start: datetime, end: datetime, *, rerun: bool,
             reporter_for, on_interval=None, make_executor=None, now: datetime | None = None,
             params: dict | None = None, concurrent_reporter_for=None,
             plan: BackfillPlan | None = None) -> list[tuple[object, str]]:
    """Run every interval starting in [start, end] (before end_date), oldest first, with up
    to max_active_runs runs going at once (as Airflow's backfill); skip those that already
    succeeded unless rerun. Returns (interval, state) pairs, oldest first ('skipped' for the
    skipped). `make_executor`, if given, makes the executor of each run;
    `concurrent_reporter_for` the reporter of a run going on beside others; `plan`, the
    backfill_plan already made for the same range (its intervals are not reckoned again)."""
    bp = plan or backfill_plan(pipeline, state, start, end, rerun=rerun, now=now)
    lock = state.lock(pipeline.name)
    lock.acquire(wait=True)
    try:
        succeeded = succeeded_runs(pipeline, state)      # again, under the lock: another backfill may have run
        todo = {i.key for i in bp.intervals if rerun or i.key not in succeeded}
        slots = max(1, pipeline.max_active_runs)
        if slots == 1 or len(todo) <= 1:
            states = _backfill_in_turn(pipeline, state, bp.intervals, todo, reporter_for, on_interval,
                                       make_executor, params)
        else:
            states = _backfill_at_once(pipeline, state, bp.intervals, todo, slots,
                                       concurrent_reporter_for or reporter_for, on_interval, make_executor, params)
    finally:
        lock.release()
    return [(i, "skipped" if i.key not in todo else states[i.key]) for i in bp.intervals
            if i.key not in todo or i.key in states]


def _backfill_one(pipeline: Pipeline, state: StateDir, interval, reporter_for, make_executor, params) -> str:
    from .. import run

    from ..assets import consumed_now

    request = run.run_request(pipeline, now=datetime.now(timezone.utc), interval=interval, params=params,
                              kind=BACKFILL, claim=True, consumed=consumed_now(pipeline, interval, state))
    view = run.new_run(state, request, _run_hooks(pipeline, state, reporter_for),
                       make_executor() if make_executor else None)
    return view.state


def _backfill_in_turn(pipeline, state, intervals, todo, reporter_for, on_interval, make_executor, params) -> dict:
    states = {}
    for n, interval in enumerate(intervals):
        if on_interval:
            on_interval(n, len(intervals), interval)
        if interval.key not in todo:
            continue
        states[interval.key] = _backfill_one(pipeline, state, interval, reporter_for, make_executor, params)
        if states[interval.key] == RUN_INTERRUPTED:
            break
    return states


_CHILD_STATE = {0: RUN_SUCCEEDED, 1: "failed", 130: RUN_INTERRUPTED}


def _backfill_child(pipeline, state, interval, reporter_for, make_executor, params) -> int:
    """A run of a concurrent backfill, in a child in its own process group: the backfill's
    `pipe` passes on each signal once (a Ctrl-C at the terminal reaches that `pipe` alone, so
    no run gets it twice and mistakes it for "kill now")."""
    os.setpgid(0, 0)
    got = _backfill_one(pipeline, state, interval, reporter_for, make_executor, params)
    return {RUN_SUCCEEDED: 0, RUN_INTERRUPTED: 130}.get(got, 1)


def _backfill_at_once(pipeline, state, intervals, todo, slots, reporter_for, on_interval, make_executor,
                      params) -> dict:
    """Up to `slots` runs at once, each in a forked child, started oldest first. A signal
    stops the starting of new runs and is passed to the running ones (which record
    themselves interrupted, as a run does)."""
    import signal

    for n, interval in enumerate(intervals):      # the skipped are said first, then each run as it starts
        if on_interval and interval.key not in todo:
            on_interval(n, len(intervals), interval)
    index = {i.key: n for n, i in enumerate(intervals)}
    pending = [i for i in intervals if i.key in todo]
    running: dict[int, tuple[Child, object]] = {}
    states: dict[str, str] = {}
    stop: list[int] = []

    def on_signal(signum, frame):
        stop.append(signum)
        for child, _ in list(running.values()):
            try:
                os.kill(child.pid, signum)
            except OSError:
                pass

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while (pending and not stop) or running:
            while pending and not stop and len(running) < slots:
                interval = pending.pop(0)
                if on_interval:
                    on_interval(index[interval.key], len(intervals), interval)
                child = start_child(_backfill_child, pipeline, state, interval, reporter_for, make_executor, params)
                running[child.pid] = (child, interval)
            try:
                pid, status = os.waitpid(-1, 0)
            except InterruptedError:
                continue
            except ChildProcessError:
                break
            if pid in running:
                child, interval = running.pop(pid)
                child._ended(status)
                states[interval.key] = _CHILD_STATE.get(child.code, "failed")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return _run_states(pipeline, state, states)


def _run_states(pipeline: Pipeline, state: StateDir, states: dict[str, str]) -> dict[str, str]:
    """Each interval's state from the latest run that claimed it (its own events, read once
    at the end: one pass over the ledger), else what its child's exit status says."""
    from ..state import replay

    latest: dict[str, str] = {}
    for entry in state.ledger(pipeline.name):
        try:
            key = _utc(entry["start"]).isoformat()
        except (TypeError, ValueError):
            continue
        if key in states:
            latest[key] = entry["run_id"]
    out = dict(states)
    for key, run_id in latest.items():
        got = replay(run_id, pipeline.name, state.runs_dir(pipeline.name) / run_id).state
        if got:
            out[key] = got
    return out


def backfill_intervals(pipeline: Pipeline, sched, start: datetime, end: datetime, now: datetime) -> list:
    """The intervals starting in [start, end], refused (UsageError) when one has not ended
    by now (backfill runs only ended intervals) or when there are more than MAX_BACKFILL
    (counted from the cron fields first, so a range of centuries is refused at once)."""
    first = sched.first_start_at_or_after(start)
    if _u(first) > _u(end):
        return []
    about = sched.count_about(first, end, MAX_BACKFILL)
    too_many = (f"--start {start.date()} .. --end {end.date()} holds more than {MAX_BACKFILL:,} intervals of schedule "
                f"{pipeline.schedule!r}")
    if about is not None and about > MAX_BACKFILL:
        raise UsageError(f"{too_many}; backfill a shorter range")
    last = sched.at_or_before(end)
    last_end = sched.next_after(last)
    if _u(last_end) > _u(now):
        latest = sched.latest_complete(now)
        fix = (f"end at {latest.start.isoformat()} or earlier" if latest is not None and _u(latest.start) >= _u(first)
               else "no interval of the range has ended yet")
        raise UsageError(f"--end {end.isoformat()}: the interval {last.isoformat()} .. {last_end.isoformat()} has not "
                         f"ended yet (now is {now.astimezone(timezone.utc).isoformat(timespec='seconds')}), and backfill "
                         f"runs only intervals that have ended: {fix} (`pipe run {pipeline.name} --date D` runs one "
                         "interval that has not ended)")
    intervals = sched.starting_in(first, end, MAX_BACKFILL)
    if intervals is None:
        raise UsageError(f"{too_many}; backfill a shorter range")
    return intervals
