"""`pipe pause` / `pipe unpause` (SPEC 12), through the real CLI in subprocesses: tick starts
nothing for a paused pipeline, runs going on finish, `pipe run` still runs it and says so,
and on unpause tick catches up as if its ticks had been there."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import clean_env, wait_until


def daily(catchup: str, run: str = "echo {{ ds }} >> {{ pipeline }}.txt") -> str:
    return (f'schedule: "@daily"\nstart_date: 2026-11-01\ncatchup: {catchup}\nworkdir: ..\n'
            f"tasks:\n  rec:\n    run: {json.dumps(run)}\n")


def ran(project, name) -> list[str]:
    path = project / f"{name}.txt"
    return path.read_text().split() if path.exists() else []


def test_pause_during_a_catch_up_lets_the_run_finish_and_starts_no_more(project, write_pipeline, pipe):
    # Five days to catch up, one run at a time; each run waits for the file `go`.
    write_pipeline("c", daily("true", "echo {{ ds }} >> c.txt; while [ ! -e go ]; do sleep 0.05; done"))
    tick = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "tick", "--now", "2026-11-06T00:05:00+00:00"],
                            cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: ran(project, "c"), "the first run of the catch-up to start")
        p = pipe("pause", "c", "--reason", "warehouse migration")
        assert p.returncode == 0, p.stderr
        assert "paused c" in p.stdout and "warehouse migration" in p.stdout
        (project / "go").touch()
        out, err = tick.communicate(timeout=60)
    finally:
        tick.kill()
    assert tick.returncode == 0, out + err
    assert ran(project, "c") == ["2026-11-01"]           # the run going on finished; no other started
    doc = json.loads(pipe("status", "c", "--json").stdout)
    assert doc["run"]["state"] == "succeeded"
    assert doc["pipelines"][0]["paused"]["reason"] == "warehouse migration"
    # While paused, tick starts nothing, and says why with --dry-run.
    assert pipe("tick", "--now", "2026-11-06T00:06:00+00:00").returncode == 0
    assert ran(project, "c") == ["2026-11-01"]
    dry = pipe("tick", "--now", "2026-11-06T00:06:00+00:00", "--dry-run", "--json")
    plan = json.loads(dry.stdout)["pipelines"][0]
    assert plan["paused"]["reason"] == "warehouse migration" and plan["blocked"] is True
    # Unpaused: the catch-up goes on from where it stopped.
    u = pipe("unpause", "c")
    assert u.returncode == 0 and "unpaused c" in u.stdout and "catchup: true" in u.stdout
    assert pipe("tick", "--now", "2026-11-06T00:07:00+00:00").returncode == 0
    assert ran(project, "c") == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]


def test_unpause_catches_up_as_catchup_says(project, write_pipeline, pipe):
    write_pipeline("all", daily("true"))
    write_pipeline("latest", daily("false"))
    assert pipe("tick", "--now", "2026-11-02T00:05:00+00:00").returncode == 0
    assert ran(project, "all") == ran(project, "latest") == ["2026-11-01"]
    for name in ("all", "latest"):
        assert pipe("pause", name).returncode == 0
    for day in ("03", "04", "05"):      # the ticks of the pause: nothing starts
        r = pipe("tick", "--now", f"2026-11-{day}T00:05:00+00:00")
        assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr
    assert ran(project, "all") == ran(project, "latest") == ["2026-11-01"]
    for name in ("all", "latest"):
        assert pipe("unpause", name).returncode == 0
    assert pipe("tick", "--now", "2026-11-05T00:06:00+00:00").returncode == 0
    assert ran(project, "all") == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert ran(project, "latest") == ["2026-11-01", "2026-11-04"]


def test_paused_pipeline_is_shown_and_pipe_run_still_runs_it(project, write_pipeline, pipe):
    write_pipeline("p", daily("false"))
    r = pipe("pause", "p", "--reason", "holiday", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["paused"] is True and doc["changed"] is True
    assert doc["pause"]["reason"] == "holiday" and "@" in doc["pause"]["by"] and doc["pause"]["at"]
    # Recorded in the state folder, as a person can read it.
    kept = json.loads((project / ".pipe" / "p" / "paused.json").read_text())
    assert kept == doc["pause"]
    again = pipe("pause", "p")
    assert again.returncode == 0 and "already paused" in again.stdout
    listed = json.loads(pipe("list", "--json").stdout)["pipelines"][0]
    assert listed["paused"]["reason"] == "holiday" and listed["overdue"] is False
    assert "paused since" in pipe("list").stdout
    run = pipe("run", "p", "--date", "2026-11-03")
    assert run.returncode == 0, run.stderr
    assert "is paused" in run.stderr and "holiday" in run.stderr
    assert ran(project, "p") == ["2026-11-03"]
    b = pipe("backfill", "p", "--start", "2026-11-04", "--end", "2026-11-04")      # a person asked: it runs too
    assert b.returncode == 0 and "is paused" in b.stderr
    assert ran(project, "p") == ["2026-11-03", "2026-11-04"]
    status = pipe("status", "p")
    assert "paused by" in status.stdout and "holiday" in status.stdout
    u = pipe("unpause", "p", "--json")
    assert json.loads(u.stdout)["ended_pause"]["reason"] == "holiday"
    assert not (project / ".pipe" / "p" / "paused.json").exists()
    assert "not paused" in pipe("unpause", "p").stdout
    assert json.loads(pipe("list", "--json").stdout)["pipelines"][0]["paused"] is None


def test_pause_of_an_unknown_pipeline_is_refused(project, write_pipeline, pipe):
    write_pipeline("p", daily("false"))
    r = pipe("pause", "nope")
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr
    r = pipe("unpause", "../etc")
    assert r.returncode == 2 and "Traceback" not in r.stderr
