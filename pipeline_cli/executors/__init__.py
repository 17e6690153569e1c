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


__all__ = ["AttemptSpec", "Executor", "Outcome", "Started", "make_executor", "EXECUTORS"]
