"""Pausing a pipeline's schedule (SPEC 12): `<state>/<pipeline>/paused.json` holds who paused
it, when and why; its absence means not paused. Written atomically (a reader sees the old
file or the new one, never half of one). Tick starts nothing for a paused pipeline; runs
already going on finish; `pipe run` still runs it. Unpausing removes the file: tick then
catches up as if its ticks had been there all along (its ledger never moved meanwhile).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from .layout import Layout
from .store import makedirs, read_json_dict, write_atomic


def who() -> str:
    """user@host of this process, as a person reading the state folder would say it."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:          # no user name in the environment nor the password database
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def paused(layout: Layout, pipeline: str) -> dict | None:
    """{"by", "at", "reason"} when the pipeline is paused, else None."""
    path = layout.paused(pipeline)
    if not path.exists():
        return None
    info = read_json_dict(path)
    # A file there means paused, even one a person emptied or broke by hand.
    return {"by": info.get("by") if isinstance(info.get("by"), str) else None,
            "at": info.get("at") if isinstance(info.get("at"), str) else None,
            "reason": info.get("reason") if isinstance(info.get("reason"), str) else None}


def pause(layout: Layout, pipeline: str, reason: str | None = None, now: datetime | None = None,
          by: str | None = None) -> tuple[dict, bool]:
    """Pause it; returns (the pause, whether it was paused already: then it is left as it was)."""
    already = paused(layout, pipeline)
    if already is not None:
        return already, True
    info = {"by": by or who(), "at": (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(
        timespec="seconds"), "reason": reason or None}
    makedirs(layout.pipeline_dir(pipeline))
    write_atomic(layout.paused(pipeline), (json.dumps(info, indent=1) + "\n").encode())
    return info, False


def unpause(layout: Layout, pipeline: str) -> dict | None:
    """Unpause it; returns the pause it ended, or None if it was not paused."""
    info = paused(layout, pipeline)
    if info is None:
        return None
    try:
        os.unlink(layout.paused(pipeline))
    except FileNotFoundError:
        return None
    return info


def describe(info: dict) -> str:
    """'paused by alice@host at 2026-11-05T10:00:00+00:00: the warehouse is migrating'."""
    words = "paused"
    if info.get("by"):
        words += f" by {info['by']}"
    if info.get("at"):
        words += f" at {info['at']}"
    if info.get("reason"):
        words += f": {info['reason']}"
    return words
