"""What a person sees on an 80x24 terminal (a real pty, read back through the small
terminal emulator of vt.py): the live table of a big run fits the screen with its counts
in sight, the attempt column stays while a task retries, an interrupted run says how to
resume it, and times are shown to the second; and the install hints of the extras say
both ways to install them."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from conftest import clean_env
from vt import PtyPipe

ROWS, COLS = 24, 80
LONG = "extract_customer_orders_from_the_warehouse_v2"       # 45 characters
COUNTS = re.compile(r"^\d+ [a-z_]+( · \d+ [a-z_]+)*$")      # the counts line: "3 running · 117 pending"
MICROSECONDS = re.compile(r"\d\d:\d\d:\d\d\.\d")
TO_THE_SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")


def counts_line(screen) -> str | None:
    return next((line for line in screen.lines if COUNTS.match(line.strip())), None)


def final_frame(screen, pipeline: str) -> list[str]:
    """The lines of the live table's last frame (drawn when the run ended), without the summary."""
    text = screen.since_redraw.split(f"\n{pipeline}: run ")[0]
    return text.split("\n")


def big_pipeline(write_pipeline, n: int = 120) -> None:
    """n tasks, 3 at once; the first three wait for a file `go`, the others follow them."""
    lines = ["concurrency: 3", "tasks:"]
    for i in range(n):
        lines.append(f"  task_number_{i:03d}:")
        if i < 3:
            lines.append('    run: "while [ ! -f go ]; do sleep 0.05; done"')
        else:
            lines += ["    run: 'true'", f"    deps: [task_number_{i % 3:03d}]"]
    write_pipeline("big", "\n".join(lines) + "\n")


def test_the_live_table_of_120_tasks_fits_80x24_with_its_counts(project, write_pipeline):
    big_pipeline(write_pipeline)
    term = PtyPipe(project, ["run", "big"], cols=COLS, rows=ROWS)
    assert term.wait_for(lambda s: s.frames > 2 and counts_line(s) == "3 running · 117 pending"
                         and any("… 1" in line and "more tasks" in line for line in s.lines), timeout=60), \
        term.screen.text
    screen = term.screen.text
    assert screen.splitlines()[0].startswith("big · run "), screen        # the title is on screen too
    shown = sum(1 for line in term.screen.lines if "task_number_" in line)
    assert f"… {120 - shown} more tasks" in screen, screen
    assert [line for line in term.screen.lines if " running " in line][:3] == \
        [line for line in term.screen.lines if "task_number_" in line][:3]     # running tasks come first
    assert 0 < term.screen.tallest <= ROWS, (term.screen.tallest, screen)
    (project / "pipelines" / "go").write_text("")
    assert term.finish() == 0
    assert term.screen.tallest <= ROWS
    frame = final_frame(term.screen, "big")
    assert len(frame) <= ROWS and frame[-1] == "120 succeeded", frame
    assert "big: run " in term.screen.text and "succeeded in" in term.screen.text


@pytest.mark.parametrize("rows", [12, 16])
def test_a_short_terminal_still_shows_the_counts(project, write_pipeline, rows):
    big_pipeline(write_pipeline, 40)
    term = PtyPipe(project, ["run", "big"], cols=COLS, rows=rows)
    assert term.wait_for(lambda s: s.frames > 2 and counts_line(s) == "3 running · 37 pending", timeout=60), \
        term.screen.text
    assert term.screen.tallest <= rows, term.screen.text
    assert "more tasks" in term.screen.text
    (project / "pipelines" / "go").write_text("")
    assert term.finish() == 0
    assert term.screen.tallest <= rows and len(final_frame(term.screen, "big")) <= rows


def test_the_attempt_column_stays_while_a_task_retries(project, write_pipeline):
    """With a 45-character task id at 80 columns the duration gives way, the attempt never."""
    write_pipeline("flaky", f"""
        tasks:
          {LONG}:
            run: "test -f ok || {{ echo not yet; exit 3; }}"
            retries: 5
            retry_delay: 1s
          after: {{run: echo, deps: [{LONG}]}}
        """)
    term = PtyPipe(project, ["run", "flaky"], cols=COLS, rows=ROWS)
    assert term.wait_for(lambda s: f"│ {LONG} │ retrying" in s.text, timeout=60), term.screen.text
    header = next(line for line in term.screen.lines if "┃ task" in line)
    assert "attempt" in header, term.screen.text
    row = next(line for line in term.screen.lines if LONG in line)
    assert re.search(r"│ retrying +│ 1 +│", row), row
    (project / "pipelines" / "ok").write_text("")
    assert term.finish() == 0
    frame = "\n".join(final_frame(term.screen, "flaky"))
    assert "attempt" in frame and re.search(rf"│ {LONG} │ succeeded +│ [2-6] +│", frame), frame


def test_an_interrupted_run_says_how_to_resume_it(project, pipe, write_pipeline):
    write_pipeline("slow", """
        tasks:
          wait_for_go: {run: "while [ ! -f go ]; do sleep 0.05; done"}
          after_it: {run: echo done, deps: [wait_for_go]}
        """)
    term = PtyPipe(project, ["run", "slow"], cols=COLS, rows=ROWS)
    assert term.wait_for(lambda s: "│ running" in s.text, timeout=60), term.screen.text
    os.killpg(term.proc.pid, signal.SIGINT)          # what Ctrl-C sends to the terminal's foreground group
    assert term.finish() == 130
    run_id = json.loads(pipe("status", "slow", "--json").stdout)["run"]["run_id"]
    command = f"pipe resume slow {run_id}"
    assert f"  resume it: {command}" in term.all_text.splitlines(), term.all_text
    screen = term.screen.text.replace("\n", "")           # the terminal wraps the long line, Rich does not cut it
    assert command in screen, term.screen.text
    assert f"resume it: {command}" in pipe("status", "slow").stdout.splitlines()     # status says it too
    (project / "pipelines" / "go").write_text("")
    r = pipe(*command.split()[1:])                       # the command as printed goes on with the run
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(pipe("status", "slow", "--json").stdout)["run"]
    assert doc["run_id"] == run_id and doc["state"] == "succeeded"


def test_an_interrupted_run_off_a_terminal_says_how_to_resume_it(project, write_pipeline):
    """Plain output (cron, CI) says it too, with the state folder the run used."""
    write_pipeline("slow", 'tasks:\n  wait_for_go: {run: "while [ ! -f go ]; do sleep 0.05; done"}\n')
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", "st", "run", "slow"], cwd=project,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if "running" in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    said = re.search(r"^  resume it: pipe (resume slow \S+-manual-\S+ --state-dir \S*st)$", out, re.M)
    assert said, out
    (project / "pipelines" / "go").write_text("")
    r = subprocess.run([sys.executable, "-m", "pipeline_cli", *said[1].split()], cwd=project, env=clean_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr


def test_times_are_shown_to_the_second(project, pipe, write_pipeline):
    """An unscheduled pipeline's logical date is the time it ran (with microseconds in the
    state): every terminal view shows it to the second and whole at 80 columns; --json
    keeps it as recorded."""
    write_pipeline("adhoc", "tasks:\n  a: {run: echo a}\n  b: {run: echo b, deps: [a]}\n")
    term = PtyPipe(project, ["run", "adhoc"], cols=COLS, rows=ROWS)
    assert term.finish() == 0
    outputs = {"run": term.all_text}
    run = json.loads(pipe("status", "adhoc", "--json").stdout)["run"]
    recorded = run["logical_date"]
    assert MICROSECONDS.search(recorded), recorded                  # what --json keeps
    second = datetime.fromisoformat(recorded).isoformat(timespec="seconds")
    assert re.search(rf"logical date\s+{re.escape(second)}\n", term.all_text), term.all_text   # whole, on one line
    pipe("run", "adhoc")
    for args in (["status", "adhoc"], ["status", "adhoc", "--run", run["run_id"]], ["list"],
                 ["run", "adhoc", "--dry-run"]):
        term = PtyPipe(project, args, cols=COLS, rows=ROWS)
        assert term.finish() == 0, term.screen.text
        outputs[" ".join(args)] = term.screen.text
        if args[0] == "status":
            assert second in term.screen.text, term.screen.text        # whole, on one line
            for line in term.screen.lines:                              # no table cut at the edge
                if line.strip() and line[0] in "┏┃┡│└":
                    assert line.rstrip()[-1] in "┓┃┩│┘", term.screen.text
    assert re.search(r"dry run for logical date " + TO_THE_SECOND.pattern + " ", outputs["run adhoc --dry-run"])
    for what, text in outputs.items():
        assert not MICROSECONDS.search(text), (what, text)
        assert "…" not in text, (what, text)


def test_status_says_long_reasons_under_its_table_at_80_columns(project, pipe, write_pipeline):
    """Rather than a reason folded into a strip ten characters wide: one line per task."""
    write_pipeline("fails", f"""
        tasks:
          {LONG}: {{run: "exit 3", retries: 1, retry_delay: 0}}
          clean: {{run: echo, deps: [{LONG}]}}
        """)
    assert pipe("run", "fails").returncode == 1
    term = PtyPipe(project, ["status", "fails"], cols=COLS, rows=ROWS)
    assert term.finish() == 0
    lines = [line.rstrip() for line in term.screen.lines]
    assert f"clean: upstream failed: {LONG}" in lines, term.screen.text
    assert f"{LONG}: exit code 3" in lines, term.screen.text
    header = next(line for line in lines if "┃ task" in line)
    assert "attempt" in header and "reason" not in header, term.screen.text
    assert re.search(rf"│ {LONG} │ failed +│ 2 +│", term.screen.text), term.screen.text


# --- install hints of the extras ---------------------------------------------------------------------

@pytest.fixture
def without_extras(tmp_path: Path) -> dict[str, str]:
    """An environment in which starlette, dask, distributed and apprise cannot be imported,
    as where pipe is installed without its extras."""
    shim = tmp_path / "no-extras"
    shim.mkdir()
    for name in ("starlette", "uvicorn", "dask", "distributed", "apprise"):
        (shim / f"{name}.py").write_text("raise ModuleNotFoundError(f'No module named {__name__!r}', name=__name__)\n")
    return {"PYTHONPATH": str(shim)}


@pytest.mark.parametrize("extra, args", [
    ("web", ["serve"]),
    ("dask", ["run", "hello", "--executor", "dask"]),
    ("notify", ["notify", "test", "hello"]),
])
def test_install_hints_name_both_ways(project, pipe, write_pipeline, without_extras, extra, args):
    write_pipeline("hello", 'notify:\n  to: ["json://127.0.0.1:9/hook"]\ntasks:\n  a: {run: "true"}\n')
    r = pipe(*args, env=without_extras)
    assert r.returncode == (1 if extra == "notify" else 2), r.stdout + r.stderr
    text = r.stdout + r.stderr
    assert f"pip install 'pipe-cli[{extra}]'" in text, text
    assert f"in a checkout of pipe: pip install -e '.[{extra}]'" in text, text
    assert "Traceback" not in text
