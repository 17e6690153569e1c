"""The typer CLI: parse arguments, call commands.py, exit with its code."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from . import __version__, commands

app = typer.Typer(
    name="pipe", no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
    help="Run data pipelines declared in YAML on one machine: a DAG of tasks, cron schedules, "
         "and a file-based state log.\n\nExamples:\n\n  pipe run weather.yaml\n\n  pipe graph weather\n\n"
         "  pipe status weather\n\n  * * * * *  cd /srv/project && pipe tick   (crontab)",
    context_settings={"help_option_names": ["-h", "--help"]},
)
_globals: dict = {}


def _g() -> commands.Globals:
    return commands.Globals.make(_globals.get("pipelines_dir"), _globals.get("state_dir"))


def _exit(code: int) -> None:
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        print(f"pipe {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    pipelines_dir: Optional[str] = typer.Option(None, "--pipelines-dir", envvar="PIPE_PIPELINES_DIR",
                                                help="Where pipeline files are found [default: pipelines/]."),
    state_dir: Optional[str] = typer.Option(None, "--state-dir", envvar="PIPE_STATE_DIR",
                                            help="Where runs, logs and the interval ledger are kept [default: .pipe/]."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    _globals.update(pipelines_dir=pipelines_dir, state_dir=state_dir)


@app.command()
def run(
    pipeline: str = typer.Argument(..., help="A pipeline file, or a name or file name in the pipelines folder."),
    date: Optional[str] = typer.Option(None, "--date", help="Run the interval that starts at the latest cron time at or before this date."),
    param: Optional[List[str]] = typer.Option(None, "-p", "--param", help="KEY=VALUE: override a declared param (repeatable)."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Run just these tasks (comma-separated), not their upstream."),
    from_: Optional[List[str]] = typer.Option(None, "--from", help="Run this task and everything downstream of it."),
    force: bool = typer.Option(False, "--force", help="Run tasks even when their `generates` are up to date."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan with every command rendered; run nothing."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Most tasks running at once."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop the run at the first failed task."),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document (the run) and nothing else on stdout."),
) -> None:
    """Run a pipeline now.

    Examples: `pipe run weather.yaml`, `pipe run weather --date 2026-11-03 -p city=Paris`,
    `pipe run umbrella --from train --dry-run`.
    """
    _exit(commands.guarded(commands.run, _g(), pipeline, date=date, params=param, only=only, from_=from_,
                           force=force, dry_run=dry_run, concurrency=concurrency, fail_fast=fail_fast,
                           json_mode=json_mode))


@app.command()
def resume(
    pipeline: str = typer.Argument(..., help="The pipeline."),
    run_id: Optional[str] = typer.Argument(None, metavar="[RUN_ID|latest]", help="The run to resume [default: latest]."),
    from_: Optional[List[str]] = typer.Option(None, "--from", help="Rerun this task and everything downstream of it."),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document (the run)."),
) -> None:
    """Rerun a run's failed, upstream_failed, interrupted and unstarted tasks, keeping the rest.

    Examples: `pipe resume weather`, `pipe resume umbrella latest --from train`.
    """
    _exit(commands.guarded(commands.resume, _g(), pipeline, run_id, from_=from_, json_mode=json_mode))


@app.command()
def validate(pipelines: Optional[List[str]] = typer.Argument(None, help="Pipelines [default: every one in the pipelines folder].")) -> None:
    """Check pipeline files: a line per file, `ok` or every error with file:line:column.

    Example: `pipe validate` or `pipe validate weather.yaml umbrella`.
    """
    _exit(commands.guarded(commands.validate, _g(), pipelines))


@app.command()
def graph(
    pipeline: Optional[str] = typer.Argument(None, help="The pipeline [default: every pipeline]."),
    fmt: str = typer.Option("tree", "--format", help="tree, mermaid, dot or json."),
) -> None:
    """Show the task graph.

    Examples: `pipe graph umbrella`, `pipe graph weather --format mermaid`,
    `pipe graph weather --format dot | dot -Tsvg > weather.svg`.
    """
    _exit(commands.guarded(commands.graph, _g(), pipeline, fmt))


@app.command("list")
def list_(json_mode: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List pipelines: schedule, next due time, task count, last run and its state.

    Example: `pipe list`.
    """
    _exit(commands.guarded(commands.list_pipelines, _g(), json_mode))


@app.command()
def status(
    pipeline: Optional[str] = typer.Argument(None, help="The pipeline [default: all]."),
    run_id: Optional[str] = typer.Option(None, "--run", help="One run's task table."),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show recent runs and the task table of the latest (or --run) run.

    Examples: `pipe status`, `pipe status weather --run 20261124T060000123Z-scheduled-1a2b --json`.
    """
    _exit(commands.guarded(commands.status, _g(), pipeline, run_id, json_mode))


@app.command()
def logs(
    pipeline: str = typer.Argument(..., help="The pipeline."),
    task: Optional[str] = typer.Argument(None, help="The task [default: the failed tasks]."),
    run_id: Optional[str] = typer.Option(None, "--run", help="The run [default: the latest]."),
    attempt: Optional[int] = typer.Option(None, "--attempt", help="The attempt [default: the latest]."),
) -> None:
    """Print a task attempt's log (stdout and stderr).

    Examples: `pipe logs weather`, `pipe logs weather clean --attempt 1`.
    """
    _exit(commands.guarded(commands.logs, _g(), pipeline, task, run_id, attempt))


@app.command()
def tick(
    now: Optional[str] = typer.Option(None, "--now", help="Act as if it were this ISO date-time [default: now]."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run now, and why; run nothing."),
    pipeline_file: Optional[str] = typer.Option(None, "--pipeline-file", hidden=True),
) -> None:
    """For cron, every minute: run every interval that is due. Silent when nothing is due.

    Example crontab line: `* * * * * cd /srv/project && pipe tick >> .pipe/tick.log 2>&1`;
    `pipe tick --dry-run` says what is due and why.
    """
    _exit(commands.guarded(commands.tick, _g(), now, dry_run, pipeline_file))


@app.command()
def backfill(
    pipeline: str = typer.Argument(..., help="The pipeline (it must have a schedule)."),
    start: str = typer.Option(..., "--start", help="First date (inclusive)."),
    end: str = typer.Option(..., "--end", help="Last date (inclusive)."),
    rerun: bool = typer.Option(False, "--rerun", help="Also rerun intervals that already succeeded."),
    json_mode: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Run every interval from --start to --end, oldest first.

    Example: `pipe backfill weather --start 2026-11-01 --end 2026-11-07`.
    """
    _exit(commands.guarded(commands.backfill, _g(), pipeline, start, end, rerun, json_mode))


@app.command()
def schema() -> None:
    """Print the JSON Schema of pipeline files (for editors: yaml-language-server).

    Example: `pipe schema > schemas/pipeline.schema.json`, then start a pipeline file with
    `# yaml-language-server: $schema=../schemas/pipeline.schema.json`.
    """
    _exit(commands.guarded(commands.schema))


def main() -> None:
    app(prog_name="pipe")


if __name__ == "__main__":
    sys.exit(main())
