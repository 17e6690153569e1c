"""Pool slots (SPEC 12): a pool of size N is N slot files in the state folder,
`pools/<pool>/<k>.slot`; a task holds a slot by holding an exclusive flock on its file, so
the bound holds over every pipe process on the state folder at once, and the kernel frees
the slots of a pipe that dies, even by SIGKILL. The holder writes who it is in the file
(for `pipe pools` and the pending reason); a file with no lock on it is a free slot,
whatever it says.
"""
from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .layout import Layout


@dataclass
class Held:
    """Slots held for one attempt: their open, locked files."""

    pool: str
    fds: list[int]

    def release(self) -> None:
        for fd in self.fds:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            os.close(fd)
        self.fds = []


def _slot(layout: Layout, pool: str, k: int) -> Path:
    return layout.pool_dir(pool) / f"{k}.slot"


def try_take(layout: Layout, pool: str, size: int, n: int, holder: dict) -> Held | None:
    """`n` free slots of the pool, locked and signed by `holder`; None (and nothing held)
    when fewer than `n` are free now."""
    folder = layout.pool_dir(pool)
    folder.mkdir(parents=True, exist_ok=True)
    fds: list[int] = []
    for k in range(size):
        fd = os.open(_slot(layout, pool, k), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        fds.append(fd)
        if len(fds) == n:
            break
    held = Held(pool, fds)
    if len(fds) < n:
        held.release()
        return None
    text = json.dumps(holder).encode()
    for fd in fds:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, text, 0)
        except OSError:
            pass
    return held


def in_use(layout: Layout, pool: str, size: int) -> list[dict]:
    """Who holds each slot of the pool now (one dict per held slot: what its holder wrote)."""
    holders = []
    for k in range(size):
        path = _slot(layout, pool, k)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue             # never taken
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                continue         # nobody holds it
            except BlockingIOError:
                pass
            try:
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                info = {}
            holders.append(dict(info if isinstance(info, dict) else {}, slot=k))
        finally:
            os.close(fd)
    return holders
