"""Names, bounds and value readers shared by the checks and the build."""
from __future__ import annotations

import hashlib
import re
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")       # \Z: `$` would let a final newline in
TASK_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 365 * 86400.0   # the longest duration any field takes (the schema's `maximum`)
MAX_WAIT = 3600.0              # the longest single wait of the run loop (epoll refuses > 24.8 days)
MAX_NOTIFY_TIMEOUT = 30.0      # all deliveries of a run take at most this long
PIPELINE_SUFFIXES = (".yaml", ".yml")
TASK_FIELDS = ("description", "run", "python", "with", "deps", "retries", "retry_delay",
               "retry_backoff", "timeout", "env", "trigger", "sources", "generates", "shell",
               "workdir", "executor", "resources")
NOTIFY_NAMES = frozenset({"env", "params", "secrets", "pipeline"})    # what a `notify.to` template may use


def parse_duration(value: Any) -> float:
    """`90s`, `5m`, `1h30m`, `500ms`, `7d` or a number of seconds -> seconds, at most
    MAX_DURATION (365d). Raises ValueError, whose text says why, for anything else
    (negative, NaN, infinite, too long, not a duration)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text or DURATION_RE.sub("", text):
            raise ValueError(f"{value!r} is not a duration")
        seconds = sum(float(n) * _UNITS[u] for n, u in DURATION_RE.findall(text))
    if not 0 <= seconds <= MAX_DURATION:     # also False for NaN
        if seconds > MAX_DURATION:
            raise ValueError(f"{value!r} is longer than the longest duration pipe takes (365d)")
        raise ValueError(f"{value!r} is not a duration of 0 or more")
    return seconds


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def whole(value: Any, least: int) -> int | None:
    """A whole number as JSON Schema's "integer" takes it (2 or 2.0), at least `least`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= least:
        return value
    return None


def as_str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in value.items()
            if v is not None}


def tasks_of(doc: dict) -> dict[str, dict]:
    """The task mappings of a document (anything else is the schema's to report)."""
    raw = doc.get("tasks") if isinstance(doc.get("tasks"), dict) else {}
    return {tid: t for tid, t in raw.items() if isinstance(t, dict)}


def defaults_of(doc: dict) -> dict:
    return doc.get("defaults") if isinstance(doc.get("defaults"), dict) else {}


def merged_task(defaults: dict, task: dict) -> dict:
    """A task's fields over `defaults:` (their `env` merged key by key)."""
    merged = dict(defaults)
    merged.update(task)
    if isinstance(defaults.get("env"), dict) and isinstance(task.get("env"), dict):
        merged["env"] = {**defaults["env"], **task["env"]}
    return merged


def deps_of(raw_tasks: dict[str, dict]) -> dict[str, list[str]]:
    out = {}
    for tid, t in raw_tasks.items():
        deps = t.get("deps") if isinstance(t.get("deps"), list) else []
        out[tid] = [d for d in deps if isinstance(d, str)]
    return out


def timezone_of(doc: dict) -> str:
    tz = doc.get("timezone", "UTC")
    return tz if isinstance(tz, str) else "UTC"
