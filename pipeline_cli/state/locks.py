"""File locks (flock: released by the kernel when their holder dies)."""
from __future__ import annotations

import os
from pathlib import Path


class FileLock:
    """An exclusive lock on a file: a pipeline's (tick, backfill) or a run's (run, resume).
    Its holder writes its pid in the file, for messages about who holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = -1

    def acquire(self, wait: bool) -> bool:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(self.fd)
            self.fd = -1
            return False
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        return True

    def holder(self) -> int | None:
        """The pid written by the lock's latest holder (it may have let go since), or None."""
        try:
            with open(self.path, "rb") as f:
                text = f.read(32)
            return int(text.split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

