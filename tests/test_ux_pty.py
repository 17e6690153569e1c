"""Tables and the live view on a real pseudo-terminal, at 80 and 120 columns: what a user
copies (run ids, dates, states, task ids) is never cut, the live view shows pending tasks
while rows are free, and Ctrl-C says that pipe is stopping."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import clean_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
LONG = "extract_customer_orders_from_the_warehouse_v2"       # 45 characters
WIDTHS = [80, 120]


class Term:
    """`pipe ARGS` with a pseudo-terminal of `cols` columns as stdin, stdout and stderr."""

    def __init__(self, cwd: Path, args: list[str], cols: int, rows: int = 40):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = clean_env({"TERM": "xterm-256color"})
        for k in ("COLUMNS", "LINES"):
            env.pop(k, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", *args], cwd=cwd, env=env,
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.raw = b""

    def read_until(self, predicate, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.text):
                return self.text
            if not self._read(0.1):
                break
        return self.text

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if ready:
            try:
                data = os.read(self.master, 65536)
            except OSError:          # EIO: the other side is closed
                return False
            if not data:
                return False
            self.raw += data
        return True

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._read(0.1):
            if self.proc.poll() is not None:
                while self._read(0.05):
                    pass
                break
        code = self.proc.wait(timeout=10)
        os.close(self.master)
        return code, self.text

    @property
    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))


def on_terminal(cwd: Path, cols: int, *args: str) -> tuple[int, str]:
    return Term(cwd, list(args), cols).finish()


def assert_whole(text: str, *words: str) -> None:
    assert "…" not in text, text
    for w in words:
        assert w in text, (w, text)


@pytest.fixture
def history(project, pipe, write_pipeline):
    """A scheduled pipeline with a long task id and runs in several states."""
    write_pipeline("weather", f"""
        description: Daily weather of a city, cleaned, and a self-contained HTML dashboard with charts
        schedule: "0 6 * * *"
        timezone: Europe/Amsterdam
        params: {{code: '0'}}
        tasks:
          {LONG}:
            run: "echo fetching; exit {{{{ params.code }}}}"
          clean:
            run: echo clean
            deps: [{LONG}]
        """)
    for code, date in (("0", "2026-11-03"), ("0", "2026-11-04"), ("1", "2026-11-05")):
        assert pipe("run", "weather", "--date", date, "-p", f"code={code}").returncode in (0, 1)
    doc = json.loads(pipe("status", "weather", "--json").stdout)
    return [r["run_id"] for r in doc["pipelines"][0]["runs"]]


@pytest.mark.parametrize("cols", WIDTHS)
def test_status_never_cuts_run_ids_dates_or_states(project, history, cols):
    code, text = on_terminal(project, cols, "status", "weather")
    assert code == 0, text
    assert_whole(text, *history, "2026-11-04", "succeeded", "failed", LONG, "upstream_failed")
    assert max(len(line) for line in text.splitlines()) <= cols
    code, text = on_terminal(project, cols, "status", "weather", "--run", history[1])
    assert code == 0
    assert_whole(text, history[1], LONG, "succeeded")


@pytest.mark.parametrize("cols", WIDTHS)
def test_list_never_cuts_next_due(project, history, pipe, cols):
    due = json.loads(pipe("list", "--json").stdout)["pipelines"][0]["next_due"]
    code, text = on_terminal(project, cols, "list")
    assert code == 0, text
    assert_whole(text, "weather", due, "failed")
    assert max(len(line) for line in text.splitlines()) <= cols


@pytest.mark.parametrize("cols", WIDTHS)
def test_failure_summary_keeps_the_logs_hint_on_one_line(project, pipe, write_pipeline, cols):
    write_pipeline("boom", f"tasks:\n  {LONG}:\n    run: echo kaput; exit 2\n")
    code, text = on_terminal(project, cols, "run", "boom")
    assert code == 1
    run_id = json.loads(pipe("status", "boom", "--json").stdout)["run"]["run_id"]
    hint = f"pipe logs boom {LONG} --run {run_id}"
    assert hint in text.replace("\n", "") and any(line.strip().endswith(hint) for line in text.splitlines())
    assert "kaput" in text


@pytest.mark.parametrize("cols", WIDTHS)
def test_live_table(project, pipe, write_pipeline, cols):
    """Run ids, task ids and states whole; the title and the counts as lines of their own;
    pending tasks listed while there is room."""
    write_pipeline("chain", f"""
        tasks:
          {LONG}:
            run: "while [ ! -f go ]; do sleep 0.05; done"
          second_step_of_the_chain: {{run: echo, deps: [{LONG}]}}
          third_step: {{run: echo, deps: [second_step_of_the_chain]}}
        """)
    term = Term(project, ["run", "chain"], cols)
    seen = term.read_until(lambda t: "pending" in t and "running" in t and "third_step" in t, timeout=30)
    assert "third_step" in seen and "pending" in seen, seen
    (project / "pipelines" / "go").write_text("")
    code, text = term.finish()
    assert code == 0, text
    run_id = json.loads(pipe("status", "chain", "--json").stdout)["run"]["run_id"]
    assert_whole(text, LONG, "second_step_of_the_chain", "succeeded", f"chain · run {run_id}")
    assert "3 succeeded" in text
    assert max(len(line) for line in text.splitlines()) <= cols


def test_live_table_says_it_is_stopping_after_ctrl_c(project, pipe, write_pipeline):
    write_pipeline("stubborn", """
        tasks:
          slow:
            run: "trap 'sleep 1; exit 1' INT TERM; echo up; while true; do sleep 0.05; done"
        """)
    term = Term(project, ["run", "stubborn"], 100)
    term.read_until(lambda t: "running" in t, timeout=30)
    time.sleep(0.3)
    os.killpg(term.proc.pid, signal.SIGINT)        # what Ctrl-C sends to the terminal's foreground group
    text = term.read_until(lambda t: "Ctrl-C again to kill now" in t, timeout=30)
    assert "stopping" in text and "Ctrl-C again to kill now" in text, text
    code, text = term.finish()
    assert code == 130
