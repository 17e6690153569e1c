"""What notifications remember between runs and ticks: a JSON file (the pipeline's
`notify.json`, the state folder's `tick-problems.json`) read and changed under a lock."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def locked_memory(path: Path) -> Iterator[dict]:
    """A JSON file read, changed and written under an exclusive lock (ticks run at once)."""
    from ..state import FileLock, makedirs, write_atomic

    makedirs(path.parent)
    lock = FileLock(path.with_name(path.name + ".lock"))
    lock.acquire(wait=True)
    try:
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        before = json.dumps(data, sort_keys=True)
        yield data
        after = json.dumps(data, sort_keys=True)
        if after != before:
            write_atomic(path, after.encode())
    finally:
        lock.release()


def read_memory(path: Path) -> dict:
    """The file as it is, without the lock (for reading only); {} when absent or unreadable."""
    try:
        data = json.loads(path.read_bytes())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
