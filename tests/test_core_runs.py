"""Runs through the real CLI: what the core promises about processes, resumes and the
states it records (issue 15 items 3, 6, 7, 12, 13)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env

ST = ".pipe"


def status(pipe, name: str) -> dict:
    r = pipe("status", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run"]


def events(project: Path, name: str) -> list[dict]:
    [run] = list((project / ST / name / "runs").iterdir())
    return [json.loads(l) for l in (run / "events.jsonl").read_text().splitlines() if l.strip()]


# -- item 3: a command run without a shell does exactly what `sh -c` does ----------------------

COMMANDS = [
    "echo -e hello", "echo -n x", "echo hello   world", "printf %s-%s a b", "pwd", "test -n x",
    "true", "false", "kill -l 9", "ls /no-such-folder", "env -u HOME true", "uname -s", "echo",
    "expr 2 + 3", "date -u -d @0 +%Y",
]


def test_commands_give_the_same_output_as_sh(project, pipe, write_pipeline):
    tasks = "".join(f"  c{i}:\n    run: {json.dumps(c)}\n    trigger: all_done\n" for i, c in enumerate(COMMANDS))
    write_pipeline("same", "tasks:\n" + tasks)
    r = pipe("run", "same")
    doc = status(pipe, "same")
    for i, command in enumerate(COMMANDS):
        want = subprocess.run(["sh", "-c", command], capture_output=True, cwd=project / "pipelines")
        log = project / ST / "same" / "runs" / doc["run_id"] / "logs" / f"c{i}.1.log"
        got = log.read_bytes()
        assert got == want.stdout + want.stderr or (
            # sh and ls name themselves in their messages: compare the rest
            want.returncode != 0 and got.split(b":")[-1] == (want.stdout + want.stderr).split(b":")[-1]), command
        task = doc["tasks"][f"c{i}"]
        assert (task["exit_code"] or 0) == want.returncode, command
    assert r.returncode == 1     # `false` and `ls` fail, as they do under sh


# -- item 12: tasks stopped by pipe are cancelled, never counted as failures ----------------------

def test_fail_fast_cancels_the_others_and_names_the_first_failure(project, pipe, write_pipeline):
    write_pipeline("ff", """
        tasks:
          bad: {run: "sleep 0.3; exit 3"}
          slow: {run: "sleep 30"}
          after: {run: "true", deps: [slow]}
    """)
    r = pipe("run", "ff", "--fail-fast", env={"PIPE_KILL_GRACE": "2"})
    assert r.returncode == 1
    doc = status(pipe, "ff")
    assert doc["state"] == "failed"
    assert doc["tasks"]["bad"]["state"] == "failed" and doc["tasks"]["bad"]["exit_code"] == 3
    assert doc["tasks"]["slow"]["state"] == "cancelled"
    assert "fail-fast" in doc["tasks"]["slow"]["reason"]
    assert doc["tasks"]["after"]["state"] == "pending"
    finished = [e for e in events(project, "ff") if e["event"] == "run_finished"][-1]
    assert finished["first_failure"] == "bad"
    assert finished["counts"] == {"failed": 1, "cancelled": 1, "pending": 1}


def test_sigint_cancels_running_tasks_and_resume_reruns_them(project, pipe, write_pipeline):
    write_pipeline("stop", """
        tasks:
          first: {run: "true"}
          slow: {run: "if [ \\"$PIPE_ATTEMPT\\" = 1 ]; then sleep 30; fi", deps: [first]}
    """)
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "stop"], cwd=project,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_state(project, "stop", "slow", "running")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    doc = status(pipe, "stop")
    assert doc["state"] == "interrupted"
    assert doc["tasks"]["slow"]["state"] == "cancelled" and doc["tasks"]["slow"]["reason"] == "interrupted by SIGINT"
    assert doc["tasks"]["first"]["state"] == "succeeded"
    r = pipe("resume", "stop")
    assert r.returncode == 0, r.stderr
    doc = status(pipe, "stop")
    assert doc["state"] == "succeeded" and doc["tasks"]["slow"]["attempt"] == 2


def _wait_for_state(project: Path, name: str, task: str, state: str, timeout: float = 30) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        runs = project / ST / name / "runs"
        if runs.is_dir():
            for run in runs.iterdir():
                lines = (run / "events.jsonl").read_text().splitlines() if (run / "events.jsonl").exists() else []
                for line in reversed(lines):
                    try:
                        e = json.loads(line)
                    except ValueError:
                        continue
                    if e.get("task") == task:
                        if e.get("state") == state:
                            return e
                        break
        time.sleep(0.05)
    raise AssertionError(f"{task} never became {state}")


# -- item 6: after pipe is SIGKILLed, resume stops the old attempt before it starts a new one ---------

CHECK = """
import os, sys
pids = [int(p) for p in open("pids").read().split()]
mine = (os.getpid(), os.getppid())     # this attempt's python and its sh
alive = []
for p in pids:
    if p in mine:
        continue
    try:
        state = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    if state not in ("Z", "X"):
        alive.append(p)
open("seen", "w").write(" ".join(map(str, alive)))
"""


def test_resume_after_sigkill_stops_the_old_attempt_first(project, pipe, write_pipeline):
    (project / "pipelines" / "check.py").write_text(CHECK)
    write_pipeline("orphan", """
        tasks:
          work:
            run: "echo $$ >> pids; if [ \\"$PIPE_ATTEMPT\\" = 1 ]; then sleep 60; else python3 check.py; fi"
    """)
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "orphan"], cwd=project,
                            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    running = _wait_for_state(project, "orphan", "work", "running")
    assert running["pgid"] and running["pgid_start"]
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    old = int((project / "pipelines" / "pids").read_text().split()[0])
    assert Path(f"/proc/{old}").exists()          # SIGKILL of pipe left its task running
    doc = status(pipe, "orphan")
    assert doc["state"] == "interrupted" and doc["tasks"]["work"]["state"] == "cancelled"
    r = pipe("resume", "orphan", env={"PIPE_KILL_GRACE": "2"})
    assert r.returncode == 0, r.stderr
    assert (project / "pipelines" / "seen").read_text() == ""      # the old attempt was gone first
    assert status(pipe, "orphan")["tasks"]["work"]["attempt"] == 2


# -- item 7: one resume of a run at a time, by its lock --------------------------------------

def test_resume_refuses_a_run_whose_lock_is_held(project, pipe, write_pipeline):
    import fcntl

    write_pipeline("locked", """
        tasks:
          a: {run: "exit 1"}
    """)
    assert pipe("run", "locked").returncode == 1
    [run] = list((project / ST / "locked" / "runs").iterdir())
    fd = os.open(run / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)           # as another `pipe resume` holds it
    try:
        r = pipe("resume", "locked")       # busy, not invalid: exit 1, as `flock -n` does
        assert r.returncode == 1 and "is being resumed by another pipe" in r.stderr, r.stderr
    finally:
        os.close(fd)
    r = pipe("resume", "locked")
    assert r.returncode == 1 and status(pipe, "locked")["tasks"]["a"]["attempt"] == 2


# -- item 5: .env files read as python-dotenv (and docker compose) read them -----------------------

DOTENV = '''# comments and export are fine
export PLAIN=value # a comment after the value
QUOTED="two words"
ESCAPED="line1\\nline2"
MULTI="first
second"
SINGLE='no $expansion \\n here'
EMPTY=
'''


def test_dotenv_values_are_read_as_python_dotenv_reads_them(project, pipe, write_pipeline):
    from dotenv import dotenv_values

    (project / "pipelines" / ".env").write_text(DOTENV)
    write_pipeline("denv", """
        dotenv: .env
        tasks:
          show:
            python: showenv:main
    """)
    (project / "pipelines" / "showenv.py").write_text(
        "import json, os\n"
        "def main():\n"
        "    names = ['PLAIN', 'QUOTED', 'ESCAPED', 'MULTI', 'SINGLE', 'EMPTY']\n"
        "    return {n: os.environ.get(n) for n in names}\n")
    r = pipe("run", "denv")
    assert r.returncode == 0, r.stderr
    got = status(pipe, "denv")["tasks"]["show"]["outputs"]
    want = {k: v for k, v in dotenv_values(project / "pipelines" / ".env").items()}
    assert got == want
    assert got["PLAIN"] == "value" and got["ESCAPED"] == "line1\nline2" and got["MULTI"] == "first\nsecond"
    assert got["SINGLE"] == "no $expansion \\n here"


def test_the_real_environment_wins_over_the_dotenv_file(project, pipe, write_pipeline):
    (project / "pipelines" / ".env").write_text("WHO=file\n")
    write_pipeline("win", """
        dotenv: .env
        tasks:
          a: {run: 'echo "who=$WHO" >> "$PIPE_OUTPUT"'}
    """)
    assert pipe("run", "win", env={"WHO": "shell"}).returncode == 0
    assert status(pipe, "win")["tasks"]["a"]["outputs"] == {"who": "shell"}


def test_validate_warns_about_a_scheduled_pipeline_with_a_param_it_cannot_give(project, pipe, write_pipeline):
    write_pipeline("req", """
        schedule: "@daily"
        params:
          city:
        tasks:
          a: {run: "echo {{ params.city }}"}
    """)
    r = pipe("validate", "req")
    assert r.returncode == 0
    assert ("pipelines/req.yaml:3:8: warning: params.city has no default, so `pipe tick` and `pipe backfill` "
            "cannot run this scheduled pipeline") in r.stdout + r.stderr
    write_pipeline("req", """
        params:
          city:
        tasks:
          a: {run: "echo {{ params.city }}"}
    """)
    r = pipe("validate", "req")
    assert r.returncode == 0 and "warning" not in r.stdout + r.stderr
