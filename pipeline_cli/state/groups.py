"""Process groups on this machine: is anything left of a task attempt's process group, and
stopping what is left (SIGTERM, then SIGKILL after the grace).

A group is told by its leader's pid and the leader's start time (a pid alone may have been
reused): the group is alive while any process in it started when its leader did, or later,
even once the leader itself is gone. The standard library only: the run watcher
(watcher.py) runs this module without the rest of pipe.
"""
from __future__ import annotations

import os
import signal
import time

_SCAN_TTL = 1.0          # seconds a reader may reuse its last look at /proc
_scan: tuple[float, dict[int, list[int]]] | None = None


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


def _groups_now() -> dict[int, list[int]]:
    """Every live process's group, with the start times of its members: one look at /proc."""
    found: dict[int, list[int]] = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if fields[0] not in (b"Z", b"X"):
                found.setdefault(int(fields[2]), []).append(int(fields[19]))
        except (OSError, ValueError, IndexError):
            continue
    return found


def alive_groups(groups, reuse: bool = False) -> set[int]:
    """The pgids of `groups` ((pgid, leader start time) pairs) that have a process left.
    A leader still there answers at once; the others take one look at /proc for all of
    them (with `reuse`, a look less than a second old serves: for readers, not for killing)."""
    global _scan
    alive, rest = set(), []
    for pgid, leader_start in groups:
        if not pgid or leader_start is None:
            continue
        if process_start_time(pgid) == leader_start:
            alive.add(pgid)
        else:
            rest.append((pgid, leader_start))
    if rest:
        now = time.monotonic()
        if reuse and _scan is not None and now - _scan[0] < _SCAN_TTL:
            table = _scan[1]
        else:
            table = _groups_now()
            _scan = (now, table)
        for pgid, leader_start in rest:
            try:
                since = int(leader_start)
            except ValueError:
                continue
            if any(start >= since for start in table.get(pgid, ())):
                alive.add(pgid)
    return alive


def group_alive(pgid: int | None, leader_start: str | None) -> bool:
    """Is any process left of the process group that `pgid` led?"""
    return bool(pgid) and pgid in alive_groups([(pgid, leader_start)])


def _signal(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_groups(groups, grace: float) -> list[int]:
    """SIGTERM what is left of each group now, SIGKILL what is still there after `grace`
    seconds; returns the pgids that were alive. Waits no longer than the grace (and the
    moment SIGKILL takes)."""
    groups = [(g, s) for g, s in groups if g and s is not None]
    alive = alive_groups(groups)
    if not alive:
        return []
    targets = [(g, s) for g, s in groups if g in alive]
    for g, _ in targets:
        _signal(g, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = targets
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        still = alive_groups(left)
        left = [(g, s) for g, s in left if g in still]
    for g, _ in left:
        _signal(g, signal.SIGKILL)
    return sorted(alive)
