"""The commands that run tasks: run, resume, tick, backfill."""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from ..errors import UsageError
from .project import Globals, load, require_pipelines_dir
from .results import (FAILED, INVALID, OK, BackfillInterval, BackfillResult, PlanResult, RunResult, TickResult,
                      TickRun)


def parse_date(text: str, tz: str, option: str) -> datetime:
    from ..schedule import parse_instant

    try:
        return parse_instant(text, tz)
    except (ValueError, OverflowError) as e:
        raise UsageError(f"{option}: {e}") from None


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _stdout_usable() -> bool:
    try:
        return sys.stdout is not None and not sys.stdout.closed and os.fstat(sys.stdout.fileno()) is not None
    except (OSError, ValueError, AttributeError):
        return False


def need_stdout(json_mode: bool) -> None:
    """--json with nowhere to write the document: refused before anything runs."""
    if json_mode and not _stdout_usable():
        raise UsageError("--json: stdout is closed, so the JSON document could not be written; nothing was done")


def run(g: Globals, pipeline: str, *, date: str | None = None, params: list[str] | None = None,
        only: list[str] | None = None, from_: list[str] | None = None, force: bool = False,
        dry_run: bool = False, concurrency: int | None = None, fail_fast: bool = False,
        ignore_wait: bool = False, json_mode: bool = False, **executor_options) -> RunResult | PlanResult:
    from .. import render, run as core
    from ..scheduling import run_hooks
    from ..state import now_utc

    need_stdout(json_mode)
    p, g = load(g, pipeline, write_cache=not dry_run)       # a dry run writes nothing, not even the cache
    from .operate import note_if_paused
    note_if_paused(g, p.name)
    if concurrency is not None and concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    given = parse_params(params)
    core.check_params(p, given)         # before anything else: a missing param is said first
    when = parse_date(date, p.timezone, "--date") if date else None
    now = now_utc()
    request = core.run_request(p, now=now, date=when, params=given, only=split_ids(only), from_=split_ids(from_),
                               limits=core.Limits(concurrency, fail_fast, force), dry_run=dry_run)
    if when is not None:
        _say_if_future(p, when, request.interval, now)
        if p.wait_for and not ignore_wait:
            _refuse_if_waiting(g, p, request.interval)
    if dry_run:
        return PlanResult(core.new_run(g.state, request))
    if p.wait_for:
        import dataclasses

        from ..assets import consumed_now

        request = dataclasses.replace(request, consumed=consumed_now(p, request.interval, g.state))
    executor = _executor(executor_options)
    hooks = run_hooks(p, g.state, render.reporter_for_output(json_mode))
    return RunResult(core.new_run(g.state, request, hooks, executor))


def _say_if_future(p, when: datetime, window, now: datetime) -> None:
    """`run --date` of an interval that has not ended runs it, as asked, and says so (on
    stderr: --json keeps stdout for its document). A typo of the year shows here."""
    stamp = now.isoformat(timespec="seconds")
    if p.schedule and window.end > now:
        sys.stderr.write(f"note: --date {when.isoformat()}: the interval {window.start.isoformat()} .. "
                         f"{window.end.isoformat()} has not ended yet (now is {stamp}); it runs now, as asked, "
                         "and tick will not run it again\n")
    elif not p.schedule and window.start > now:
        sys.stderr.write(f"note: --date {when.isoformat()} is in the future (now is {stamp}); it runs now, as asked\n")


def _refuse_if_waiting(g: Globals, p, interval) -> None:
    """`run --date` of an interval of a wait_for pipeline whose partitions are not all there."""
    from pathlib import Path

    from ..assets import describe_missing, missing, producers

    lacking = missing(p, interval, g.state.layout, producers(Path(p.folder), g.state.layout.spec_cache))
    if lacking:
        raise UsageError(f"--date: the interval {interval.start.isoformat()} .. {interval.end.isoformat()} of "
                         f"{p.name} waits for {describe_missing(lacking)}; run it anyway with --ignore-wait")


def _executor(options: dict):
    """The executor that --executor and its options (--dask-scheduler, ...) choose; None:
    the default (PIPE_EXECUTOR, else local)."""
    options = {k: v for k, v in options.items() if v not in (None, False, [])}
    if not options:
        return None
    from .. import executors

    return executors.from_options(**options)


def resume(g: Globals, pipeline: str, run_id: str | None = None, *, from_: list[str] | None = None,
           json_mode: bool = False, **executor_options) -> RunResult:
    from .. import render, run as core
    from ..scheduling import run_hooks
    from ..state.liveness import began_at

    since = began_at()         # a resume that begins after this command started is not rerun by it
    need_stdout(json_mode)
    p, g = load(g, pipeline)
    request = core.ResumeRequest(p, None if run_id in (None, "latest") else run_id,
                                 tuple(split_ids(from_) or ()), since=since)
    view = core.resume(g.state, request, run_hooks(p, g.state, render.reporter_for_output(json_mode)),
                       _executor(executor_options))
    return RunResult(view, resumed=True)


def tick(g: Globals, now: str | None = None, dry_run: bool = False, verbose: bool = False,
         json_mode: bool = False, notify_url: str | None = None, **executor_options) -> TickResult:
    from .. import scheduling
    from ..state import now_utc

    need_stdout(json_mode)
    require_pipelines_dir(g)
    when = parse_date(now, "UTC", "--now") if now else now_utc()
    stamp = when.astimezone(timezone.utc).isoformat()
    if not dry_run and not json_mode and scheduling.quiet(g.pipelines_dir, g.state, when):
        _retention(g, when)
        return TickResult(stamp)        # the cache proves nothing is due (--json looks anyway)
    from .. import render
    # Progress goes to stdout (to stderr with --json: stdout holds the document only).
    out = sys.stderr if json_mode else sys.stdout
    if verbose:
        reporter_for = lambda p: render.PlainReporter(out, prefix=True)      # noqa: E731
    else:
        reporter_for = lambda p: render.QuietReporter(out)                    # noqa: E731
    before = _run_ids(g) if json_mode else {}
    extra = {}
    if executor_options and any(v not in (None, False) for v in executor_options.values()):
        opts = dict(executor_options)
        extra["make_executor"] = lambda: _executor(opts)
    report = scheduling.tick(g.pipelines_dir, g.state, when, dry_run=dry_run, reporter_for=reporter_for, **extra)
    if not dry_run:
        _retention(g, when)
    invalid = report.invalid
    if invalid or g.state.layout.tick_problems.exists():
        from ..notify import tick_problems       # an invalid file is said once per content, not every minute

        invalid = tick_problems(g.state.layout.tick_problems, invalid, notify_url or os.environ.get("PIPE_NOTIFY") or None, dry_run)
    outcome = FAILED if report.failed else INVALID if (report.invalid or report.refused) else OK
    result = TickResult(stamp, dry_run=dry_run, plans=report.plans, invalid=invalid, code_outcome=outcome)
    if json_mode:
        result.runs = _tick_runs(g, before, report.plans)
    return result


def _retention(g: Globals, when: datetime) -> None:
    """pipe.yaml's retention, applied by tick at most once a day (after its runs started)."""
    from .operate import apply_retention

    apply_retention(g, when)


def _run_ids(g: Globals) -> dict[str, set[str]]:
    store = g.state
    return {name: set(store.run_ids(name)) for name in store.pipelines()}


def _tick_runs(g: Globals, before: dict[str, set[str]], plans) -> list[TickRun]:
    store = g.state
    runs = []
    for plan in plans:
        name = plan.pipeline.name
        resumed = {r.run_id for r in plan.resume}
        for run_id in store.run_ids(name):
            if run_id in before.get(name, set()) and run_id not in resumed:
                continue
            view = store.run(name, run_id)
            if run_id in resumed and view.state == "interrupted":
                continue
            runs.append(TickRun(name, run_id, view.state, view.logical_date, resumed=run_id in resumed))
    return runs


CONFIRM_OVER = 100      # a backfill of more intervals than this asks first (or needs --yes)


def backfill(g: Globals, pipeline: str, start: str, end: str, rerun: bool = False, dry_run: bool = False,
             params: list[str] | None = None, yes: bool = False, json_mode: bool = False,
             **executor_options) -> BackfillResult | int:
    from .. import render, scheduling

    need_stdout(json_mode)
    p, g = load(g, pipeline, write_cache=not dry_run)
    begin, finish = parse_date(start, p.timezone, "--start"), parse_date(end, p.timezone, "--end")
    given = parse_params(params)
    from ..run import check_params

    check_params(p, given, "give it with")
    store = g.state
    bp = scheduling.backfill_plan(p, store, begin, finish, rerun=rerun)
    if not dry_run:
        from .operate import note_if_paused
        note_if_paused(g, p.name)          # a person asked: it runs, and is told
    if bp.cut is not None:
        sys.stderr.write(f"note: {p.name}'s end_date is {bp.cut.isoformat()}: intervals starting at or after it "
                         f"are not run (its schedule has ended there)\n")
    if dry_run:
        todo = {i.key for i in bp.todo}
        return _backfill_result(p, bp, [(i, "would run" if i.key in todo else "skipped") for i in bp.intervals],
                                dry_run=True)
    if len(bp.todo) > CONFIRM_OVER and not yes:
        if not _confirm(p, bp):
            sys.stderr.write("cancelled: nothing was run\n")
            return 0
    succeeded = bp.succeeded
    say = sys.stderr if json_mode else sys.stdout

    def progress(i, n, interval):
        head = f"[{i + 1}/{n}] {p.name} interval {interval.start.isoformat()} .. {interval.end.isoformat()}"
        if interval.key in succeeded and not rerun:
            head += f": skipped, it already succeeded in run {succeeded[interval.key]} (--rerun runs it again)"
        if not json_mode:
            print(head, file=say, flush=True)

    kwargs = {}
    if any(v not in (None, False, []) for v in executor_options.values()):
        opts = dict(executor_options)
        kwargs["make_executor"] = lambda: _executor(opts)
    results = scheduling.backfill(p, store, begin, finish, rerun=rerun,
                                 reporter_for=lambda _: render.reporter_for_output(json_mode), on_interval=progress,
                                 params=given, concurrent_reporter_for=lambda _: render.side_by_side_reporter(json_mode),
                                 plan=bp, **kwargs)
    return _backfill_result(p, bp, results, latest=_latest_claims(store, p.name))


def _backfill_result(p, bp, results, latest=None, dry_run: bool = False) -> BackfillResult:
    intervals = []
    for interval, state in results:
        if state == "skipped":
            intervals.append(BackfillInterval(interval.start.isoformat(), interval.end.isoformat(), "skipped",
                                              bp.succeeded.get(interval.key),
                                              f"already succeeded in run {bp.succeeded.get(interval.key)}"))
        else:
            intervals.append(BackfillInterval(interval.start.isoformat(), interval.end.isoformat(), state,
                                              (latest or {}).get(interval.key)))
    return BackfillResult(p.name, intervals, dry_run=dry_run, max_active_runs=p.max_active_runs,
                          end_date=bp.cut.isoformat() if bp.cut is not None else None)


def _confirm(p, bp) -> bool:
    """More than CONFIRM_OVER intervals: asked on the terminal; without one, refused unless
    --yes (as `terraform apply` without -auto-approve, `apt-get` without -y): a script that
    means it says so, a mistyped year never starts thousands of runs."""
    first, last = bp.todo[0].start.isoformat(), bp.todo[-1].start.isoformat()
    what = (f"backfill of {len(bp.todo):,} intervals of {p.name} ({first} .. {last}), up to "
            f"{p.max_active_runs} at once")
    if not (sys.stdin is not None and sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError(f"{what}: more than {CONFIRM_OVER} intervals and no terminal to confirm on; pass --yes to "
                         "run them (or --dry-run to list them)")
    sys.stderr.write(f"{what}. Run them? [y/N] ")
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        sys.stderr.write("\n")
        return False
    return answer.strip().lower() in ("y", "yes")


def _claims(store, name: str) -> list[tuple[str, str]]:
    from ..scheduling.planning import _utc

    out = []
    for entry in store.ledger(name):
        try:
            out.append((_utc(entry["start"]).isoformat(), entry["run_id"]))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _succeeded_runs(store, name: str) -> dict[str, str]:
    """Interval key -> the run that succeeded for it (the latest one)."""
    done = {}
    for key, run_id in _claims(store, name):
        try:
            if store.run(name, run_id).state == "succeeded":
                done[key] = run_id
        except Exception:       # a claim whose run folder is gone or unreadable
            continue
    return done


def _latest_claims(store, name: str) -> dict[str, str]:
    return dict(_claims(store, name))
