"""The values an attempt is made of, below both the run machine and the executors.

An attempt is a plain, picklable value (AttemptSpec): everything needed to start it
anywhere, with templates already rendered. What comes back is an Outcome (how it ended)
and, at its start, a Started (where it runs, and an opaque handle its executor can use to
find it again after pipe itself died).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

# Outcome kinds (keep stable: the machine maps them to task states and reasons).
SUCCEEDED = "succeeded"
FAILED = "failed"             # the task's own failure: exit code, signal, bad $PIPE_OUTPUT
TIMED_OUT = "timed_out"       # its `timeout` was exceeded; its process group was killed
CANCELLED = "cancelled"       # stopped by pipe (Ctrl-C, SIGTERM, --fail-fast): never its own failure
LOST = "lost"                 # where it ran went away (worker lost, scheduler lost)
NOT_STARTED = "not_started"   # it could not start (command not found, no working folder)


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
    argv: tuple[str, ...]          # a Python task: the Python task runner (see python_call)
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

    @property
    def ok(self) -> bool:
        return self.kind == SUCCEEDED


@dataclass
class Started:
    """What an executor knows once it started an attempt: where it runs (None: not known yet,
    the executor says it later through `placed()`), and `handle`, fields of its own recorded
    in the attempt's `running` event (the local executor: its process group) that its
    `stop_leftovers` reads back when a run whose pipe died is resumed."""

    worker: str | None = "local"
    handle: dict[str, Any] = field(default_factory=dict)


def display_argv(argv) -> str:
    return shlex.join(list(argv))


# Words a shell must see: its keywords, and its builtins, which may differ from the program of
# the same name (sh's `echo -e` prints "-e"; /bin/echo does not). Any other simple command is
# run directly, as make does.
_SHELL_CHARS = frozenset("#;\"'*?[]&|<>(){}$`~!\n\\=%^")
_SHELL_WORDS = frozenset({
    ":", ".", "!", "[", "[[", "alias", "bg", "break", "case", "cd", "command", "continue", "declare",
    "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fc", "fg",
    "fi", "for", "function", "getopts", "hash", "if", "jobs", "kill", "let", "local", "printf", "pwd",
    "read", "readonly", "return", "select", "set", "shift", "source", "test", "then", "time", "times",
    "trap", "true", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
})


def shell_argv(command: str, shell: tuple[str, ...] | None) -> list[str]:
    """argv for a shell string: the default `sh -c` is skipped when the command is a plain
    program with plain words, whose result cannot differ from the shell's."""
    if shell is None or tuple(shell) == ("sh", "-c"):
        if not (_SHELL_CHARS & set(command)):
            words = command.split()
            if words and words[0] not in _SHELL_WORDS:
                return words
        return ["sh", "-c", command]
    return [*shell, command]
