"""End-to-end tests of `pipe resume` and of signals to `pipe run` (issue 3), in real subprocesses.

A run stopped by a signal, a second signal, and a run killed then resumed are tested (once)
in tests/reliability/test_signals.py and test_crash.py."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from conftest import ST, cli, latest, read_events, start, states, task_reached, wait_for, wait_until


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
        assert r.returncode == 1 and "still running" in r.stderr       # busy: exit 1, nothing done
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
        wait_until(lambda: task_reached(project / ST, "wait", "flaky", "retrying"),
                   "flaky to wait for its retry")
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


# -- one resume at a time: of several at once, one reruns and the others do nothing -----------------

ALWAYS_FAILS = """
    tasks:
      a: {run: "echo a >> a.count"}
      b: {run: "echo b >> b.count; exit 3", deps: [a]}
    """


def test_a_resume_that_began_while_another_was_starting_does_nothing(project, write_pipeline):
    """The late one of two resumes typed at once: it gets the run's lock only after the first has
    rerun b and ended, and must not rerun b a second time."""
    folder = project / "pipelines"
    write_pipeline("once", ALWAYS_FAILS)
    assert cli(project, "run", "once").returncode == 1
    late = start(project, "resume", "once")
    os.kill(late.pid, signal.SIGSTOP)        # started, held before it looks at the run
    try:
        first = cli(project, "resume", "once")
        assert first.returncode == 1, first.stderr           # b failed again: the run's own exit code
        assert count(folder / "b.count") == 2
    finally:
        os.kill(late.pid, signal.SIGCONT)
    out, err = late.communicate(timeout=60)
    assert late.returncode == 1, (out, err)
    assert "was resumed by another pipe" in err and "this resume does nothing" in err, err
    assert "Traceback" not in err
    assert count(folder / "b.count") == 2 and count(folder / "a.count") == 1
    again = cli(project, "resume", "once")   # a resume typed afterwards reruns it, as asked
    assert again.returncode == 1 and count(folder / "b.count") == 3


def test_six_resumes_at_once_rerun_a_task_once(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("six", ALWAYS_FAILS)
    assert cli(project, "run", "six").returncode == 1
    for round_ in range(3):
        before = count(folder / "b.count")
        procs = [start(project, "resume", "six") for _ in range(6)]
        results = [(p.communicate(timeout=120), p.returncode) for p in procs]
        assert count(folder / "b.count") == before + 1, (round_, results)      # one rerun, not two
        idle = [err for (out, err), code in results if "this resume does nothing" in err]
        ran = [out for (out, err), code in results if "this resume does nothing" not in err]
        assert len(ran) == 1 and "resumed" in ran[0], (round_, results)
        assert len(idle) == 5 and all(code == 1 for _, code in results), (round_, results)
        assert all("being resumed by another pipe" in e or "was resumed by another pipe" in e for e in idle)
    assert count(folder / "a.count") == 1
    events = read_events(next((project / ST / "six" / "runs").iterdir()) / "events.jsonl")
    assert [e["event"] for e in events].count("run_resumed") == 3


# -- --only: tasks left out are not successes of the run ---------------------------------------------

def test_only_counts_and_records_only_what_ran(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("part", """
        tasks:
          a: {run: "echo a >> ran.txt; echo x=1 >> $PIPE_OUTPUT"}
          b: {run: "echo b-{{ tasks.a.outputs.x }} >> ran.txt", deps: [a]}
          c: {run: "echo c >> ran.txt", deps: [b]}
        """)
    assert cli(project, "run", "part").returncode == 0
    full = latest(project, "part")["run_id"]
    r = cli(project, "run", "part", "--only", "b")
    assert r.returncode == 0, r.stderr
    assert "(1 succeeded)" in r.stdout and "1 task)" in r.stdout, r.stdout
    r = cli(project, "run", "part", "--only", "b", "--json")
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"succeeded": 1}
    assert states(doc) == {"a": "skipped", "b": "succeeded", "c": "skipped"}
    for kept in ("a", "c"):
        assert doc["tasks"][kept]["kept_from"] == full and doc["tasks"][kept]["attempt"] == 0
        assert f"outputs kept from run {full}" in doc["tasks"][kept]["reason"]
    assert doc["tasks"]["b"]["kept_from"] is None
    assert doc["tasks"]["a"]["outputs"] == {"x": "1"}          # kept outputs stay usable
    assert (folder / "ran.txt").read_text().split() == ["a", "b-1", "c", "b-1", "b-1"]
    after = latest(project, "part")                               # the replay says the same
    assert after["counts"] == doc["counts"] and states(after) == states(doc)
    text = cli(project, "status", "part").stdout
    assert f"kept from run {full}" in text
    # A second left-out run points to the run where the task ran, not to the run that kept it.
    r = cli(project, "run", "part", "--only", "c", "--json")
    doc2 = json.loads(r.stdout)
    assert doc2["tasks"]["a"]["kept_from"] == full and doc2["tasks"]["b"]["kept_from"] == doc["run_id"]
    assert doc2["counts"] == {"succeeded": 1}
    # Resume --from of the --only run: what runs again is no longer kept.
    r = cli(project, "resume", "part", doc["run_id"], "--from", "b", "--json")
    assert r.returncode == 0, r.stderr
    resumed = json.loads(r.stdout)
    assert resumed["tasks"]["c"]["state"] == "succeeded" and resumed["tasks"]["c"]["kept_from"] is None
    assert resumed["tasks"]["a"]["kept_from"] == full
    assert resumed["counts"] == {"succeeded": 2}


# -- after --only: logs and resume point to the run that has the task --------------------------------

def test_logs_and_resume_point_to_the_earlier_run_after_only(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("fails", """
        tasks:
          ok: {run: "echo fine"}
          bad: {run: "echo broken-$(cat fix.txt); test \\"$(cat fix.txt)\\" = good"}
        """)
    (folder / "fix.txt").write_text("bad")
    assert cli(project, "run", "fails").returncode == 1
    failed = latest(project, "fails")["run_id"]
    assert cli(project, "run", "fails", "--only", "ok").returncode == 0
    newest = latest(project, "fails")["run_id"]
    r = cli(project, "logs", "fails", "bad")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"the latest run ({newest}) did not run bad; its latest attempt is in run {failed}" in r.stderr, r.stderr
    assert f"pipe logs fails bad --run {failed}" in r.stderr
    r = cli(project, "logs", "fails", "bad", "--run", failed)        # the command it gave
    assert r.returncode == 0 and "broken-bad" in r.stdout
    r = cli(project, "logs", "fails")
    assert f"pipe logs fails --run {failed}" in r.stderr, r.stderr
    r = cli(project, "resume", "fails")
    assert r.returncode == 2 and f"nothing to resume in the latest run {newest}" in r.stderr, r.stderr
    assert f"pipe resume fails {failed}" in r.stderr and "(bad)" in r.stderr
    (folder / "fix.txt").write_text("good")
    r = cli(project, "resume", "fails", failed)                        # the command it gave
    assert r.returncode == 0, r.stderr
    # Once bad succeeded in that run, nothing points back any more.
    r = cli(project, "resume", "fails")
    assert r.returncode == 2 and "has tasks to resume" not in r.stderr, r.stderr
