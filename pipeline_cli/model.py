"""The typed, immutable model of a pipeline, and the task states (keep stable: persisted)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

# Task states (keep stable: persisted in events.jsonl).
PENDING = "pending"
RUNNING = "running"
RETRYING = "retrying"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
UPSTREAM_FAILED = "upstream_failed"
CANCELLED = "cancelled"        # stopped by pipe (Ctrl-C, SIGTERM, --fail-fast, pipe died): resume reruns it
WAITING = "waiting"            # a sensor whose condition does not hold yet
TASK_STATES = (PENDING, WAITING, RUNNING, RETRYING, SUCCEEDED, FAILED, SKIPPED, UPSTREAM_FAILED, CANCELLED)
FINISHED_STATES = frozenset({SUCCEEDED, FAILED, SKIPPED, UPSTREAM_FAILED, CANCELLED})

# Run states (keep stable: persisted or derived from events.jsonl).
RUN_RUNNING = "running"
RUN_SUCCEEDED = "succeeded"
RUN_FAILED = "failed"
RUN_INTERRUPTED = "interrupted"
RUN_WAITING = "waiting"        # started by tick, its only unfinished tasks are waiting sensors: a later tick resumes it

# Run kinds (keep stable: persisted).
MANUAL = "manual"
SCHEDULED = "scheduled"
BACKFILL = "backfill"



@dataclass(frozen=True)
class Task:
    id: str
    run: str | tuple[str, ...] | None = None       # shell string, or argv list (no shell)
    python: str | None = None                      # "module:function"
    with_: Mapping[str, Any] = field(default_factory=dict)
    deps: tuple[str, ...] = ()
    retries: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    trigger: str = "all_success"
    sources: tuple[str, ...] = ()
    generates: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    workdir: str | None = None
    description: str = ""
    executor: str | None = None                    # "local": on pipe's machine whatever the run's executor
    resources: Mapping[str, float] = field(default_factory=dict)   # e.g. {"GPU": 1}: workers that offer them
    foreach: Any = None                            # a list, a JSON-array string, a template, a matrix
    max_parallel: int | None = None                # instances of a foreach task at once
    pool: str | None = None                        # a pool of the project file: its slots bound the task
    pool_slots: int = 1
    wait: Mapping[str, Any] | None = None          # a sensor: {"file" | "http" | "command" | "after": ...}
    every: float = 60.0                            # a sensor's check interval, seconds
    produces: tuple[str, ...] = ()                 # assets whose partition (the run's interval) it makes


@dataclass(frozen=True)
class Notify:
    """The `notify:` block (SPEC section 9); notify/ decides, builds and delivers."""

    to: tuple[str, ...] = ()                 # Apprise URLs: templates over env, params, secrets
    when: tuple[str, ...] = ("failure", "recovery")
    deadline: float | None = None            # seconds after an interval's end
    run: str | tuple[str, ...] | None = None # a command: shell string or argv list
    repeat: bool = False                     # every failure, not once per streak
    manual: bool = False                     # manual `pipe run`s notify too
    timeout: float = 10.0                    # per delivery (all of them: at most 30 s)


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: str                    # absolute path of the file
    folder: str                  # its folder: relative paths and module lookup start here
    tasks: Mapping[str, Task]    # in declaration order
    description: str = ""
    schedule: str | None = None
    timezone: str = "UTC"
    start_date: datetime | None = None     # aware, in the pipeline's timezone
    end_date: datetime | None = None       # aware: no interval starting at or after it is scheduled
    catchup: bool | float = False          # False, True, or a window in seconds
    max_active_runs: int = 1
    concurrency: int | None = None         # None: the CPU count
    params: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    dotenv: str | None = None
    secrets: tuple[str, ...] = ()
    workdir: str | None = None
    shell: tuple[str, ...] | None = None
    digest: str = ""             # hash of the file's bytes
    notify: Notify | None = None # the `notify:` block
    pools: Mapping[str, int] = field(default_factory=dict)   # the project file's pools (name -> slots)
    wait_for: tuple[str, ...] = ()           # assets whose partitions an interval waits for
    wait_timeout: float | None = None        # seconds past an interval's end it waits for them
    warnings: tuple = ()         # errors.Problem: what `pipe validate` warns about (not errors)
