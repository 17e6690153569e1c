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
from .model import BACKFILL, MANUAL, RUN_INTERRUPTED, RUN_RUNNING, RUN_SUCCEEDED, RUN_WAITING, SCHEDULED, Pipeline
from .state import StateDir, makedirs, read_json_dict, write_atomic

MAX_BACKFILL = 100_000    # intervals in one backfill: a range of centuries is a mistake, not a plan
RECENT = 50          # ledger entries whose runs are checked for being active or interrupted



@dataclass
class Due:
    """What tick would do for one pipeline now, and why."""

    pipeline: Pipeline
    intervals: list = field(default_factory=list)        # schedule.Interval, oldest first
    resume: list = field(default_factory=list)           # RunView of interrupted scheduled runs (and waiting ones ready)
    waiting: list = field(default_factory=list)          # RunView of runs left waiting whose sensors do not hold yet
    active: int = 0
    why: str = ""
    next_due: datetime | None = None
    paused: dict | None = None           # `pipe pause`: who, when, why (tick starts nothing)

    def overdue(self, now: datetime) -> bool:
        """The next due time has passed and tick has not run it yet (cron not calling tick,
        or max_active_runs holding it back)."""
        return self.next_due is not None and self.next_due.astimezone(timezone.utc) < now.astimezone(timezone.utc)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _u(t: datetime) -> datetime:
    return t.astimezone(timezone.utc)


@dataclass(frozen=True)
class Claim:
    """An interval of the ledger: [start, end) in UTC, and whether tick ran it (a scheduled
    run) or a person asked for it (`run --date`, backfill, the web's trigger)."""

    start: datetime
    end: datetime
    scheduled: bool


def _kind(entry: dict) -> str:
    """The kind of run that claimed a ledger entry (older ledgers: from the run id)."""
    kind = entry.get("kind")
    if isinstance(kind, str):
        return kind
    for k in (SCHEDULED, BACKFILL, MANUAL):
        if f"-{k}-" in entry.get("run_id", ""):
            return k
    return MANUAL


@dataclass
class Plan:
    intervals: list
    next_due: datetime | None
    why: str = ""


def schedule_end(sched, end_date: datetime | None) -> datetime | None:
    """The end of the last interval that starts before end_date (the schedule's last moment:
    tick reads the clock as stopped there), or None without an end_date. Never before
    end_date's own interval has begun: an end_date before the first cron time ends at once."""
    if end_date is None or sched.once:
        return None
    last_start = sched.before(end_date)
    return sched.next_after(last_start)


def ended(pipeline: Pipeline, now: datetime) -> bool:
    """Whether the pipeline's schedule has ended by now: no interval can become due again."""
    if pipeline.end_date is None or not pipeline.schedule or pipeline.schedule == "@once":
        return False
    from .schedule import Schedule

    cap = schedule_end(Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date), pipeline.end_date)
    return cap is not None and _u(cap) <= _u(now)


def plan(sched, catchup, claims: list[Claim], now: datetime, end_date: datetime | None = None) -> Plan:
    """Which intervals tick runs now (pure: no files, no clock). Claims of every kind mark
    their intervals as run; only scheduled ones ended by now move the schedule: tick goes on
    from the end of the last scheduled run's interval (`anchor`), so a run a person asked for
    never makes tick skip the days before it, nor stop for a day still to come. With an
    end_date, no interval starting at or after it is ever a candidate: the intervals are those
    that ended by now or by the end of the last one before end_date, whichever is earlier
    (a catch-up window is still measured from the real now)."""
    now_u = now.astimezone(timezone.utc)
    done = {c.start for c in claims}
    if sched.once:
        return _plan_once(sched, claims, now)
    real_now = now
    cap = schedule_end(sched, end_date)
    if cap is not None and _u(cap) < now_u:
        now, now_u = cap, _u(cap)
    scheduled = [c.end for c in claims if c.scheduled and c.end <= now_u]
    anchor = max(scheduled) if scheduled else None
    latest = sched.latest_complete(now)
    if latest is None:
        start_date = sched.start_date
        return Plan([], sched.next_due(now), "no interval has ended yet"
                    + (f" (start_date {start_date.isoformat()})" if start_date is not None else ""))
    window = None if catchup is True or not catchup else real_now - timedelta(seconds=catchup)
    if catchup is True and anchor is None and sched.start_date is not None:
        candidates = sched.intervals(sched.start_date, now)
    elif catchup is True and anchor is not None:
        candidates = sched.intervals(anchor, now)
    elif window is not None:
        candidates = sched.intervals(window if anchor is None else max(anchor, window, key=_u), now)
    else:
        candidates = []
    # The latest ended interval is always a candidate (catchup false runs it alone; a window
    # shorter than an interval still runs it), unless it began before the schedule's anchor.
    if anchor is None or _u(latest.start) >= anchor:
        if not candidates or _u(candidates[-1].start) < _u(latest.start):
            candidates.append(latest)
    intervals = [c for c in candidates if _u(c.start) not in done]
    if intervals:
        return Plan(intervals, intervals[0].end)      # due already: tick runs it now
    if cap is not None and _u(cap) <= _u(real_now):
        return Plan([], None, f"its schedule has ended: end_date {end_date.isoformat()}")
    if _u(latest.start) in done:
        why = f"the latest interval ({latest.start.isoformat()}) has been run"
    else:
        why = (f"the latest interval ({latest.start.isoformat()}) began before {anchor.isoformat()}, where the "
               "last scheduled run's interval ended")
    nxt = _next_to_run(sched, done, anchor, now)
    if end_date is not None and nxt is not None and _u(sched.before(nxt)) >= _u(end_date):
        return Plan([], None, f"its schedule has ended: end_date {end_date.isoformat()}")
    return Plan([], nxt, why)


def _next_to_run(sched, done: set, anchor: datetime | None, now: datetime) -> datetime:
    """The end of the next interval to end after now that tick will run: intervals already
    run (a person ran tomorrow's, say) or begun before the anchor are passed over."""
    end = sched.next_due(now)
    for _ in range(len(done) + 2):
        start = _u(sched.before(end))
        if start not in done and (anchor is None or start >= anchor):
            break
        end = sched.next_after(end)
    return end


def _plan_once(sched, claims: list[Claim], now: datetime) -> Plan:
    """@once: the one interval (at start_date, or at the first tick) runs once, never again."""
    ran = [c for c in claims if c.scheduled]
    if ran:
        return Plan([], None, f"it runs @once and tick ran it ({ran[0].start.isoformat()})")
    the = sched.the_interval(now)
    if sched.start_date is not None and _u(the.start) > now.astimezone(timezone.utc):
        return Plan([], the.start, f"it runs @once, at its start_date {the.start.isoformat()}")
    if _u(the.start) in {c.start for c in claims}:
        return Plan([], None, f"it runs @once and its interval ({the.start.isoformat()}) has been run")
    return Plan([the], the.end)


def due(pipeline: Pipeline, state: StateDir, now: datetime) -> Due:
    from .schedule import Schedule
    from .state import replay

    result = Due(pipeline)
    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    ledger = state.ledger(pipeline.name)
    claimed: dict[str, dict] = {}
    claims: list[Claim] = []
    pruned = _pruned(state, pipeline.name)
    for i, entry in enumerate(ledger):
        if entry["run_id"] in pruned:          # a pruned run ran (SPEC 12), unless it never began
            if pruned[entry["run_id"]].get("began") is False:
                continue
        elif i >= len(ledger) - RECENT:
            run = replay(entry["run_id"], pipeline.name, state.runs_dir(pipeline.name) / entry["run_id"])
            if run.started is None and run.state != RUN_RUNNING:
                continue       # claimed, but its pipe died before the run began: not run
            if run.state == RUN_RUNNING:
                result.active += 1
            elif run.state == RUN_INTERRUPTED and run.kind == SCHEDULED:
                result.resume.append(run)
            elif run.state == RUN_WAITING:
                # Left waiting by a tick: resumed once a sensor holds (or has waited its timeout).
                (result.resume if _sensors_ready(pipeline, run, now) else result.waiting).append(run)
        try:
            start = _utc(entry["start"])
            end = _utc(entry["end"]) if isinstance(entry.get("end"), str) else start
        except (TypeError, ValueError):
            continue
        claimed[start.isoformat()] = entry
        claims.append(Claim(start, end, _kind(entry) == SCHEDULED))
    # An interval resumed later (or rerun) is no longer interrupted.
    result.resume = [r for r in result.resume if claimed.get(_utc(r.interval_start).isoformat(), {}).get("run_id") == r.run_id]
    decided = plan(sched, pipeline.catchup, claims, now, pipeline.end_date)
    result.intervals, result.next_due, result.why = decided.intervals, decided.next_due, decided.why
    if result.resume and not result.intervals:
        result.next_due = now
    if result.active >= pipeline.max_active_runs and (result.intervals or result.resume):
        result.why = f"{result.active} run(s) active, max_active_runs is {pipeline.max_active_runs}"
    from .state.pause import describe, paused

    result.paused = paused(state.layout, pipeline.name)
    if result.paused is not None:
        result.why = f"{describe(result.paused)} (pipe unpause {pipeline.name} resumes its schedule)"
    return result


def _sensors_ready(pipeline: Pipeline, run, now: datetime) -> bool:
    from .run.waiting import sensors_ready

    return sensors_ready(pipeline, run, now)


def _pruned(state: StateDir, name: str) -> dict:
    """The runs `pipe prune` removed (their ledger claims stand: they ran)."""
    from .state.prune import pruned_runs

    return pruned_runs(state.layout, name)


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
            if plan.active == 0 and not plan.waiting:      # a waiting run's sensors are looked at each tick
                until = plan.next_due
                if pipeline in deadlines:      # a deadline that passes ends "nothing due" too
                    from .notify import next_check

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
    from .notify import check_deadline

    check_deadline(pipeline, state, now)


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
        jobs = [(_resume_one, pipeline, state, run.run_id, reporter_for, make_executor, now) for run in plan.resume]
        jobs += [(_run_one, pipeline, state, interval, now, reporter_for, make_executor) for interval in plan.intervals]
        codes = _at_most(slots, jobs, stop=lambda: is_paused(state, pipeline.name))
    finally:
        lock.release()
    return CHILD_FAILED if any(c != CHILD_OK for c in codes) else CHILD_OK


def _run_one(pipeline: Pipeline, state: StateDir, interval, now: datetime, reporter_for, make_executor) -> int:
    from . import run

    request = run.run_request(pipeline, now=now, interval=interval, kind=SCHEDULED, claim=True, leave_waiting=True)
    view = run.new_run(state, request, _run_hooks(pipeline, state, reporter_for),
                       make_executor() if make_executor else None)
    return CHILD_OK if view.state in (RUN_SUCCEEDED, RUN_WAITING) else CHILD_FAILED


def _resume_one(pipeline: Pipeline, state: StateDir, run_id: str, reporter_for, make_executor,
                now: datetime | None = None) -> int:
    from . import run

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
        from .notify.hook import NotifyAfterRun

        notify = NotifyAfterRun(pipeline, state)
    return [notify, reporter]


def is_paused(state: StateDir, name: str) -> bool:
    from .state.pause import paused

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


# --- child processes ----------------------------------------------------------------------

class Child:
    """A forked child running one function; `wait()` returns its exit code. `died` says how
    it ended if it did not end by itself (killed by a signal), else it is empty."""

    def __init__(self, pid: int):
        self.pid, self.code, self.died = pid, None, ""

    def wait(self) -> int:
        if self.code is None:
            _, status = os.waitpid(self.pid, 0)
            self._ended(status)
        return self.code

    def _ended(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            self.died = f"was killed by {name}"
        self.code = code if code >= 0 else CHILD_FAILED         # killed by a signal: a failure


def _as_they_end(children: list[Child]):
    """Yield each child as it ends. A thread waits for each one by its pid (never
    waitpid(-1), which could take the status of a process the notifications started)."""
    if len(children) <= 1:
        for c in children:
            c.wait()
            yield c
        return
    import queue
    import threading

    ended: queue.Queue = queue.Queue()
    for c in children:
        threading.Thread(target=lambda c=c: ended.put((c, c.wait())), daemon=True).start()
    for _ in children:
        yield ended.get()[0]


def _wait_any(children: list[Child]) -> Child:
    by_pid = {c.pid: c for c in children}
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid in by_pid:
            by_pid[pid]._ended(status)
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
    from .schedule import Schedule

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
    from .state import replay

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
    from . import run

    request = run.run_request(pipeline, now=datetime.now(timezone.utc), interval=interval, params=params,
                              kind=BACKFILL, claim=True)
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
    from .state import replay

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
