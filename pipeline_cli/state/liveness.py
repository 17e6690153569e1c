"""Is the `pipe` that wrote a run still alive? Told by host, pid and the process's start time
(a pid alone may have been reused). A run on another host cannot be checked from here."""
from __future__ import annotations

import functools
import os

from .groups import alive_groups, group_alive, process_start_time  # noqa: F401  (re-exported)


@functools.cache
def this_host() -> str:
    return os.uname().nodename


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


def began_at() -> float | None:
    """When this process started, in seconds since the epoch (to tell what happened after
    the command was typed, however long its start took), or None where /proc cannot say."""
    import time

    start = process_start_time(os.getpid())
    if start is None or not hasattr(time, "CLOCK_BOOTTIME"):
        return None
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(start) / os.sysconf("SC_CLK_TCK")
    now = time.time()
    return now - min(max(age, 0.0), 30.0)     # a start never takes longer: a clock oddity is bounded
