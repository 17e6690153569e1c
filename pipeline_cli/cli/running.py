"""The commands that run tasks: run, resume, tick, backfill."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import call, command
from .help import CRONTAB
from .params import (DASK_SCHEDULER, DASK_WAIT_WORKERS, EXECUTOR, FROM, JSON, WHOLE, complete_run,
                     complete_task, complete_tasks, executor_options, pipeline_arg)


@command("run", "run a pipeline now",
         "Run a pipeline now: the latest complete interval of its schedule (now, without a "
         "schedule), or the interval of --date.",
         ("pipe run weather.yaml", "pipe run weather --date 2026-11-03 -p city=Seattle",
          "pipe run umbrella --from train --dry-run"))
def run(
    pipeline: Annotated[str, pipeline_arg("a pipeline file, or a name or file name in the pipelines folder")],
    date: Annotated[Optional[str], typer.Option(
        "--date", metavar="D", help="run the interval that starts at the latest cron time at or before D")] = None,
    params: Annotated[Optional[list[str]], typer.Option(
        "-p", "--param", metavar="KEY=VALUE",
        help="override a param (repeatable); a param declared without a value must be given")] = None,
    only: Annotated[Optional[list[str]], typer.Option(
        "--only", metavar="T,..", autocompletion=complete_tasks,
        help="run just these tasks (comma-separated), not their upstream")] = None,
    from_: FROM = None,
    force: Annotated[bool, typer.Option("--force", help="run tasks even when their `generates` are up to date")]
    = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan with every command rendered; run "
                                          "nothing")] = False,
    concurrency: Annotated[Optional[int], typer.Option("--concurrency", metavar="N", click_type=WHOLE,
                                                       help="most tasks running at once")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="stop the run at the first failed task (exit 1)")]
    = False,
    ignore_wait: Annotated[bool, typer.Option("--ignore-wait", help="run an interval of a wait_for pipeline "
                                              "whose asset partitions are not all produced yet")] = False,
    json_mode: JSON = False,
    executor: EXECUTOR = None,
    dask_scheduler: DASK_SCHEDULER = None,
    dask_wait_workers: DASK_WAIT_WORKERS = None,
) -> int:
    return call("run", pipeline=pipeline, date=date, params=params, only=only, from_=from_, force=force,
                dry_run=dry_run, concurrency=concurrency, fail_fast=fail_fast, ignore_wait=ignore_wait,
                json_mode=json_mode, **executor_options(executor, dask_scheduler, dask_wait_workers))


@command("resume", "rerun a run's failed, cancelled and unstarted tasks",
         "Rerun, in the same run, the failed, upstream_failed, cancelled, interrupted and "
         "never-started tasks (with --from: T and everything downstream of it), keeping the "
         "others and their outputs.",
         ("pipe resume weather", "pipe resume umbrella latest --from train"))
def resume(
    pipeline: Annotated[str, pipeline_arg("the pipeline")],
    run_id: Annotated[Optional[str], typer.Argument(
        metavar="RUN_ID", autocompletion=complete_run, show_default=False,
        help="the run to resume, or `latest` [default: latest]")] = None,
    from_: Annotated[Optional[list[str]], typer.Option(
        "--from", metavar="T", autocompletion=complete_task,
        help="rerun this task and everything downstream of it")] = None,
    json_mode: JSON = False,
    executor: EXECUTOR = None,
    dask_scheduler: DASK_SCHEDULER = None,
    dask_wait_workers: DASK_WAIT_WORKERS = None,
) -> int:
    return call("resume", pipeline=pipeline, run_id=run_id, from_=from_, json_mode=json_mode,
                **executor_options(executor, dask_scheduler, dask_wait_workers))


@command("tick", "for cron, every minute: run every interval that is due",
         "For cron, every minute: run every interval that is due, in every pipeline with a "
         "schedule. Quiet when nothing is due and when every run it started succeeded: only "
         "failures and problems are printed (cron mails them). Crontab line:\n\n  " + CRONTAB,
         (CRONTAB + "   (crontab)", "pipe tick --dry-run", "pipe tick --now 2026-11-05T00:01",
          "pipe tick --notify 'mailto://user:pass@mail.example.com?to=ops@example.com'"))
def tick(
    now: Annotated[Optional[str], typer.Option("--now", metavar="ISO",
                                               help="act as if it were this ISO date-time [default: now]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would run now, and why; run nothing")]
    = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose",
                                          help="print the progress of every run, not only of failed ones")] = False,
    notify_url: Annotated[Optional[str], typer.Option(
        "--notify", metavar="URL", envvar="PIPE_NOTIFY",
        help="send what breaks scheduling (a pipeline file that stopped validating) to this Apprise URL, "
             "once per content of the file")] = None,
    json_mode: JSON = False,
    executor: EXECUTOR = None,
    dask_scheduler: DASK_SCHEDULER = None,
    dask_wait_workers: DASK_WAIT_WORKERS = None,
) -> int:
    return call("tick", now=now, dry_run=dry_run, verbose=verbose, notify_url=notify_url, json_mode=json_mode,
                **executor_options(executor, dask_scheduler, dask_wait_workers))


@command("backfill", "run every interval of a date range",
         "Run every interval that starts from --start to --end (none at or after the pipeline's "
         "end_date), oldest first, up to max_active_runs at once, skipping those that already "
         "succeeded unless --rerun. More than 100 intervals ask for confirmation on a terminal; "
         "without a terminal they need --yes.",
         ("pipe backfill weather --start 2026-11-01 --end 2026-11-07",
          "pipe backfill weather --start 2020-01-01 --end 2026-01-01 --dry-run",
          "pipe backfill weather --start 2026-11-01 --end 2026-11-07 -p city=Paris --rerun"))
def backfill(
    pipeline: Annotated[str, pipeline_arg("the pipeline (it must have a schedule)")],
    start: Annotated[str, typer.Option("--start", metavar="D", help="first date (inclusive); required")],
    end: Annotated[str, typer.Option("--end", metavar="D", help="last date (inclusive); required")],
    rerun: Annotated[bool, typer.Option("--rerun", help="also rerun intervals that already succeeded")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list the intervals it would run, and how many; run "
                                          "nothing")] = False,
    params: Annotated[Optional[list[str]], typer.Option(
        "-p", "--param", metavar="KEY=VALUE", help="override a param in every run (repeatable)")] = None,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="run more than 100 intervals without asking")] = False,
    json_mode: JSON = False,
    executor: EXECUTOR = None,
    dask_scheduler: DASK_SCHEDULER = None,
    dask_wait_workers: DASK_WAIT_WORKERS = None,
) -> int:
    return call("backfill", pipeline=pipeline, start=start, end=end, rerun=rerun, dry_run=dry_run, params=params,
                yes=yes, json_mode=json_mode, **executor_options(executor, dask_scheduler, dask_wait_workers))
