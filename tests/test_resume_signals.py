"""End-to-end tests of `pipe resume` and of signals to `pipe run` (issue 3), in real subprocesses."""
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

ST = "st"


def P(pipe, *args, **kw):
    return pipe("--state-dir", ST, *args, **kw)


def latest(pipe, name: str) -> dict:
    r = P(pipe, "status", name, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["run"]


def states(doc: dict) -> dict:
    return {t: v["state"] for t, v in doc["tasks"].items()}


def start_run(project: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", ST, "run", *args],
                            cwd=project, env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path: Path, limit: float = 15) -> str:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            time.sleep(0.05)
            return path.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, limit=5.0) -> list[int]:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def count(path: Path) -> int:
    return len(path.read_text().split()) if path.exists() else 0


RESUMABLE = """
    tasks:
      a: {run: "echo a >> a.count; echo k=from-a >> $PIPE_OUTPUT"}
      b: {run: "echo b >> b.count; test \\"$(cat fix.txt)\\" = good", deps: [a]}
      c: {run: "echo {{ tasks.a.outputs.k }} > c.out", deps: [b]}
      d: {run: "echo d >> d.count"}
    """


def test_resume_after_failure(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("res", RESUMABLE)
    (folder / "fix.txt").write_text("bad")
    r = P(pipe, "run", "res")
    assert r.returncode == 1
    doc = latest(pipe, "res")
    assert states(doc) == {"a": "succeeded", "b": "failed", "c": "upstream_failed", "d": "succeeded"}
    run_id = doc["run_id"]
    (folder / "fix.txt").write_text("good")
    r = P(pipe, "resume", "res", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert out["run_id"] == run_id
    assert states(out) == {"a": "succeeded", "b": "succeeded", "c": "succeeded", "d": "succeeded"}
    assert count(folder / "a.count") == 1 and count(folder / "d.count") == 1     # not rerun
    assert count(folder / "b.count") == 2
    assert (folder / "c.out").read_text().strip() == "from-a"                      # kept outputs
    assert out["tasks"]["a"]["outputs"] == {"k": "from-a"}
    assert out["tasks"]["b"]["attempt"] == 2       # attempts go on counting in the same run
    runs = list((project / ST / "res" / "runs").iterdir())
    assert len(runs) == 1
    logs = runs[0] / "logs"
    assert (logs / "b.1.log").exists() and (logs / "b.2.log").exists() and not (logs / "a.2.log").exists()
    assert latest(pipe, "res")["state"] == "succeeded"
    r = P(pipe, "logs", "res", "b", "--attempt", "1")
    assert r.returncode == 0
    # nothing left to resume: a clear error, exit 2
    r = P(pipe, "resume", "res")
    assert r.returncode == 2 and "nothing to resume" in r.stderr
    # --from b: b and everything after it rerun, a kept
    r = P(pipe, "resume", "res", run_id, "--from", "b")
    assert r.returncode == 0, r.stderr
    assert count(folder / "a.count") == 1 and count(folder / "b.count") == 3 and count(folder / "d.count") == 1
    assert (folder / "c.out").read_text().strip() == "from-a"
    for line in (runs[0] / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        assert "event" in e and "time" in e
    assert P(pipe, "resume", "res", "nosuchrun").returncode == 2
    assert P(pipe, "resume", "res", "--from", "nosuchtask").returncode == 2


def test_sigkill_then_resume(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("killed", """
        tasks:
          a: {run: "echo a >> a.count; echo k=va >> $PIPE_OUTPUT"}
          b: {run: "echo b >> b.count; echo $$ > b.pid; sleep 1.5", deps: [a]}
          c: {run: "echo {{ tasks.a.outputs.k }} >> c.out", deps: [b]}
        """)
    proc = start_run(project, "killed")
    try:
        pid = int(wait_for(folder / "b.pid"))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    doc = latest(pipe, "killed")
    assert doc["state"] == "interrupted"
    assert doc["tasks"]["a"]["state"] == "succeeded"
    assert doc["tasks"]["b"]["state"] != "succeeded"
    assert doc["tasks"]["c"]["state"] == "pending"
    r = P(pipe, "status", "killed")
    assert r.returncode == 0 and "interrupted" in r.stdout
    wait_gone([pid], 5)        # the orphaned sleep ends by itself
    r = P(pipe, "resume", "killed", "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = json.loads(r.stdout)
    assert out["run_id"] == doc["run_id"]
    assert states(out) == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    assert count(folder / "a.count") == 1
    assert count(folder / "b.count") == 2
    assert (folder / "c.out").read_text().split() == ["va"]
    assert latest(pipe, "killed")["state"] == "succeeded"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_interrupts_run(pipe, project, write_pipeline, sig):
    folder = project / "pipelines"
    write_pipeline("sig", """
        tasks:
          first: {run: "true"}
          plain:
            run: sh -c 'sleep 300 & echo $! > g1.pid; echo $$ > s1.pid; wait'
            deps: [first]
          stubborn:
            run: sh -c 'trap "" TERM INT; sleep 300 & echo $! > g2.pid; echo $$ > s2.pid; wait; sleep 300'
            deps: [first]
          after: {run: "echo ran > after.out", deps: [plain]}
        """)
    proc = start_run(project, "sig", env={"PIPE_KILL_GRACE": "1"})
    try:
        for f in ("g1.pid", "s1.pid", "g2.pid", "s2.pid"):
            wait_for(folder / f)
        pids = [int((folder / f).read_text()) for f in ("g1.pid", "s1.pid", "g2.pid", "s2.pid")]
        t0 = time.monotonic()
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, (out, err)
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_gone(pids, 3) == [], "task processes outlived the interrupted run"
    assert "Traceback" not in err
    doc = latest(pipe, "sig")
    assert doc["state"] == "interrupted"
    assert doc["tasks"]["first"]["state"] == "succeeded"
    assert doc["tasks"]["plain"]["state"] == "failed" and doc["tasks"]["stubborn"]["state"] == "failed"
    assert doc["tasks"]["after"]["state"] in ("pending", "upstream_failed")
    assert not (folder / "after.out").exists()
    events = [json.loads(l) for l in
              (project / ST / "sig" / "runs" / doc["run_id"] / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "run_finished" and events[-1]["state"] == "interrupted"
    # and it can be resumed: the interrupted tasks rerun (quick now), `first` does not
    write_pipeline("sig", """
        tasks:
          first: {run: "echo first >> first.count"}
          plain: {run: "true", deps: [first]}
          stubborn: {run: "true", deps: [first]}
          after: {run: "echo ran > after.out", deps: [plain]}
        """)
    r = P(pipe, "resume", "sig")
    assert r.returncode == 0, r.stderr
    assert not (folder / "first.count").exists()
    assert (folder / "after.out").exists()


def test_resume_refuses_a_running_run(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("busy", """
        tasks:
          a: {run: "echo $$ > a.pid; sleep 2"}
        """)
    proc = start_run(project, "busy")
    try:
        wait_for(folder / "a.pid")
        assert latest(pipe, "busy")["state"] == "running"
        r = P(pipe, "resume", "busy")
        assert r.returncode == 2 and "still running" in r.stderr
    finally:
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert latest(pipe, "busy")["state"] == "succeeded"


def test_sigterm_during_retry_delay_json(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("wait", """
        tasks:
          flaky: {run: "echo x >> tries; false", retries: 3, retry_delay: 60}
          ok: {run: "true"}
        """)
    proc = start_run(project, "wait", "--json")
    try:
        wait_for(folder / "tries")
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    doc = json.loads(out)               # still exactly one JSON document
    assert doc["state"] == "interrupted"
    assert doc["tasks"]["ok"]["state"] == "succeeded"
    assert count(folder / "tries") == 1
    assert latest(pipe, "wait")["state"] == "interrupted"


def test_only_run_replays_as_it_ran_and_resume_keeps_left_out_tasks(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("part", """
        tasks:
          a: {run: "echo a >> ran.txt; echo x=1 >> $PIPE_OUTPUT"}
          b: {run: "echo b-{{ tasks.a.outputs.x }} >> ran.txt", deps: [a]}
          c: {run: "echo c >> ran.txt", deps: [b]}
        """)
    assert P(pipe, "run", "part").returncode == 0
    r = P(pipe, "run", "part", "--only", "b", "--json")
    assert r.returncode == 0, r.stderr
    during = json.loads(r.stdout)
    after = latest(pipe, "part")
    assert after["run_id"] == during["run_id"] and after["state"] == "succeeded"
    assert states(after) == states(during)                # replay agrees with what the run said
    assert all(s != "pending" for s in states(after).values())
    assert after["tasks"]["a"]["outputs"] == {"x": "1"}
    r = P(pipe, "resume", "part")
    assert r.returncode == 2 and "nothing to resume" in r.stderr
    assert (folder / "ran.txt").read_text().split() == ["a", "b-1", "c", "b-1"]
    r = P(pipe, "resume", "part", "--from", "b")         # b again, with a's kept outputs
    assert r.returncode == 0, r.stderr
    assert (folder / "ran.txt").read_text().split() == ["a", "b-1", "c", "b-1", "b-1", "c"]


def test_second_sigint_kills_at_once(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("twice", """
        tasks:
          stubborn:
            run: trap '' TERM INT; echo $$ > s.pid; sleep 300
          leader_dies:
            run: sh -c '(trap "" TERM; sleep 300) & echo $! > g.pid; sleep 300'
        """)
    proc = start_run(project, "twice", env={"PIPE_KILL_GRACE": "60"})
    try:
        pids = [int(wait_for(folder / f)) for f in ("s.pid", "g.pid")]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None          # still within the grace period of the stubborn task
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 8
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert wait_gone(pids, 3) == []
    assert latest(pipe, "twice")["state"] == "interrupted"


def test_resume_after_a_torn_last_line(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("torn", """
        tasks:
          a: {run: "echo a >> a.count"}
          b: {run: "test -f ok", deps: [a]}
        """)
    assert P(pipe, "run", "torn").returncode == 1
    events = next((project / ST / "torn" / "runs").iterdir()) / "events.jsonl"
    data = events.read_bytes()
    events.write_bytes(data[:data.rstrip(b"\n").rindex(b"\n") + 1] + b'{"event":"run_fini')   # torn
    doc = latest(pipe, "torn")
    assert doc["state"] == "interrupted" and doc["skipped_lines"] == 1
    (folder / "ok").touch()
    r = P(pipe, "resume", "torn")
    assert r.returncode == 0, r.stderr
    lines = events.read_text().splitlines()
    assert sum(1 for l in lines if '"run_resumed"' in l) == 1
    assert [json.loads(l)["event"] for l in lines if l.startswith('{"event":"run_resumed"')] == ["run_resumed"]
    doc = latest(pipe, "torn")
    assert doc["state"] == "succeeded" and doc["skipped_lines"] == 1
    assert count(folder / "a.count") == 1


def test_closed_stdout_does_not_stop_the_run(pipe, project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("head", """
        tasks:
          a: {run: "sleep 0.3"}
          b: {run: "sleep 0.3; echo b > b.out", deps: [a]}
          c: {run: "sleep 0.3; exit 3", deps: [b]}
        """)
    proc = start_run(project, "head")      # as in `pipe run head | head -1`
    first = proc.stdout.readline()
    assert "started" in first
    proc.stdout.close()
    proc.wait(timeout=20)
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == 1, err       # the run's own exit code: c failed
    assert "Traceback" not in err
    doc = latest(pipe, "head")
    assert doc["state"] == "failed"
    assert states(doc) == {"a": "succeeded", "b": "succeeded", "c": "failed"}
    assert (folder / "b.out").exists()
