"""Executors: where attempts run. `local` (process groups on this machine) and `dask`
(the workers of a Dask distributed cluster, pipe's extra `pipe-cli[dask]`)."""
from __future__ import annotations

import os

from ..errors import UsageError
from .base import AttemptSpec, Executor, Outcome, Started

EXECUTORS = ("local", "dask")


def make_executor(name: str | None = None, scheduler: str | None = None) -> Executor:
    """The executor of a run: `name` or env PIPE_EXECUTOR (default local); for dask, the
    scheduler's address or env PIPE_DASK_SCHEDULER (none: a local Dask cluster for the run)."""
    name = name or os.environ.get("PIPE_EXECUTOR") or "local"
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor()
    if name == "dask":
        from .dask import DaskExecutor     # imports distributed: only here

        return DaskExecutor(scheduler or os.environ.get("PIPE_DASK_SCHEDULER") or None)
    raise UsageError(f"--executor {name!r}: expected one of {', '.join(EXECUTORS)}")


def from_options(executor: str | None = None, dask_scheduler: str | None = None) -> Executor | None:
    """The executor chosen by --executor / --dask-scheduler (the CLI also reads PIPE_EXECUTOR and
    PIPE_DASK_SCHEDULER into them); None: the default, a local executor made by the runner."""
    if executor in (None, "local"):
        return None if executor is None else make_executor("local")
    return make_executor(executor, dask_scheduler)


__all__ = ["AttemptSpec", "Executor", "Outcome", "Started", "make_executor", "from_options", "EXECUTORS"]
