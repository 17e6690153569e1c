"""What several commands share: value types with pipe's messages (a whole number, one of a
few words, a duration), the shared options (--json, the executor options) as Typer
annotations, and what completes pipeline names, task ids and run ids, read from the same
folders as the command would use (--pipelines-dir / --state-dir anywhere on the line)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Optional

import click
import typer


class Refused(click.BadParameter):
    """A bad value, with the whole message written here (errors.message prints it as it is)."""

    pipe_message = True


def _name(param: click.Parameter | None) -> str:
    if isinstance(param, click.Option):
        return param.opts[-1]
    return (param.metavar or param.name.upper()) if param is not None else "value"


class Whole(click.ParamType):
    name = "integer"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            raise Refused(f"{_name(param)} {value!r}: expected a whole number", ctx, param) from None


class Choice(click.Choice):
    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        raise Refused(f"{_name(param)} {value!r}: expected one of {', '.join(self.choices)}", ctx, param)


class Duration(click.ParamType):
    """`90s`, `5m`, `1h30m`: seconds (a float), as the pipeline files' durations."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            return value
        from ..spec.values import parse_duration

        try:
            return parse_duration(value)
        except ValueError as e:
            raise Refused(f"{_name(param)} {value!r}: {e} (e.g. 2m, 90s)", ctx, param) from None


WHOLE = Whole()


# --- the folders of the line, for completion ----------------------------------------------------

FOLDERS = ("pipelines_dir", "state_dir")


def remember_folder(ctx: click.Context, param: click.Parameter, value):
    """--pipelines-dir / --state-dir, before or after the command: kept in ctx.meta, which the
    command's context shares with pipe's (the one after the command wins)."""
    if value is not None:
        ctx.meta[f"pipe.{param.name}"] = value
    return value


def folders(ctx: click.Context) -> dict:
    return {name: ctx.meta.get(f"pipe.{name}") for name in FOLDERS}


def _globals(ctx: click.Context):
    from ..commands import Globals

    f = folders(ctx)
    return Globals.make(f["pipelines_dir"], f["state_dir"])


def _quietly(fn):
    """Completion never fails loudly: a missing folder or an invalid file completes nothing."""
    def wrapper(ctx: click.Context, incomplete: str) -> list[str]:
        try:
            return fn(ctx, incomplete)
        except Exception:
            return []
    wrapper.__name__ = fn.__name__
    return wrapper


@_quietly
def complete_pipeline(ctx: click.Context, incomplete: str) -> list[str]:
    from ..commands import complete

    return complete.pipeline_names(_globals(ctx), incomplete)


@_quietly
def complete_task(ctx: click.Context, incomplete: str) -> list[str]:
    from ..commands import complete

    return complete.task_ids(_globals(ctx), ctx.params.get("pipeline"), incomplete)


@_quietly
def complete_log_task(ctx: click.Context, incomplete: str) -> list[str]:
    from ..commands import complete

    return complete.log_task_ids(_globals(ctx), ctx.params.get("pipeline"), ctx.params.get("run_id"), incomplete)


@_quietly
def complete_tasks(ctx: click.Context, incomplete: str) -> list[str]:
    from ..commands import complete

    return complete.task_ids(_globals(ctx), ctx.params.get("pipeline"), incomplete, many=True)


@_quietly
def complete_run(ctx: click.Context, incomplete: str) -> list[str]:
    from ..commands import complete

    return complete.run_ids(_globals(ctx), ctx.params.get("pipeline"), incomplete,
                            latest=ctx.command.name == "resume")


# --- shared options ---------------------------------------------------------------------------

def pipeline_arg(help: str):
    """PIPELINE: a path, or a name or file name in the pipelines folder (optional when the
    function gives it a default)."""
    return typer.Argument(metavar="PIPELINE", help=help, autocompletion=complete_pipeline, show_default=False)


JSON = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout and nothing else there")]
FROM = Annotated[Optional[list[str]], typer.Option("--from", metavar="T", autocompletion=complete_task,
                                                   help="run this task and everything downstream of it")]

class _ExecutorNames(Sequence):
    """The names of the executor registry, read when Click first needs them (a parse that
    has --executor, help, completion): the registry is not imported by every command."""

    def _names(self) -> list[str]:
        from .. import executors

        return executors.names()

    def __getitem__(self, i):
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())


# The executor options of run, resume, tick and backfill.
EXECUTOR = Annotated[Optional[str], typer.Option(
    "--executor", metavar="NAME", envvar="PIPE_EXECUTOR", click_type=Choice(_ExecutorNames()),
    help="where tasks run: local (this machine) or dask (the workers of a Dask cluster) [default: local]")]
DASK_SCHEDULER = Annotated[Optional[str], typer.Option(
    "--dask-scheduler", metavar="ADDRESS", envvar="PIPE_DASK_SCHEDULER",
    help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786; alone, it means --executor dask "
         "[default: a local Dask cluster for the run]")]
DASK_WAIT_WORKERS = Annotated[Optional[float], typer.Option(
    "--dask-wait-workers", metavar="DURATION", envvar="PIPE_DASK_WAIT_WORKERS", click_type=Duration(),
    help="how long to wait for a worker when the cluster has none (e.g. one that adapts from zero), "
         "and for an attempt that no worker can run, before it fails [default: 2m]")]


def executor_options(executor: str | None, dask_scheduler: str | None, dask_wait_workers: float | None) -> dict:
    """The executor options as the commands take them (the registry says which executor an
    option given alone chooses: an address alone means dask)."""
    return {"executor": executor, "dask_scheduler": dask_scheduler, "dask_wait_workers": dask_wait_workers}
