"""The local executor: each attempt a process group on pipe's own machine.

One select() waits on the attempts' pidfds, the pipes of attempts whose output is masked,
and the runner's wake-up fd, with a timeout at the nearest deadline (a task's timeout or
the end of a kill grace).
"""
from __future__ import annotations

import os
import selectors
import signal
import time

from . import base
from .base import AttemptSpec, Outcome, Started
from .process import AttemptProcess

_PIPE = "pipe"


class LocalExecutor:
    name = "local"

    def __init__(self) -> None:
        self.attempts: dict[str, AttemptProcess] = {}
        self.groups: list[int] = []          # every process group started: killed at a hard stop
        self.sel = selectors.DefaultSelector()
        self.use_pidfd = hasattr(os, "pidfd_open")
        self.base_env = dict(os.environ)
        self.wake_fd = -1

    def open(self, wake_fd: int) -> None:
        self.wake_fd = wake_fd
        self.sel.register(wake_fd, selectors.EVENT_READ, None)

    def capacity(self) -> int:
        return os.cpu_count() or 1

    def check(self, specs_preview: list[AttemptSpec], pipeline_file: str) -> None:
        return None

    def running(self) -> int:
        return len(self.attempts)

    def submit(self, spec: AttemptSpec) -> Started:
        log_fd = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        attempt = AttemptProcess(spec, self.base_env, log_fd)
        self.attempts[spec.key] = attempt
        if attempt.pid:
            self.groups.append(attempt.pid)
        if attempt.pidfd >= 0:
            self.sel.register(attempt.pidfd, selectors.EVENT_READ, spec.key)
        if attempt.pipe_fd >= 0:
            self.sel.register(attempt.pipe_fd, selectors.EVENT_READ, (_PIPE, spec.key))
        from ..state.liveness import process_start_time

        start = process_start_time(attempt.pid) if attempt.pid else None
        return Started("local", {"pgid": attempt.pid, "pgid_start": start} if attempt.pid else {})

    def stop_leftovers(self, handles: list[dict]) -> None:
        stop_local_leftovers(handles)

    def wait(self, timeout: float | None) -> list[tuple[str, Outcome]]:
        deadlines = [d for d in (a.next_deadline() for a in self.attempts.values()) if d is not None]
        if deadlines:
            until = max(0.0, min(deadlines) - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        if not self.use_pidfd or any(a.pidfd < 0 for a in self.attempts.values()):
            # (an attempt that could not start has no pidfd to wake us: poll it)
            timeout = 0.01 if timeout is None else min(timeout, 0.01)
        exited = set()
        for key, _ in self.sel.select(None if timeout is None else min(timeout, 3600.0)):   # epoll: < 24.8 days
            if key.data is None:
                _drain(self.wake_fd)
            elif isinstance(key.data, tuple):
                attempt = self.attempts.get(key.data[1])
                if attempt is not None and not attempt.pump():
                    self.sel.unregister(attempt.pipe_fd)
                    attempt.close_pipe()
            else:
                exited.add(key.data)
        now = time.monotonic()
        ended = []
        for k, a in list(self.attempts.items()):
            a.on_time(now)
            if (k in exited or not self.use_pidfd or a.pidfd < 0) and a.poll():
                ended.append((k, self._reap(k)))
        return ended

    def _reap(self, key: str) -> Outcome:
        attempt = self.attempts.pop(key)
        for fd in (attempt.pidfd, attempt.pipe_fd):
            if fd >= 0:
                self.sel.unregister(fd)
        outcome = attempt.finish()
        os.close(attempt.log_fd)
        return outcome

    def placed(self) -> list[tuple[str, str]]:
        return []

    def cancel(self, key: str, reason: str, grace: float = base.KILL_GRACE) -> None:
        attempt = self.attempts.get(key)
        if attempt is not None:
            attempt.stop(reason, base.CANCELLED, grace)

    def kill_all(self) -> None:
        for a in self.attempts.values():
            a.kill()

    def close(self, hard: bool = False) -> None:
        if hard:
            for pid in self.groups:     # anything left of any task of this run
                base.signal_group(pid, signal.SIGKILL)
        self.sel.close()


def stop_local_leftovers(handles: list[dict]) -> None:
    """What is left of local attempts of a run whose pipe died (their process groups, told
    by leader pid and start time) is stopped: SIGTERM, SIGKILL after the grace."""
    from ..state.groups import stop_groups

    groups = [(h.get("pgid"), h.get("pgid_start")) for h in handles if h.get("pgid")]
    if groups:
        stop_groups(groups, base.KILL_GRACE)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
