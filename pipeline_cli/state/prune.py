"""Retention (SPEC 12): removing whole run folders, and what is kept of them.

A pruned run's folder (events, logs, outputs) is removed, but one line of it stays in
`<state>/<pipeline>/pruned.jsonl` (its id, interval, kind and final state), and the ledger of
claimed intervals (`intervals.jsonl`) is never touched: tick counts a pruned run's interval
as run (it never reruns it, and never resumes it), and backfill skips a pruned interval that
had succeeded. Never pruned: a running or waiting run (nor one whose lock a `pipe` holds),
and a pipeline's newest run.
"""
from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

from .events import EventLog, read_events
from .layout import Layout
from .store import StateDir

KEPT_STATES = ("running", "waiting")


def pruned_runs(layout: Layout, pipeline: str) -> dict[str, dict]:
    """run id -> what was kept of a pruned run ({} when none was pruned)."""
    path = layout.pruned(pipeline)
    if not path.exists():
        return {}
    events, _ = read_events(path)
    return {e["run_id"]: e for e in events if isinstance(e.get("run_id"), str)}


def run_time(run_id: str) -> datetime | None:
    """When a run was made, from its id (20261105T000102345Z-...), in UTC."""
    try:
        return datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def folder_bytes(path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


class Pruned:
    """One run that prune removed (or, in a dry run, would remove)."""

    def __init__(self, pipeline: str, run_id: str, state: str, kind: str | None, logical_date: str | None,
                 bytes_: int, why: str):
        self.pipeline, self.run_id, self.state, self.kind = pipeline, run_id, state, kind
        self.logical_date, self.bytes, self.why = logical_date, bytes_, why

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "run_id": self.run_id, "state": self.state, "kind": self.kind,
                "logical_date": self.logical_date, "bytes": self.bytes, "why": self.why}


def choose(state: StateDir, pipeline: str, now: datetime, older_than: float | None, keep: int | None):
    """(runs to prune as (RunView, why), runs kept only because they are going on)."""
    ids = state.run_ids(pipeline)
    if not ids:
        return [], []
    newest = ids[-1]
    chosen, going_on = [], []
    beyond = set(ids[:-keep]) if keep is not None and keep < len(ids) else set()
    cutoff = now.timestamp() - older_than if older_than is not None else None
    for run_id in ids:
        why = []
        if run_id in beyond:
            why.append(f"beyond the newest {keep}")
        made = run_time(run_id)
        if cutoff is not None and made is not None and made.timestamp() < cutoff:
            why.append(f"older than {_days(older_than)}")
        if not why or run_id == newest:
            continue
        view = state.run(pipeline, run_id)
        if view.state in KEPT_STATES:
            going_on.append(view)
            continue
        chosen.append((view, " and ".join(why)))
    return chosen, going_on


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} days" if days >= 1 else f"{seconds:g}s"


def prune(state: StateDir, pipelines: list[str], now: datetime, older_than: float | None, keep: int | None,
          dry_run: bool = False) -> tuple[list[Pruned], list]:
    """Remove (or, dry, list) the runs that retention lets go; returns them and the runs kept
    because they are going on."""
    removed: list[Pruned] = []
    kept: list = []
    for name in pipelines:
        chosen, going_on = choose(state, name, now, older_than, keep)
        kept.extend(going_on)
        for view, why in chosen:
            run_dir = state.layout.run_dir(name, view.run_id)
            size = folder_bytes(run_dir)
            item = Pruned(name, view.run_id, view.state, view.kind, view.logical_date, size, why)
            if dry_run:
                removed.append(item)
                continue
            lock = state.run_lock(run_dir)
            if not lock.acquire(wait=False):       # a pipe is resuming it right now
                kept.append(view)
                continue
            try:
                again = state.run(name, view.run_id)
                if again.state in KEPT_STATES:
                    kept.append(again)
                    continue
                _remember(state.layout, name, again, now)
                shutil.rmtree(run_dir, ignore_errors=True)
            finally:
                lock.release()
            removed.append(item)
    return removed, kept


def _remember(layout: Layout, pipeline: str, view, now: datetime) -> None:
    """What is kept of a pruned run, written before its folder goes (so that tick, which reads
    the ledger, never takes a claimed interval for a run that never began)."""
    log = EventLog(layout.pruned(pipeline))
    try:
        log.append("pruned", run_id=view.run_id, state=view.state, kind=view.kind, began=view.started is not None,
                   logical_date=view.logical_date, start=view.interval_start, end=view.interval_end,
                   pruned_at=now.astimezone(timezone.utc).isoformat(timespec="seconds"))
    finally:
        log.close()
