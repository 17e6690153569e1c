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
    from ..state import FileLock, makedirs, read_json_dict, write_atomic

    makedirs(path.parent)
    lock = FileLock(path.with_name(path.name + ".lock"))
    lock.acquire(wait=True)
    try:
        data = read_json_dict(path)
        before = json.dumps(data, sort_keys=True)
        yield data
        after = json.dumps(data, sort_keys=True)
        if after != before:
            write_atomic(path, after.encode())
    finally:
        lock.release()


def read_memory(path: Path) -> dict:
    """The file as it is, without the lock (for reading only); {} when absent or unreadable."""
    from ..state import read_json_dict

    return read_json_dict(path)
