"""Executors: where attempts run, chosen by name from one registry. Each entry says how to
make its executor and which options it reads; an option of one executor given alone
(`--dask-scheduler ADDR`, or its environment variable) chooses it. Built in: `local`
(process groups on this machine) and `dask` (the workers of a Dask distributed cluster,
pipe's extra `pipe-cli[dask]`, imported only when chosen). Another executor is one
`register(ExecutorKind(...))`: the run core knows executors only through base.Executor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UsageError, install_hint
from .base import AttemptSpec, Executor, Outcome, Started


@dataclass(frozen=True)
class ExecutorOption:
    """One option of an executor: its keyword (`dask_scheduler`), its flag on the command
    line, its environment variable, and whether giving it alone chooses the executor."""

    keyword: str
    flag: str
    env: str
    chooses: bool = False


@dataclass(frozen=True)
class ExecutorKind:
    """An executor as the registry knows it: `make(**options)` makes one for a run."""

    name: str
    about: str
    make: Callable[..., Executor]
    options: tuple[ExecutorOption, ...] = ()


REGISTRY: dict[str, ExecutorKind] = {}
DEFAULT = "local"


def register(kind: ExecutorKind) -> None:
    REGISTRY[kind.name] = kind


def names() -> list[str]:
    return list(REGISTRY)


def make_executor(name: str | None = None, **options: Any) -> Executor:
    """The executor of a run: `name`, else env PIPE_EXECUTOR, else the executor that an
    option given (or its environment variable) chooses, else local. Options not given are
    read from their environment variables."""
    for kind in REGISTRY.values():
        for o in kind.options:
            if options.get(o.keyword) in (None, "") and os.environ.get(o.env):
                options[o.keyword] = os.environ[o.env]
    name = name or os.environ.get("PIPE_EXECUTOR") or _chosen_by(options) or DEFAULT
    kind = REGISTRY.get(name)
    if kind is None:
        from ..errors import did_you_mean

        raise UsageError(f"--executor {name!r}: expected one of {', '.join(REGISTRY)}{did_you_mean(name, REGISTRY)}")
    return kind.make(**{o.keyword: options.get(o.keyword) for o in kind.options})


def from_options(executor: str | None = None, **options: Any) -> Executor | None:
    """The executor chosen by --executor and the executors' options (the CLI reads their
    environment variables into them). None: nothing chosen, the default of the run core."""
    given = {k: v for k, v in options.items() if v not in (None, False, [])}
    if executor is None and not _chosen_by(given):
        return None
    return make_executor(executor, **given)


def _chosen_by(options: dict[str, Any]) -> str | None:
    for kind in REGISTRY.values():
        if any(o.chooses and options.get(o.keyword) for o in kind.options):
            return kind.name
    return None


def _local() -> Executor:
    from .local import LocalExecutor

    return LocalExecutor()


DASK_INSTALL = f"the Dask executor needs pipe's dask extra, which is not installed here: {install_hint('dask')}"


def _dask(dask_scheduler: str | None = None, dask_wait_workers: float | str | None = None) -> Executor:
    try:
        from .dask import DaskExecutor     # imports distributed: only here
    except ImportError as e:
        if (e.name or "").split(".")[0] not in ("dask", "distributed"):
            raise
        raise UsageError(f"--executor dask: {DASK_INSTALL}") from None
    if isinstance(dask_wait_workers, str):         # from PIPE_DASK_WAIT_WORKERS
        from ..spec.values import parse_duration

        try:
            dask_wait_workers = parse_duration(dask_wait_workers)
        except ValueError as e:
            raise UsageError(f"PIPE_DASK_WAIT_WORKERS={dask_wait_workers!r}: {e}") from None
    return DaskExecutor(dask_scheduler or None, dask_wait_workers)


register(ExecutorKind("local", "this machine", _local))
register(ExecutorKind("dask", "the workers of a Dask cluster", _dask, (
    ExecutorOption("dask_scheduler", "--dask-scheduler", "PIPE_DASK_SCHEDULER", chooses=True),
    ExecutorOption("dask_wait_workers", "--dask-wait-workers", "PIPE_DASK_WAIT_WORKERS"),
)))

__all__ = ["AttemptSpec", "Executor", "ExecutorKind", "ExecutorOption", "Outcome", "Started", "REGISTRY",
           "DASK_INSTALL", "from_options", "make_executor", "names", "register"]
