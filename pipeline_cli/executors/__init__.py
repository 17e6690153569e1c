"""Executors: where attempts run. `local` (process groups on this machine) and `dask`
(the workers of a Dask distributed cluster, pipe's extra `pipe-cli[dask]`)."""
from __future__ import annotations

import os

from ..errors import UsageError, install_hint
from .base import AttemptSpec, Executor, Outcome, Started

EXECUTORS = ("local", "dask")
DASK_INSTALL = f"the Dask executor needs pipe's dask extra, which is not installed here: {install_hint('dask')}"


def make_executor(name: str | None = None, scheduler: str | None = None, wait_workers: float | None = None) -> Executor:
    """The executor of a run: `name` or env PIPE_EXECUTOR; without either, a scheduler's
    address (`scheduler` or env PIPE_DASK_SCHEDULER) means dask, and nothing means local.
    For dask without an address: a local Dask cluster for the run."""
    scheduler = scheduler or os.environ.get("PIPE_DASK_SCHEDULER") or None
    name = name or os.environ.get("PIPE_EXECUTOR") or ("dask" if scheduler else "local")
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor()
    if name == "dask":
        try:
            from .dask import DaskExecutor     # imports distributed: only here
        except ImportError as e:
            if (e.name or "").split(".")[0] not in ("dask", "distributed"):
                raise
            raise UsageError(f"--executor dask: {DASK_INSTALL}") from None
        return DaskExecutor(scheduler, wait_workers)
    raise UsageError(f"--executor {name!r}: expected one of {', '.join(EXECUTORS)}")


def from_options(executor: str | None = None, dask_scheduler: str | None = None,
                 dask_wait_workers: float | None = None) -> Executor | None:
    """The executor chosen by --executor / --dask-scheduler (the CLI also reads PIPE_EXECUTOR and
    PIPE_DASK_SCHEDULER into them): an address alone means dask. None: the default, which the
    runner makes (make_executor() with nothing given)."""
    if executor is None and dask_scheduler:
        executor = "dask"
    if executor in (None, "local"):
        return None if executor is None else make_executor("local")
    return make_executor(executor, dask_scheduler, dask_wait_workers)


__all__ = ["AttemptSpec", "Executor", "Outcome", "Started", "make_executor", "from_options", "EXECUTORS",
           "DASK_INSTALL"]
