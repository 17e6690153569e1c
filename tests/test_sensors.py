"""Sensors (SPEC 10) through the real CLI: file, http (a local http.server), command and
after conditions; a timeout with retries; `pipe run` waits in its own process; a run that
tick starts is left `waiting` with no pipe process behind it, and a later tick resumes it
once its file exists, exactly once, also after a SIGKILL of the resuming tick."""
from __future__ import annotations

import http.server
import json
import os
import signal
import threading

import pytest

from conftest import ST, cli, latest, read_events, start, task_reached, wait_until


def pids_of_pipe_for(project) -> list[int]:
    """The pipe processes that work in this project (read from the process table)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if b"pipeline_cli" in b" ".join(argv) and cwd.startswith(str(project)):
            found.append(int(entry))
    return found


@pytest.fixture
def daily(write_pipeline):
    write_pipeline("d", """
        schedule: "@daily"
        start_date: 2026-11-01
        tasks:
          s: {wait: {file: "in-{{ ds }}.csv"}, every: 0.2s}
          after: {deps: [s], run: "echo got {{ ds }} >> ../got"}
        """)


def test_a_ticks_run_is_left_waiting_with_no_process_and_a_later_tick_resumes_it_once(project, daily):
    r = cli(project, "tick", "--now", "2026-11-02T00:10:00+00:00")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""                       # waiting is not a failure: a quiet cron job
    run = latest(project, "d")
    assert run["state"] == "waiting"
    assert run["tasks"]["s"]["state"] == "waiting" and run["tasks"]["s"]["reason"] == "waiting for file in-2026-11-01.csv"
    assert run["tasks"]["after"]["state"] == "pending"
    assert pids_of_pipe_for(project) == []        # nothing of pipe runs while it waits
    status = cli(project, "status", "d").stdout
    assert "waiting" in status and "waiting for file in-2026-11-01.csv" in status
    assert cli(project, "tick", "--now", "2026-11-02T00:11:00+00:00").returncode == 0
    assert latest(project, "d")["state"] == "waiting" and not (project / "got").exists()
    (project / "pipelines" / "in-2026-11-01.csv").write_text("x")      # while no pipe process runs
    assert cli(project, "tick", "--now", "2026-11-02T00:12:00+00:00").returncode == 0
    done = latest(project, "d")
    assert done["run_id"] == run["run_id"] and done["state"] == "succeeded"
    assert done["tasks"]["s"]["state"] == "succeeded" and done["tasks"]["s"]["attempt"] == 1
    for minute in (13, 14):
        assert cli(project, "tick", "--now", f"2026-11-02T00:{minute}:00+00:00").returncode == 0
    assert (project / "got").read_text() == "got 2026-11-01\n"         # once


def test_sigkill_of_the_tick_that_resumes_a_waiting_run(project, write_pipeline):
    write_pipeline("d", """
        schedule: "@daily"
        start_date: 2026-11-01
        tasks:
          s: {wait: {file: "in-{{ ds }}.csv"}, every: 0.2s}
          slow: {deps: [s], run: "echo start >> ../slow; while [ ! -e ../go ]; do sleep 0.05; done; echo {{ ds }} >> ../got"}
        """)
    assert cli(project, "tick", "--now", "2026-11-02T00:10:00+00:00").returncode == 0
    (project / "pipelines" / "in-2026-11-01.csv").write_text("x")
    tick = start(project, "tick", "--now", "2026-11-02T00:11:00+00:00")
    wait_until(lambda: task_reached(project / ST, "d", "slow", "running"), "the resumed run's next task to start")
    os.killpg(tick.pid, signal.SIGKILL) if os.getpgid(tick.pid) == tick.pid else tick.kill()
    tick.wait(10)
    (project / "go").write_text("")
    wait_until(lambda: not pids_of_pipe_for(project), "the killed tick's children to go", limit=30)
    assert cli(project, "tick", "--now", "2026-11-02T00:12:00+00:00").returncode == 0
    assert cli(project, "tick", "--now", "2026-11-02T00:13:00+00:00").returncode == 0
    assert (project / "got").read_text() == "2026-11-01\n"           # once, by the resume after the kill
    assert latest(project, "d")["state"] == "succeeded"


class _Ready(http.server.BaseHTTPRequestHandler):
    ready = False

    def do_GET(self):
        self.send_response(200 if _Ready.ready else 503)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_command_and_after_sensors_under_pipe_run(project, write_pipeline):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        write_pipeline("many", f"""
            tasks:
              web: {{wait: {{http: "http://127.0.0.1:{server.server_port}/ready"}}, every: 0.2s}}
              cmd: {{wait: {{command: "test -s ../flag"}}, every: 0.2s}}
              late: {{wait: {{after: 1h}}, every: 0.2s, timeout: 2s}}
              both: {{deps: [web, cmd], run: "echo both > ../both"}}
            """)
        proc = start(project, "run", "many", "--json")
        wait_until(lambda: task_reached(project / ST, "many", "web", "waiting")
                   and task_reached(project / ST, "many", "cmd", "waiting"), "the sensors to wait")
        assert not (project / "both").exists()
        _Ready.ready = True
        (project / "flag").write_text("yes")
        out, err = proc.communicate(timeout=60)
    finally:
        server.shutdown()
    doc = json.loads(out)
    assert proc.returncode == 1, err                     # `late` waits for an hour past now: it times out
    assert doc["tasks"]["web"]["state"] == "succeeded" and doc["tasks"]["cmd"]["state"] == "succeeded"
    assert (project / "both").read_text() == "both\n"
    assert doc["tasks"]["late"]["state"] == "failed"
    assert doc["tasks"]["late"]["reason"] == "waited 2s for after 1h"


def test_an_after_sensor_reads_ticks_now_and_a_timeout_retries(project, write_pipeline):
    write_pipeline("a", """
        schedule: "@daily"
        start_date: 2026-11-01
        tasks:
          six: {wait: {after: "06:00"}, every: 0.2s}
          go: {deps: [six], run: "echo {{ ds }} >> ../went"}
        """)
    assert cli(project, "tick", "--now", "2026-11-02T05:50:00+00:00").returncode == 0
    assert latest(project, "a")["state"] == "waiting"
    assert cli(project, "tick", "--now", "2026-11-02T06:01:00+00:00").returncode == 0
    assert latest(project, "a")["state"] == "succeeded" and (project / "went").read_text() == "2026-11-01\n"
    write_pipeline("t", """
        tasks:
          never: {wait: {file: "no-such-file"}, every: 0.2s, timeout: 1s, retries: 1}
        """)
    r = cli(project, "run", "t", "--json")
    assert r.returncode == 1
    never = json.loads(r.stdout)["tasks"]["never"]
    assert never["state"] == "failed" and never["attempt"] == 2 and never["reason"] == "waited 1s for file no-such-file"
    run_dir = next((project / ST / "t" / "runs").iterdir())
    states = [e["state"] for e in read_events(run_dir / "events.jsonl") if e.get("task") == "never"]
    assert states == ["waiting", "retrying", "waiting", "failed"]


def test_a_sensor_is_validated(project, write_pipeline):
    write_pipeline("bad", """
        tasks:
          a: {wait: {file: x, http: "http://x"}}
          b: {wait: {after: "25:00"}}
          c: {run: echo, every: 1m}
          d: {wait: {file: x}, run: echo}
        """)
    r = cli(project, "validate", "pipelines/bad.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.yaml:2:" in r.stderr
    assert "bad.yaml:3:" in r.stderr and "tasks.b.wait.after: expected a time of day" in r.stderr
    assert "bad.yaml:4:" in r.stderr and "only a sensor (`wait:`) is checked" in r.stderr
    assert "bad.yaml:5:" in r.stderr and "has both `run` and `wait`" in r.stderr
