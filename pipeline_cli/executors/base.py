"""The executor seam: what an attempt is, what comes back, and the interface every
executor (local processes, Dask workers) implements.

An attempt is a plain, picklable value: everything needed to start it anywhere, with
templates already rendered. An executor starts attempts, reports their outcomes, and
stops them on request; it never decides what runs next (that is the run machine's job)
and never writes events (that is the runner's).
"""
from __future__ import annotations

import os
import shlex
import signal
from dataclasses import dataclass, field
from typing import Protocol

KILL_GRACE = float(os.environ.get("PIPE_KILL_GRACE", "5"))   # seconds between SIGTERM and SIGKILL

# Outcome kinds (keep stable: the runner maps them to task states and reasons).
SUCCEEDED = "succeeded"
FAILED = "failed"             # the task's own failure: exit code, signal, bad $PIPE_OUTPUT
TIMED_OUT = "timed_out"       # its `timeout` was exceeded; its process group was killed
CANCELLED = "cancelled"       # stopped by pipe (Ctrl-C, SIGTERM, --fail-fast): never its own failure
LOST = "lost"                 # where it ran went away (worker lost, scheduler lost)
NOT_STARTED = "not_started"   # it could not start (command not found, no working folder)
OUTCOME_KINDS = (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, LOST, NOT_STARTED)


@dataclass(frozen=True)
class AttemptSpec:
    """One attempt of one task, ready to start: a serialisable value.

    `env` holds only what pipe adds (the pipeline's and task's env, PIPE_*, the named
    secrets, the dotenv file's values): the process gets the environment of the machine
    it runs on, with `env` over it. Paths are absolute. `log_path` is on pipe's machine:
    the executor writes the attempt's output there, masked, as it arrives.
    """

    key: str                       # unique per attempt: "<pipeline>/<run_id>/<task>/<attempt>"
    pipeline: str
    run_id: str
    task: str
    attempt: int
    argv: tuple[str, ...]          # a Python task: the pytask runner (see python_call)
    env: dict[str, str]
    cwd: str
    output_path: str               # $PIPE_OUTPUT
    log_path: str
    display: str                   # the command as a person reads it
    python_call: dict | None = None   # a Python entrypoint's call (entry, folder, kwargs, result path, context)
    timeout: float | None = None
    secrets: tuple[str, ...] = ()  # values masked as *** in the log, wherever the attempt runs
    resources: dict[str, float] = field(default_factory=dict)
    local_only: bool = False       # `executor: local`: runs on pipe's machine whatever the executor
    priority: float = 0.0          # higher starts first (the critical-path rank)

    @property
    def result_path(self) -> str | None:
        return self.python_call["result"] if self.python_call else None


@dataclass
class Outcome:
    """How an attempt ended. A task's failure is a value, never an exception."""

    kind: str
    exit_code: int | None = None
    reason: str | None = None
    duration: float = 0.0
    outputs: dict = field(default_factory=dict)
    worker: str = "local"          # where it ran: "local", or a worker's address
    pgid: int | None = None        # its process group, while known (local attempts)

    @property
    def ok(self) -> bool:
        return self.kind == SUCCEEDED


@dataclass
class Started:
    """What an executor knows once an attempt started (recorded in the `running` event)."""

    worker: str = "local"
    pgid: int | None = None
    pgid_start: str | None = None


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


def display_argv(argv) -> str:
    return shlex.join(list(argv))
