"""What a run is asked to be, as one value: a RunRequest (a new run) or a ResumeRequest.

The commands (`run`, `tick`, `backfill`) and the web build a request; the run core
(run/start.py) carries it out. Building one checks what a person can get wrong before
anything is written: params (declared, given), task ids (--only/--from), the interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..dag import Dag
from ..errors import UsageError
from ..model import MANUAL, Pipeline
from ..schedule import Interval


@dataclass(frozen=True)
class Limits:
    """How a run may go: `concurrency` (None: the pipeline's, else the executor's capacity),
    `fail_fast` (stop at the first failure), `force` (run tasks that are up to date)."""

    concurrency: int | None = None
    fail_fast: bool = False
    force: bool = False


@dataclass(frozen=True)
class RunRequest:
    """A new run: of `pipeline`, for `interval`, with `params` (merged over the defaults),
    the tasks `selected` (all, or --only/--from), of `kind`, within `limits`. `claim`: the
    interval is marked as run in the ledger (a scheduled run, and a person's run of a
    scheduled pipeline given a date). `dry_run`: the plan only, nothing written.
    `leave_waiting` (tick's runs): when only waiting sensors are left, the run is left
    `waiting` and its pipe goes (a later tick resumes it); `now`: the time the run is for
    (tick's --now), which `after:` sensors are read against."""

    pipeline: Pipeline
    interval: Interval
    params: dict
    selected: frozenset[str]
    kind: str = MANUAL
    limits: Limits = Limits()
    claim: bool = False
    dry_run: bool = False
    leave_waiting: bool = False
    now: datetime | None = None
    consumed: tuple = ()          # the asset partitions (wait_for) this run reads: recorded in its first event

    @property
    def partial(self) -> bool:
        """--only/--from left tasks out: their earlier outputs are kept for this run."""
        return len(self.selected) < len(self.pipeline.tasks)


@dataclass(frozen=True)
class ResumeRequest:
    """Go on with run `run_id` (None: the latest) of `pipeline`: its failed and unstarted
    tasks, or with `from_` those tasks and all downstream of them. `since`: when the command
    began (a resume that began after it is another's, and this one does nothing)."""

    pipeline: Pipeline
    run_id: str | None = None
    from_: tuple[str, ...] = ()
    limits: Limits = Limits()
    since: float | None = None
    leave_waiting: bool = False
    now: datetime | None = None


def run_request(pipeline: Pipeline, *, now: datetime, date: datetime | None = None,
                interval: Interval | None = None, params: dict[str, str] | None = None,
                only: list[str] | None = None, from_: list[str] | None = None, kind: str = MANUAL,
                limits: Limits = Limits(), claim: bool | None = None, dry_run: bool = False,
                leave_waiting: bool = False, consumed: tuple = ()) -> RunRequest:
    """The request for a new run: params checked and merged, tasks selected, its interval
    (`interval` as given, else the one `date` falls in, else the latest complete one)."""
    merged = check_params(pipeline, params or {}, "give it with" if kind == MANUAL else
                          "a scheduled run cannot give them; declare a default")
    selected = frozenset(Dag(pipeline).select(only, from_))
    if limits.concurrency is not None and limits.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    if claim is None:
        claim = date is not None and bool(pipeline.schedule)
    _check_foreach_params(pipeline, selected, merged)
    return RunRequest(pipeline, interval or interval_for(pipeline, date, now), merged, selected, kind, limits,
                      claim, dry_run, leave_waiting, now if leave_waiting else None, tuple(consumed))


def interval_for(pipeline: Pipeline, date: datetime | None, now: datetime) -> Interval:
    """`--date D`: the interval starting at the latest cron time at or before D; no date:
    the latest complete interval (the current time if the pipeline has no schedule: an
    interval whose start is its end)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(pipeline.timezone)
    if not pipeline.schedule:
        at = (date or now).astimezone(tz)
        return Interval(at, at)
    from ..schedule import Schedule

    sched = Schedule(pipeline.schedule, pipeline.timezone)
    interval = sched.interval_for(date) if date is not None else sched.latest_complete(now)
    if interval is None:        # @once has no interval before it ran: a run now, as an unscheduled one
        at = now.astimezone(tz)
        return Interval(at, at)
    return interval


def check_params(pipeline: Pipeline, given: dict[str, str], how: str = "give it with") -> dict:
    """The run's params: the declared defaults with `-p` over them. A name not declared, or
    a param declared with no value (`city:`) and not given, is a UsageError; `how` says how
    to give it (a person's run: with -p; a scheduled run or a backfill cannot)."""
    unknown = sorted(set(given) - set(pipeline.params))
    if unknown:
        declared = ", ".join(sorted(pipeline.params)) or "none"
        raise UsageError(f"-p {unknown[0]}: not a parameter of pipeline {pipeline.name!r} (declared: {declared})")
    merged = {**pipeline.params, **given}
    missing = [k for k, v in merged.items() if v is None]
    if missing:
        flags = " ".join(f"-p {k}=..." for k in missing)
        raise UsageError(f"pipeline {pipeline.name!r} needs {'a value' if len(missing) == 1 else 'values'} for "
                         f"param{'s' if len(missing) > 1 else ''} {', '.join(missing)} (declared without a "
                         f"default): {how} {flags}")
    return merged


def _check_foreach_params(pipeline: Pipeline, selected: frozenset[str], params: dict) -> None:
    """A foreach list made of params alone is known now: one that gives no list (a `-p`
    that is not a JSON array) is refused before the run, as validation refuses a default."""
    from .. import templates
    from ..fanout import NotAList, items_of

    for tid in selected:
        value = pipeline.tasks[tid].foreach
        if not isinstance(value, str) or not templates.is_template(value):
            continue
        use = templates.analyse(value)
        if use.outputs or use.env or use.names - {"params"}:
            continue
        try:
            items_of(value, {"params": params}, where=f"tasks.{tid}.foreach")
        except (NotAList, templates.TemplateError) as e:
            raise UsageError(f"{getattr(e, 'message', e)} (with the params of this run: "
                             f"{', '.join(f'{k}={params[k]!r}' for k in sorted(use.params))})") from None
