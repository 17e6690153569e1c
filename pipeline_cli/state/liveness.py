"""Is the `pipe` that wrote a run still alive? Told by host, pid and the process's start time
(a pid alone may have been reused). A run on another host cannot be checked from here."""
from __future__ import annotations

import functools
import os


@functools.cache
def this_host() -> str:
    return os.uname().nodename


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of a process (to tell it from a later one with the same pid)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        fields = stat[stat.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return None       # dead, not yet reaped by its parent (or by a slow init): not running
        return fields[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int | None, start: str | None) -> bool:
    if not pid:
        return False
    if os.path.exists("/proc/self/stat"):
        return start is not None and process_start_time(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def me() -> dict:
    """The fields that let a reader tell whether this process is still alive."""
    return {"pid": os.getpid(), "pid_start": process_start_time(os.getpid()), "host": this_host()}


def group_alive(pgid: int | None, leader_start: str | None) -> bool:
    """Is any process left of the process group that `pgid` led (started when its leader
    started, or later)? The leader may be gone while its children live on."""
    if not pgid or leader_start is None:
        return False
    if process_start_time(pgid) == leader_start:
        return True
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return False
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X") and int(fields[19]) >= int(leader_start):
                return True
        except (OSError, ValueError, IndexError):
            continue
    return False
