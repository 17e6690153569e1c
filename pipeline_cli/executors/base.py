"""The executor seam: the interface every executor (local processes, Dask workers)
implements, over the attempt values of pipeline_cli/attempt.py (re-exported here for the
executors' own use).

An executor starts attempts, reports their outcomes, and stops them on request; it never
decides what runs next (that is the run machine's job) and never writes events (that is
the run loop's).
"""
from __future__ import annotations

import os
import signal
from typing import Any, Protocol

from ..attempt import (CANCELLED, FAILED, LOST, NOT_STARTED, SUCCEEDED, TIMED_OUT, AttemptSpec, Outcome,
                       Started, display_argv)

KILL_GRACE = float(os.environ.get("PIPE_KILL_GRACE", "5"))   # seconds between SIGTERM and SIGKILL

class Executor(Protocol):
    """Starts attempts and reports how they end.

    `open(wake_fd)` is called once before the first submit: `wait` must return early when
    `wake_fd` becomes readable (the runner's signal handler writes to it). `capacity` is the
    default `concurrency` (local: the CPU count; Dask: the cluster's threads).
    """

    name: str

    def open(self, wake_fd: int) -> None: ...

    def capacity(self) -> int: ...

    def check(self, specs_preview: list[AttemptSpec], pipeline_file: str) -> None:
        """Before the first task: refuse what can never run (raise UsageError)."""

    def submit(self, spec: AttemptSpec) -> Started: ...

    def wait(self, timeout: float | None) -> list[tuple[str, Outcome]]:
        """Block until an attempt ends, `timeout` passes or the wake fd is readable;
        return the (key, outcome) of every attempt that ended."""

    def placed(self) -> list[tuple[str, str]]:
        """Attempts that started on a worker since the last call, as (key, worker): an
        executor that learns where an attempt runs only once it starts (Dask) says it here;
        the runner records it. The local executor knows at submit and returns []."""

    def cancel(self, key: str, reason: str, grace: float = KILL_GRACE) -> None:
        """SIGTERM the attempt's whole process group now, SIGKILL after `grace`; its
        outcome (kind CANCELLED, or TIMED_OUT when reason says so) comes from wait()."""

    def stop_leftovers(self, handles: list[dict[str, Any]]) -> None:
        """A run whose pipe died is resumed: stop whatever still runs of the attempts this
        executor started then (`handles`: the Started.handle of each, as recorded), before
        anything of the run starts again."""

    def kill_all(self) -> None:
        """SIGKILL every running attempt now (a second Ctrl-C)."""

    def running(self) -> int: ...

    def close(self, hard: bool = False) -> None:
        """Release everything; `hard` (the run was interrupted): SIGKILL whatever is left of
        every attempt's process group."""


def signal_group(pid: int | None, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)     # the task leads its own session and process group
    except (ProcessLookupError, PermissionError):
        pass


def exit_reason(code: int | None) -> str | None:
    """The reason of a process's end, from its return code (None: it succeeded)."""
    if code is None or code == 0:
        return None
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def seconds_text(s: float | None) -> str:
    if s is None:
        return "?"
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return f"{s:g}s"


__all__ = ["KILL_GRACE", "Executor", "AttemptSpec", "Outcome", "Started", "SUCCEEDED", "FAILED", "TIMED_OUT",
           "CANCELLED", "LOST", "NOT_STARTED", "display_argv", "signal_group", "exit_reason", "seconds_text"]
