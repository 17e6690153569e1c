"""Asset partitions (SPEC 10): `assets/<asset>.jsonl` in the state folder, one line per
partition produced (by a task's success, or marked by a person), append-only:

    {"asset", "start", "end" (the data interval, UTC), "pipeline", "task", "run_id", "by", "time"}

A partition produced again is a newer line for the same start: the latest is its current
version, and the number of lines for a start is its version number.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .layout import Layout


@dataclass
class Partition:
    asset: str
    start: str
    end: str
    pipeline: str | None
    task: str | None
    run_id: str | None
    by: str
    time: str
    version: int = 1

    def to_json(self) -> dict:
        return {"asset": self.asset, "start": self.start, "end": self.end, "pipeline": self.pipeline,
                "task": self.task, "run_id": self.run_id, "by": self.by, "time": self.time, "version": self.version}


def record(layout: Layout, asset: str, start: str, end: str, *, pipeline: str | None, task: str | None,
           run_id: str | None, by: str, time: str) -> None:
    """One partition produced, appended with one write (a reader never sees half a line)."""
    path = layout.asset_file(asset)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"asset": asset, "start": start, "end": end, "pipeline": pipeline, "task": task,
                       "run_id": run_id, "by": by, "time": time}, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def partitions(layout: Layout, asset: str) -> dict[str, Partition]:
    """Each produced partition of the asset by its start (UTC ISO 8601), at its latest version."""
    path = layout.asset_file(asset)
    found: dict[str, Partition] = {}
    try:
        data = path.read_bytes()
    except OSError:
        return found
    for line in data.split(b"\n"):
        try:
            e = json.loads(line)
        except ValueError:
            continue           # a torn last line
        if not isinstance(e, dict) or not isinstance(e.get("start"), str):
            continue
        version = found[e["start"]].version + 1 if e["start"] in found else 1
        found[e["start"]] = Partition(asset, e["start"], str(e.get("end", e["start"])), e.get("pipeline"),
                                      e.get("task"), e.get("run_id"), str(e.get("by", "run")), str(e.get("time", "")),
                                      version)
    return found


def assets(layout: Layout) -> list[str]:
    folder = layout.root / "assets"
    try:
        return sorted(p.stem for p in folder.glob("*.jsonl"))
    except OSError:
        return []


__all__ = ["Partition", "assets", "partitions", "record"]
