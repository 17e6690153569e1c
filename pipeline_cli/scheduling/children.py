"""Forked children: tick runs each pipeline, and backfill each run, in a fork of itself."""
from __future__ import annotations

import os
import sys

from ..errors import PipeError

# How a child of tick (a fork running one pipeline, or one run) tells its parent how it went:
# its exit status. Not the CLI's exit codes: the command decides those from the TickReport.
CHILD_OK, CHILD_FAILED, CHILD_INVALID = 0, 1, 2


# --- child processes ----------------------------------------------------------------------

class Child:
    """A forked child running one function; `wait()` returns its exit code. `died` says how
    it ended if it did not end by itself (killed by a signal), else it is empty."""

    def __init__(self, pid: int):
        self.pid, self.code, self.died = pid, None, ""

    def wait(self) -> int:
        if self.code is None:
            _, status = os.waitpid(self.pid, 0)
            self._ended(status)
        return self.code

    def _ended(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            self.died = f"was killed by {name}"
        self.code = code if code >= 0 else CHILD_FAILED         # killed by a signal: a failure


def _as_they_end(children: list[Child]):
    """Yield each child as it ends. A thread waits for each one by its pid (never
    waitpid(-1), which could take the status of a process the notifications started)."""
    if len(children) <= 1:
        for c in children:
            c.wait()
            yield c
        return
    import queue
    import threading

    ended: queue.Queue = queue.Queue()
    for c in children:
        threading.Thread(target=lambda c=c: ended.put((c, c.wait())), daemon=True).start()
    for _ in children:
        yield ended.get()[0]


def _wait_any(children: list[Child]) -> Child:
    by_pid = {c.pid: c for c in children}
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid in by_pid:
            by_pid[pid]._ended(status)
            return by_pid[pid]


def start_child(function, *args) -> Child:
    """Fork, and run function(*args) in the child, which exits with its return value. A fork
    costs no start-up: the child has every module and the parsed pipelines already."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Child(pid)
    code = CHILD_FAILED
    try:
        code = function(*args)
    except PipeError as e:
        for line in e.lines():
            sys.stderr.write(f"error: {line}\n")
        code = e.exit_code
    except KeyboardInterrupt:
        code = 130              # as the CLI: interrupted
    except BaseException:        # never return into the parent's code from a child
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else CHILD_FAILED)
