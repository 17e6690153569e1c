"""`pipe` on a real pseudo-terminal, and what a person sees on it.

`PtyPipe` runs `python -m pipeline_cli ARGS` with a pty of `rows` x `cols` (set with
TIOCSWINSZ, TERM=xterm) as stdin, stdout and stderr. `Screen` is a small terminal
emulator (the control sequences Rich writes: cursor up/down/column, erase line, SGR and
the cursor's visibility, ignored) that keeps the visible rows, scrolls like a terminal
and records how tall each frame of a live display was (`tallest`: the most rows a redraw
went back up over, plus one) and what was written since the latest redraw began
(`since_redraw`: the last frame, and whatever followed it).
"""
from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conftest import clean_env

CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b\][^\x07]*\x07|\x1b[()][A-Za-z0-9]|\x1b[=>78]")


class Screen:
    """The visible `rows` x `cols` of a terminal fed with `feed(text)`."""

    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        self.lines = [""] * rows
        self.y = self.x = 0
        self.tallest = 0                      # the most rows one redraw moved up over, plus one
        self.ups = 0
        self.frames = 0                       # redraws seen (cursor moved up, then written)
        self.since_redraw = ""                # the text written since the latest redraw began
        self._held = ""                       # an escape sequence cut by the end of a read
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def _put(self, ch: str) -> None:
        if self.x >= self.cols:               # autowrap before the next character
            self.x = 0
            self._down()
        line = self.lines[self.y].ljust(self.x)
        self.lines[self.y] = line[:self.x] + ch + line[self.x + 1:]
        self.x += 1

    def _down(self) -> None:
        if self.y == self.rows - 1:
            self.lines = self.lines[1:] + [""]
        else:
            self.y += 1

    def feed_bytes(self, data: bytes) -> None:
        """Bytes as read from the pty: a character or an escape sequence may be cut in two
        by the end of one read (the pty hands over 4 KiB at a time), and is kept until the
        rest comes."""
        self.feed(self._decoder.decode(data))

    def feed(self, text: str) -> None:
        text = self._held + text
        self._held = ""
        cut = text.rfind("\x1b")
        if cut != -1 and not _complete(text, cut):
            text, self._held = text[:cut], text[cut:]
        i = 0
        while i < len(text):
            m = CSI.match(text, i)
            if m:
                i = m.end()
                if m.group(2) is None:
                    continue
                n = int(m.group(1)) if m.group(1).isdigit() else 1
                code = m.group(2)
                if code == "A":
                    self.ups += n
                    self.y = max(0, self.y - n)
                elif code == "B":
                    self.y = min(self.rows - 1, self.y + n)
                elif code == "G":
                    self.x = max(0, n - 1)
                elif code == "K":
                    arg = m.group(1) or "0"
                    line = self.lines[self.y]
                    self.lines[self.y] = ("" if arg == "2" else " " * (self.x + 1) + line[self.x + 1:] if arg == "1"
                                          else line[:self.x])
                elif code == "J":
                    self.lines = self.lines[:self.y] + [""] * (self.rows - self.y)
                continue
            ch = text[i]
            i += 1
            if self.ups and ch >= " ":            # a redraw moved up `ups` rows: its frame's height
                self.tallest = max(self.tallest, self.ups + 1)
                self.frames += 1
                self.ups = 0
                self.since_redraw = ""
            if ch >= " " or ch == "\n":
                self.since_redraw += ch
            if ch == "\r":
                self.x = 0
            elif ch == "\n":
                self.x = 0
                self._down()
            elif ch == "\b":
                self.x = max(0, self.x - 1)
            elif ch in "\x07\x0e\x0f":
                pass
            elif ch >= " ":
                self._put(ch)

    @property
    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines)


def _complete(text: str, at: int) -> bool:
    """Whether the escape sequence that starts at text[at] ends in text."""
    rest = text[at:]
    if len(rest) < 2:
        return False
    if rest[1] == "[":
        return re.match(r"\x1b\[[0-9;?]*[A-Za-z]", rest) is not None or re.match(r"\x1b\[[0-9;?]*$", rest) is None
    if rest[1] == "]":
        return "\x07" in rest
    if rest[1] in "()":
        return len(rest) >= 3
    return True


class PtyPipe:
    """`pipe ARGS` on a pseudo-terminal of `rows` x `cols`."""

    def __init__(self, cwd: Path, args: list[str], cols: int = 80, rows: int = 24, env: dict | None = None):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        environment = clean_env({"TERM": "xterm", **(env or {})})
        for k in ("COLUMNS", "LINES"):
            environment.pop(k, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", *args], cwd=cwd, env=environment,
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.screen = Screen(rows, cols)
        self.raw = b""

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:               # EIO: every writer is gone
            return False
        if not data:
            return False
        self.raw += data
        self.screen.feed_bytes(data)
        return True

    def wait_for(self, predicate, timeout: float = 90) -> bool:
        """Read until predicate(screen) holds (True), the output ends or `timeout` (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.screen):
                return True
            if not self._read(0.1):
                return predicate(self.screen)
        return False

    def finish(self, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.1):
            if self.proc.poll() is not None:
                while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
                    pass
                break
        code = self.proc.wait(timeout=10)
        os.close(self.master)
        return code

    @property
    def all_text(self) -> str:
        """Everything written, without control sequences (lines as written)."""
        return CSI.sub("", self.raw.decode("utf-8", "replace")).replace("\r", "")
