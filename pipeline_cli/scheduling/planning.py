"""What is due: the intervals of a pipeline that tick would run now, and why (pure planning over
the ledger of claimed intervals, read from the state folder), and the runs it would resume."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ..model import BACKFILL, MANUAL, RUN_INTERRUPTED, RUN_RUNNING, RUN_WAITING, SCHEDULED, Pipeline
from ..state import StateDir

RECENT = 50          # ledger entries whose runs are checked for being active or interrupted


@dataclass
class Due:
    """What tick would do for one pipeline now, and why."""

    pipeline: Pipeline
    intervals: list = field(default_factory=list)        # schedule.Interval, oldest first
    resume: list = field(default_factory=list)           # RunView of interrupted scheduled runs (and waiting ones ready)
    waiting: list = field(default_factory=list)          # RunView of runs left waiting whose sensors do not hold yet
    waiting_for: list = field(default_factory=list)      # (Interval, [(asset, partition start)]): ended, data missing
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
    from ..schedule import Schedule

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
    from ..schedule import Schedule
    from ..state import replay

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
    if pipeline.wait_for and result.intervals:
        _hold_for_assets(pipeline, state, now, result)
    if result.resume and not result.intervals:
        result.next_due = now
    if result.active >= pipeline.max_active_runs and (result.intervals or result.resume):
        result.why = f"{result.active} run(s) active, max_active_runs is {pipeline.max_active_runs}"
    from ..state.pause import describe, paused

    result.paused = paused(state.layout, pipeline.name)
    if result.paused is not None:
        result.why = f"{describe(result.paused)} (pipe unpause {pipeline.name} resumes its schedule)"
    return result


def _hold_for_assets(pipeline: Pipeline, state: StateDir, now: datetime, result: Due) -> None:
    """`wait_for`: an ended interval whose partitions are not all produced waits (tick looks
    again each minute); past `wait_timeout` it is not waited for any more, and tick says so."""
    from pathlib import Path

    from ..assets import describe_missing, missing, producers

    found = producers(Path(pipeline.folder), state.layout.spec_cache)
    ready, given_up = [], []
    for interval in result.intervals:
        lacking = missing(pipeline, interval, state.layout, found)
        if not lacking:
            ready.append(interval)
        elif pipeline.wait_timeout is not None and \
                now.astimezone(timezone.utc) > _u(interval.end) + timedelta(seconds=pipeline.wait_timeout):
            given_up.append((interval, lacking))
        else:
            result.waiting_for.append((interval, lacking))
    result.intervals = ready
    if result.waiting_for and not ready:
        interval, lacking = result.waiting_for[0]
        result.why = (f"the interval {interval.start.isoformat()} waits for {describe_missing(lacking)}"
                      + (f" (and {len(result.waiting_for) - 1} more interval(s) wait)" if len(result.waiting_for) > 1
                         else ""))
    elif given_up and not ready:
        interval, lacking = given_up[0]
        result.why = (f"the interval {interval.start.isoformat()} waited its wait_timeout for "
                      f"{describe_missing(lacking)}; it is not waited for any more")


def _sensors_ready(pipeline: Pipeline, run, now: datetime) -> bool:
    from ..run.waiting import sensors_ready

    return sensors_ready(pipeline, run, now)


def _pruned(state: StateDir, name: str) -> dict:
    """The runs `pipe prune` removed (their ledger claims stand: they ran)."""
    from ..state.prune import pruned_runs

    return pruned_runs(state.layout, name)


def next_due(pipeline: Pipeline, state: StateDir, now: datetime) -> datetime:
    """When tick will next run something of this pipeline: the end of the oldest interval it
    would run now (a time already past), else the end of the next interval to end. `pipe list`
    (and the web pages) show this, so they and tick never disagree."""
    return due(pipeline, state, now).next_due
