"""One attempt of one task: a process in its own process group, writing to its log file.

`start` spawns it and returns an Attempt; the run loop waits on it, asks it to time out
or stop (the whole process group: SIGTERM, then SIGKILL after a grace period), and reads
its Outcome. A task's failure is a returned value, never an exception.
"""
from __future__ import annotations

import functools
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .secrets import Redactor, StreamRedactor

KILL_GRACE = float(os.environ.get("PIPE_KILL_GRACE", "5"))   # seconds between SIGTERM and SIGKILL
# Characters and words that need a shell; anything else is run directly, as make does.
_SHELL_CHARS = frozenset("#;\"'*?[]&|<>(){}$`~!\n\\=%^")
_SHELL_WORDS = frozenset({":", "cd", "export", "exit", "set", "unset", ".", "source", "alias", "eval", "exec",
                          "read", "trap", "ulimit", "umask", "wait", "shift", "return", "break", "continue",
                          "local", "if", "then", "for", "while", "until", "case", "function", "!", "[[",
                          "command", "type", "hash", "getopts", "times", "readonly", "declare", "typeset"})


@dataclass
class Invocation:
    """What to start: argv, environment, working folder (all templates already rendered)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    display: str                   # the command as a person reads it (dry-run, logs)
    python_call: dict | None = None


def shell_argv(command: str, shell: tuple[str, ...] | None) -> list[str]:
    """argv for a shell string: the default `sh -c` is skipped when no shell feature is used."""
    if shell is None or tuple(shell) == ("sh", "-c"):
        if not (_SHELL_CHARS & set(command)):
            words = command.split()
            if words and words[0] not in _SHELL_WORDS:
                return words
        return ["sh", "-c", command]
    return [*shell, command]


@dataclass
class Outcome:
    ok: bool
    exit_code: int | None
    reason: str | None
    duration: float
    outputs: dict = field(default_factory=dict)


class Attempt:
    def __init__(self, task_id: str, number: int, log_path: Path, output_path: Path, timeout: float | None):
        self.task_id, self.number = task_id, number
        self.log_path, self.output_path = log_path, output_path
        self.result_path: Path | None = None     # where a Python task writes its dict
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout if timeout else None
        self.proc: subprocess.Popen | None = None
        self.pidfd = -1
        self.pipe_fd = -1
        self.stream: StreamRedactor | None = None
        self.log_fd = -1
        self.kill_reason: str | None = None
        self.kill_at: float | None = None      # when SIGKILL follows the SIGTERM
        self.start_error: str | None = None
        self.returncode: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    # -- start ----------------------------------------------------------------------
    def start(self, inv: Invocation, redactor: Redactor) -> None:
        # $PIPE_OUTPUT is not created in advance (one file fewer per task): a task that
        # writes outputs creates it, and finish() makes it owner-only.
        self.log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        out = self.log_fd
        if redactor:
            self.pipe_fd, out = os.pipe()
            os.set_blocking(self.pipe_fd, False)
            self.stream = StreamRedactor(redactor)
        env = inv.env
        if inv.python_call is not None:
            env = dict(env, PIPE_PY_CALL=json.dumps(inv.python_call, default=str))
            self.result_path = Path(inv.python_call["result"])
        try:
            self.proc = subprocess.Popen(inv.argv, executable=_program(inv.argv[0], env), stdin=_devnull(),
                                         stdout=out, stderr=subprocess.STDOUT, cwd=inv.cwd, env=env,
                                         start_new_session=True, close_fds=True)
        except OSError as e:
            what = "command not found" if isinstance(e, FileNotFoundError) and os.path.isdir(inv.cwd) else e.strerror
            where = inv.argv[0] if os.path.isdir(inv.cwd) else f"working folder {inv.cwd}"
            self.start_error = f"cannot start: {what}: {where}"
            self.returncode = 127 if isinstance(e, FileNotFoundError) else 126
            os.write(self.log_fd, f"pipe: {self.start_error}\n".encode())
        finally:
            if self.pipe_fd >= 0:
                os.close(out)
        if self.proc is not None and hasattr(os, "pidfd_open"):
            try:
                self.pidfd = os.pidfd_open(self.proc.pid)
            except OSError:
                self.pidfd = -1

    # -- while running --------------------------------------------------------------
    def poll(self) -> bool:
        """True once the task's process has exited (or never started)."""
        if self.proc is None:
            return True
        if self.returncode is None:
            self.returncode = self.proc.poll()
        return self.returncode is not None

    def pump(self) -> bool:
        """Copy redacted output to the log; False at end of stream."""
        if self.pipe_fd < 0:
            return False
        while True:
            try:
                chunk = os.read(self.pipe_fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            os.write(self.log_fd, self.stream.feed(chunk))

    def stop(self, reason: str) -> None:
        """SIGTERM the whole process group now, SIGKILL it after the grace period."""
        if self.kill_reason is None:
            self.kill_reason = reason
            self.kill_at = time.monotonic() + KILL_GRACE
            signal_group(self.pid, signal.SIGTERM)

    def next_deadline(self) -> float | None:
        return self.kill_at if self.kill_at is not None else self.deadline

    def on_time(self, now: float) -> None:
        if self.kill_at is not None:
            if now >= self.kill_at:
                signal_group(self.pid, signal.SIGKILL)
                self.kill_at = None
        elif self.deadline is not None and now >= self.deadline:
            self.stop(f"timed out after {_seconds(self.timeout)}")

    # -- end ------------------------------------------------------------------------
    def finish(self) -> Outcome:
        duration = time.monotonic() - self.started
        if self.kill_reason is not None and self.pid:
            signal_group(self.pid, signal.SIGKILL)   # anything of the group that outlived the leader
        if self.pipe_fd >= 0:
            self.pump()
            os.write(self.log_fd, self.stream.close())
            os.close(self.pipe_fd)
            self.pipe_fd = -1
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        code = self.returncode
        if self.start_error:
            reason = self.start_error
        elif self.kill_reason:
            reason = self.kill_reason
        elif code is not None and code < 0:
            try:
                reason = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                reason = f"killed by signal {-code}"
        elif code:
            reason = f"exit code {code}"
        else:
            reason = None
        ok = code == 0 and self.kill_reason is None and not self.start_error
        outputs: dict = {}
        written = []          # most tasks write neither file: one failed chmod each, no open
        for path in (self.output_path, self.result_path):
            if path is not None:
                try:
                    os.chmod(path, 0o600)
                    written.append(path)
                except OSError:
                    pass
        if ok and written:
            outputs, problem = read_outputs(self.output_path, self.result_path)
            if problem and ok:
                ok, reason = False, problem
                os.write(self.log_fd, f"pipe: {problem}\n".encode())
        os.close(self.log_fd)
        self.log_fd = -1
        return Outcome(ok=ok, exit_code=code, reason=reason, duration=round(duration, 4), outputs=outputs)


@functools.cache
def _devnull() -> int:
    """/dev/null, opened once for every task's stdin (subprocess.DEVNULL opens it per task)."""
    return os.open(os.devnull, os.O_RDONLY)


def _program(name: str, env: dict[str, str]) -> str | None:
    """The program's path, looked up in the task's PATH once per run rather than by a
    string of failed execs in every child (0.05-0.1 ms a task on a long PATH); argv[0]
    stays as written. None (the usual lookup, and its errors) for a program not found,
    a name with a '/', or a PATH with a relative entry."""
    path = env.get("PATH", os.defpath)
    if "/" in name or not all(d.startswith("/") for d in path.split(os.pathsep)):
        return None
    return _which(name, path)


@functools.cache
def _which(name: str, path: str) -> str | None:
    import shutil

    return shutil.which(name, path=path)


def signal_group(pid: int | None, sig: int) -> None:
    if not pid:
        return
    try:
        os.killpg(pid, sig)     # the task leads its own session and process group
    except (ProcessLookupError, PermissionError):
        pass


def read_outputs(path: Path, result_path: Path | None) -> tuple[dict, str | None]:
    """`key=value` lines (and GitHub's `key<<EOF` blocks), then a Python task's returned dict."""
    outputs: dict = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            block = []
            while i < len(lines) and lines[i] != delim:
                block.append(lines[i])
                i += 1
            i += 1
            outputs[key.strip()] = "\n".join(block)
        elif "=" in line:
            key, value = line.split("=", 1)
            outputs[key.strip()] = value
        else:
            return outputs, f"$PIPE_OUTPUT line {i} is not key=value: {line[:80]!r}"
    if result_path is None:
        return outputs, None
    try:
        data = result_path.read_bytes()
    except OSError:
        return outputs, None
    try:
        result = json.loads(data)
    except ValueError:
        return outputs, "the Python task's result could not be read"
    if isinstance(result, dict):
        outputs.update(result)
    return outputs, None


def _seconds(s: float | None) -> str:
    if s is None:
        return "?"
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return f"{s:g}s"


def python_argv() -> list[str]:
    return [sys.executable, "-m", "pipeline_cli.pytask"]


def display_argv(argv: list[str]) -> str:
    return shlex.join(argv)
