"""Sensors (SPEC 10): a task with `wait:` succeeds once its condition holds.

    {file: PATH}     a path (or glob) exists; relative to the pipeline's folder
    {http: URL}      a GET answers 2xx
    {command: CMD}   a shell command exits 0 (in the pipeline's folder, the task's environment)
    {after: T}       past a time: "06:00" (the first 06:00 in the pipeline's timezone at or
                     after the end of the run's interval) or a duration past that end (2h)

Every check is made by pipe itself, in its own process (a Dask run too): nothing runs
between checks. Values are already rendered here (the run loop renders the templates).
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
from datetime import datetime, timedelta
from typing import Any, Mapping

KINDS = ("file", "http", "command", "after")
CHECK_TIMEOUT = 30.0       # seconds a command or an http check may take before it counts as "not yet"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def after_problem(value: Any) -> str | None:
    """Why `after:` is neither a time of day ("06:00") nor a duration; None when it is one."""
    if isinstance(value, str) and _CLOCK.match(value):
        return None
    from .spec.values import parse_duration

    try:
        parse_duration(value)
        return None
    except ValueError as e:
        return f"expected a time of day such as \"06:00\" or a duration such as 2h: {e}"


def due_at(after: Any, interval_end: datetime, timezone: str) -> datetime:
    """When an `after:` sensor holds, for a run whose interval ends at `interval_end`."""
    from zoneinfo import ZoneInfo

    if isinstance(after, str) and (m := _CLOCK.match(after)):
        local = interval_end.astimezone(ZoneInfo(timezone))
        at = local.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
        return at if at >= local else at + timedelta(days=1)
    from .spec.values import parse_duration

    return interval_end + timedelta(seconds=parse_duration(after))


def describe(wait: Mapping[str, Any]) -> str:
    """The condition in words: `file incoming/x.csv`, `http http://...`, `after 06:00`."""
    (kind, value), = wait.items()
    return f"{kind} {value}"


def holds(wait: Mapping[str, Any], folder: str, env: Mapping[str, str], interval_end: datetime, timezone: str,
          now: datetime) -> bool:
    """Whether the (rendered) condition holds now. Never raises: what cannot be checked
    (a refused connection, a command that hangs) does not hold yet."""
    (kind, value), = wait.items()
    if kind == "file":
        path = value if os.path.isabs(value) else os.path.join(folder, value)
        return bool(glob.glob(path)) if glob.has_magic(path) else os.path.exists(path)
    if kind == "http":
        return _answers(str(value))
    if kind == "command":
        try:
            return subprocess.run(["sh", "-c", str(value)], cwd=folder, env=dict(env), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  timeout=CHECK_TIMEOUT).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
    if kind == "after":
        return now >= due_at(value, interval_end, timezone)
    return False


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=CHECK_TIMEOUT) as r:
            return 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False
