"""The "nothing due" cache: a tick that finds nothing due for a pipeline remembers until when
nothing can become due (keyed by the file's digest), so the next ticks answer from it without
loading YAML, the schema or croniter."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from ..state import StateDir, makedirs, read_json_dict, write_atomic


# --- the "nothing due" cache ------------------------------------------------------------

def _digest(path: Path) -> str | None:
    from ..spec import file_digest

    try:
        return file_digest(path.read_bytes())
    except OSError:
        return None


def quiet(pipelines_dir: Path, state: StateDir, now: datetime) -> bool:
    """True when the cache proves that nothing is due in any pipeline file now."""
    from ..spec import discover

    cache = read_json_dict(state.layout.tick_cache)
    if not cache:
        return False
    files = discover(pipelines_dir)
    stamp = now.astimezone(timezone.utc).isoformat()
    for path in files:
        entry = cache.get(str(path.resolve()))
        if not isinstance(entry, dict) or entry.get("digest") != _digest(path):
            return False
        if not (entry.get("from", "~") <= stamp < entry.get("until", "")):
            return False
    return True


def _remember(state: StateDir, quiet_until: dict[str, tuple[str, str, str]]) -> None:
    path = state.layout.tick_cache
    cache = read_json_dict(path)
    for file, (digest, from_, until) in quiet_until.items():
        cache[file] = {"digest": digest, "from": from_, "until": until}
    makedirs(path.parent)
    write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())


def _forget(state: StateDir, file: str) -> None:
    path = state.layout.tick_cache
    cache = read_json_dict(path)
    if cache.pop(file, None) is not None:
        write_atomic(path, json.dumps(cache, indent=1, sort_keys=True).encode())
