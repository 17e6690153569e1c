"""The run watcher: one small process per run that outlives a killed `pipe`.

A task runs in its own process group, so a `pipe` killed by SIGKILL (or by the OOM killer)
would leave its running tasks behind. The runner starts this watcher before the first
task, in a session of its own (Ctrl-C in the terminal does not reach it), and keeps the
write end of a pipe to it. When the run ends normally the runner writes one byte and the
watcher exits. When `pipe` dies first, the pipe closes without that byte (and the
process's pidfd says so too): the watcher reads the run's events, finds the tasks recorded
as running with their process group, and stops what is left of each group (SIGTERM, then
SIGKILL after the kill grace). It writes nothing: readers see the run as interrupted once
those groups are gone, and as still running them until then.

Run as a script, `python -S watcher.py FD PID EVENTS GRACE`, so that it starts in a few
milliseconds: it uses the standard library and groups.py beside it, nothing else of pipe.
"""
from __future__ import annotations

import json
import os
import select
import signal
import sys

try:
    from . import groups
except ImportError:           # run as a script: groups.py is beside it
    import groups  # type: ignore[no-redef]

DONE = b"."       # what the runner writes when the run ended normally


def recorded_groups(events_path: str) -> list[tuple[int, str]]:
    """The (pgid, leader start) of each task whose latest event says it is running."""
    running: dict[str, tuple[int, str]] = {}
    try:
        with open(events_path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    for line in data.split(b"\n"):
        if b'"task"' not in line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not isinstance(e, dict) or e.get("event") != "task" or not isinstance(e.get("task"), str):
            continue
        tid = e["task"]
        if e.get("state") == "running":
            if e.get("pgid") and e.get("pgid_start"):
                running[tid] = (int(e["pgid"]), str(e["pgid_start"]))
            elif "worker" in e and tid in running:
                continue           # the same attempt, placed (a remote executor's second event)
            else:
                running.pop(tid, None)
        else:
            running.pop(tid, None)
    return list(running.values())


def pipe_died(fd: int, pid: int) -> bool:
    """Wait until the run ends (True: its pipe died without saying it ended)."""
    if os.getppid() != pid:
        return True                # it died before we got here
    waits = [fd]
    try:
        pidfd = os.pidfd_open(pid)
        waits.append(pidfd)
    except (AttributeError, OSError):
        pidfd = -1
    got = b""
    while True:
        ready, _, _ = select.select(waits, [], [])
        if fd in ready:
            chunk = os.read(fd, 64)
            got += chunk
            if DONE in got:
                return False
            if not chunk:
                return True        # every write end closed without the byte: pipe died
        if pidfd in ready:
            try:                   # it may have written the byte just before exiting
                os.set_blocking(fd, False)
                got += os.read(fd, 64)
            except (BlockingIOError, OSError):
                pass
            return DONE not in got


def main(argv: list[str]) -> int:
    fd, pid, events, grace = int(argv[1]), int(argv[2]), argv[3], float(argv[4])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    if not pipe_died(fd, pid):
        return 0
    groups.stop_groups(recorded_groups(events), grace)
    return 0



class Watch:
    """The runner's end of a run's watcher: started before the first task; `done()` once
    the executor has stopped and reaped every attempt (the watcher exits); `release()`
    closes our end whatever happened (without `done()` the watcher stops the leftovers)."""

    _started: list = []           # watchers not yet reaped (they exit at once after done())

    def __init__(self, events_path, grace: float):
        import subprocess

        Watch._started = [p for p in Watch._started if p.poll() is None]
        self.proc = None
        self.w = -1
        r, w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-E", "-s", os.path.abspath(__file__), str(r), str(os.getpid()),
                 str(events_path), repr(float(grace))],
                pass_fds=(r,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd="/", start_new_session=True)
            Watch._started.append(self.proc)
            self.w, w = w, -1
        except OSError:
            pass                  # no watcher (no process left to start one): the run goes on without it
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)

    def done(self) -> None:
        if self.w >= 0:
            try:
                os.write(self.w, DONE)
            except OSError:
                pass
            self.release()

    def release(self) -> None:
        if self.w >= 0:
            os.close(self.w)
            self.w = -1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
