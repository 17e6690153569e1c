"""End-to-end tests of `pipe resume` and of signals to `pipe run` (issue 3), in real subprocesses.

A run stopped by a signal, a second signal, and a run killed then resumed are tested (once)
in tests/reliability/test_signals.py and test_crash.py."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from conftest import ST, cli, latest, start, states, wait_for


def count(path: Path) -> int:
    return len(path.read_text().split()) if path.exists() else 0


RESUMABLE = """
    tasks:
      a: {run: "echo a >> a.count; echo k=from-a >> $PIPE_OUTPUT"}
      b: {run: "echo b >> b.count; test \\"$(cat fix.txt)\\" = good", deps: [a]}
      c: {run: "echo {{ tasks.a.outputs.k }} > c.out", deps: [b]}
      d: {run: "echo d >> d.count"}
    """


def test_resume_after_failure(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("res", RESUMABLE)
    (folder / "fix.txt").write_text("bad")
    r = cli(project, "run", "res")
    assert r.returncode == 1
    doc = latest(project, "res")
    assert states(doc) == {"a": "succeeded", "b": "failed", "c": "upstream_failed", "d": "succeeded"}
    run_id = doc["run_id"]
    (folder / "fix.txt").write_text("good")
    r = cli(project, "resume", "res", "--json")
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
    assert latest(project, "res")["state"] == "succeeded"
    r = cli(project, "logs", "res", "b", "--attempt", "1")
    assert r.returncode == 0
    # nothing left to resume: a clear error, exit 2
    r = cli(project, "resume", "res")
    assert r.returncode == 2 and "nothing to resume" in r.stderr
    # --from b: b and everything after it rerun, a kept
    r = cli(project, "resume", "res", run_id, "--from", "b")
    assert r.returncode == 0, r.stderr
    assert count(folder / "a.count") == 1 and count(folder / "b.count") == 3 and count(folder / "d.count") == 1
    assert (folder / "c.out").read_text().strip() == "from-a"
    for line in (runs[0] / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        assert "event" in e and "time" in e
    assert cli(project, "resume", "res", "nosuchrun").returncode == 2
    assert cli(project, "resume", "res", "--from", "nosuchtask").returncode == 2


def test_resume_refuses_a_running_run(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("busy", """
        tasks:
          a: {run: "echo $$ > a.pid; while [ ! -e go ]; do sleep 0.02; done"}
        """)
    proc = start(project, "run", "busy")
    try:
        wait_for(folder / "a.pid")          # a runs until the test says go
        assert latest(project, "busy")["state"] == "running"
        r = cli(project, "resume", "busy")
        assert r.returncode == 2 and "still running" in r.stderr
    finally:
        (folder / "go").touch()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert latest(project, "busy")["state"] == "succeeded"


def test_sigterm_during_retry_delay_json(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("wait", """
        tasks:
          flaky: {run: "echo x >> tries; false", retries: 3, retry_delay: 60}
          ok: {run: "true"}
        """)
    proc = start(project, "run", "wait", "--json")
    try:
        wait_for(folder / "tries")
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)      # not the 60 s of the retry delay
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    doc = json.loads(out)               # still exactly one JSON document
    assert doc["state"] == "interrupted"
    assert doc["tasks"]["ok"]["state"] == "succeeded"
    assert doc["tasks"]["flaky"]["state"] == "cancelled"          # stopped by pipe, not a failure
    assert doc["tasks"]["flaky"]["reason"] == "interrupted by SIGTERM"
    assert count(folder / "tries") == 1
    assert latest(project, "wait")["state"] == "interrupted"


def test_only_run_replays_as_it_ran_and_resume_keeps_left_out_tasks(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("part", """
        tasks:
          a: {run: "echo a >> ran.txt; echo x=1 >> $PIPE_OUTPUT"}
          b: {run: "echo b-{{ tasks.a.outputs.x }} >> ran.txt", deps: [a]}
          c: {run: "echo c >> ran.txt", deps: [b]}
        """)
    assert cli(project, "run", "part").returncode == 0
    r = cli(project, "run", "part", "--only", "b", "--json")
    assert r.returncode == 0, r.stderr
    during = json.loads(r.stdout)
    after = latest(project, "part")
    assert after["run_id"] == during["run_id"] and after["state"] == "succeeded"
    assert states(after) == states(during)                # replay agrees with what the run said
    assert all(s != "pending" for s in states(after).values())
    assert after["tasks"]["a"]["outputs"] == {"x": "1"}
    r = cli(project, "resume", "part")
    assert r.returncode == 2 and "nothing to resume" in r.stderr
    assert (folder / "ran.txt").read_text().split() == ["a", "b-1", "c", "b-1"]
    r = cli(project, "resume", "part", "--from", "b")         # b again, with a's kept outputs
    assert r.returncode == 0, r.stderr
    assert (folder / "ran.txt").read_text().split() == ["a", "b-1", "c", "b-1", "b-1", "c"]


def test_resume_after_a_torn_last_line(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("torn", """
        tasks:
          a: {run: "echo a >> a.count"}
          b: {run: "test -f ok", deps: [a]}
        """)
    assert cli(project, "run", "torn").returncode == 1
    events = next((project / ST / "torn" / "runs").iterdir()) / "events.jsonl"
    data = events.read_bytes()
    events.write_bytes(data[:data.rstrip(b"\n").rindex(b"\n") + 1] + b'{"event":"run_fini')   # torn
    doc = latest(project, "torn")
    assert doc["state"] == "interrupted" and doc["skipped_lines"] == 1
    (folder / "ok").touch()
    r = cli(project, "resume", "torn")
    assert r.returncode == 0, r.stderr
    parsed, unreadable = [], []
    for line in events.read_text().splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            unreadable.append(line)
    assert unreadable == ['{"event":"run_fini']         # the torn line stays alone: nothing glued to it
    assert [e["event"] for e in parsed].count("run_resumed") == 1
    doc = latest(project, "torn")
    assert doc["state"] == "succeeded" and doc["skipped_lines"] == 1
    assert count(folder / "a.count") == 1


def test_closed_stdout_does_not_stop_the_run(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("head", """
        tasks:
          a: {run: "sleep 0.3"}
          b: {run: "sleep 0.3; echo b > b.out", deps: [a]}
          c: {run: "sleep 0.3; exit 3", deps: [b]}
        """)
    proc = start(project, "run", "head")      # as in `pipe run head | head -1`
    first = proc.stdout.readline()
    assert "started" in first
    proc.stdout.close()
    proc.wait(timeout=20)
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == 1, err       # the run's own exit code: c failed
    assert "Traceback" not in err
    doc = latest(project, "head")
    assert doc["state"] == "failed"
    assert states(doc) == {"a": "succeeded", "b": "succeeded", "c": "failed"}
    assert (folder / "b.out").exists()
