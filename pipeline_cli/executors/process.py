"""One attempt as a process group on this machine: started from an AttemptSpec, its output
masked on the way to a sink, stopped (SIGTERM to the group, SIGKILL after the grace), and
turned into an Outcome. The local executor runs attempts with it, and so does the worker
side of the Dask executor: an attempt runs the same way wherever it runs.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from typing import Callable

from ..redact import Redactor, StreamRedactor
from . import base
from .base import AttemptSpec, Outcome


def python_argv() -> list[str]:
    return [sys.executable, "-m", "pipeline_cli.python_task"]


Sink = Callable[[bytes], None]


class AttemptProcess:
    """A started attempt. Its output goes to `log_fd` directly (nothing to mask), or through
    a pipe that `pump()` drains, masks and hands to `sink`."""

    def __init__(self, spec: AttemptSpec, base_env: dict[str, str], log_fd: int, sink: Sink | None = None,
                 always_pipe: bool = False):
        self.spec = spec
        self.log_fd = log_fd
        self.sink = sink or functools.partial(os.write, log_fd)
        self.started = time.monotonic()
        self.deadline = self.started + spec.timeout if spec.timeout else None
        self.proc: subprocess.Popen | None = None
        self.pidfd = -1
        self.pipe_fd = -1
        self.stream: StreamRedactor | None = None
        self.kill_reason: str | None = None
        self.kill_kind: str | None = None
        self.kill_at: float | None = None
        self.start_error: str | None = None
        self.returncode: int | None = None
        self._start(base_env, always_pipe)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _start(self, base_env: dict[str, str], always_pipe: bool) -> None:
        spec = self.spec
        out = self.log_fd
        if spec.secrets or always_pipe:
            self.pipe_fd, out = os.pipe()
            os.set_blocking(self.pipe_fd, False)
            if spec.secrets:
                self.stream = StreamRedactor(Redactor(spec.secrets))
        env = {**base_env, **spec.env}
        argv = list(spec.argv)
        if spec.python_call is not None:
            env["PIPE_PY_CALL"] = json.dumps(spec.python_call, default=str)
            argv = python_argv()
        try:
            self.proc = subprocess.Popen(argv, executable=_program(argv[0], env), stdin=_devnull(),
                                         stdout=out, stderr=subprocess.STDOUT, cwd=spec.cwd, env=env,
                                         start_new_session=True, close_fds=True)
        except OSError as e:
            missing_dir = not os.path.isdir(spec.cwd)
            what = "command not found" if isinstance(e, FileNotFoundError) and not missing_dir else e.strerror
            where = f"working folder {spec.cwd}" if missing_dir else argv[0]
            self.start_error = f"cannot start: {what}: {where}"
            self.returncode = 127 if isinstance(e, FileNotFoundError) else 126
            self.sink(f"pipe: {self.start_error}\n".encode())
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
        """Move masked output to the sink; False at the end of the stream."""
        while (got := self.read_once()) is True:
            pass
        return got is None

    def read_once(self) -> bool | None:
        """One read (at most 64 KiB) of masked output into the sink, for a caller that paces
        itself (the Dask supervisor's back-pressure): True if it read, None if nothing is
        there now, False at the end of the stream."""
        if self.pipe_fd < 0:
            return False
        try:
            chunk = os.read(self.pipe_fd, 65536)
        except BlockingIOError:
            return None
        if not chunk:
            return False
        self.sink(self.stream.feed(chunk) if self.stream else chunk)
        return True

    def close_pipe(self) -> None:
        if self.pipe_fd >= 0:
            self.pump()
            if self.stream:
                rest = self.stream.close()
                if rest:
                    self.sink(rest)
            os.close(self.pipe_fd)
            self.pipe_fd = -1

    def stop(self, reason: str, kind: str = base.CANCELLED, grace: float = base.KILL_GRACE) -> None:
        """SIGTERM the whole process group now, SIGKILL it after the grace."""
        if self.kill_reason is None:
            self.kill_reason, self.kill_kind = reason, kind
            self.kill_at = time.monotonic() + grace
            base.signal_group(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        base.signal_group(self.pid, signal.SIGKILL)

    def next_deadline(self) -> float | None:
        return self.kill_at if self.kill_at is not None else self.deadline

    def on_time(self, now: float) -> None:
        if self.kill_at is not None:
            if now >= self.kill_at:
                self.kill()
                self.kill_at = None
        elif self.deadline is not None and now >= self.deadline:
            self.stop(f"timed out after {base.seconds_text(self.spec.timeout)}", base.TIMED_OUT)

    # -- end ------------------------------------------------------------------------
    def finish(self, worker: str = "local") -> Outcome:
        duration = round(time.monotonic() - self.started, 4)
        if self.kill_reason is not None and self.pid:
            self.kill()      # anything of the group that outlived its leader
        self.close_pipe()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        code = self.returncode
        if self.start_error:
            kind, reason = base.NOT_STARTED, self.start_error
        elif self.kill_reason:
            kind, reason = self.kill_kind, self.kill_reason
        else:
            reason = base.exit_reason(code)
            kind = base.SUCCEEDED if reason is None else base.FAILED
        outputs: dict = {}
        written = []          # most tasks write neither file: one failed chmod each, no open
        for path in (self.spec.output_path, self.spec.result_path):
            if path is not None:
                try:
                    os.chmod(path, 0o600)
                    written.append(path)
                except OSError:
                    pass
        if kind == base.SUCCEEDED and written:
            outputs, problem = read_outputs(self.spec.output_path, self.spec.result_path)
            if problem:
                kind, reason = base.FAILED, problem
                self.sink(f"pipe: {problem}\n".encode())
        return Outcome(kind=kind, exit_code=code, reason=reason, duration=duration, outputs=outputs,
                       worker=worker)


@functools.cache
def _devnull() -> int:
    """/dev/null, opened once for every task's stdin (subprocess.DEVNULL opens it per task)."""
    return os.open(os.devnull, os.O_RDONLY)


def _program(name: str, env: dict[str, str]) -> str | None:
    """The program's path, looked up in the task's PATH once per run rather than by a
    string of failed execs in every child; argv[0] stays as written. None (the usual
    lookup, and its errors) for a name with a '/', or a PATH with a relative entry."""
    path = env.get("PATH", os.defpath)
    if "/" in name or not all(d.startswith("/") for d in path.split(os.pathsep)):
        return None
    return _which(name, path)


@functools.cache
def _which(name: str, path: str) -> str | None:
    import shutil

    return shutil.which(name, path=path)


def read_outputs(path: str, result_path: str | None) -> tuple[dict, str | None]:
    """`key=value` lines (and GitHub's `key<<EOF` blocks), then a Python task's returned dict."""
    outputs: dict = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
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
        with open(result_path, "rb") as f:
            data = f.read()
    except OSError:
        return outputs, None
    try:
        result = json.loads(data)
    except ValueError:
        return outputs, "the Python task's result could not be read"
    if isinstance(result, dict):
        outputs.update(result)
    return outputs, None
