"""Pools (SPEC 12) through the real CLI: the bound holds over several `pipe run` processes
and a tick at once (read from the tasks' own time stamps), a SIGKILLed pipe frees its slots,
a waiting task is pending with the pool in its reason, `pipe pools` says who holds what,
foreach instances take slots too, and a task's unknown pool or too many slots is a located
error."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from conftest import ST, clean_env, cli, read_events, start, task_reached, wait_until

STAMP = 'echo "start $(date +%s.%N)" >> ../stamps; {body}; echo "end $(date +%s.%N)" >> ../stamps'


def peak(stamps_file) -> tuple[int, int]:
    """The most tasks between their own start and end stamps at once, and how many ran."""
    events = []
    for line in stamps_file.read_text().splitlines():
        kind, at = line.split()
        events.append((float(at), 1 if kind == "start" else -1))
    events.sort()
    now = top = 0
    for _, d in events:
        now += d
        top = max(top, now)
    return top, len(events) // 2


def pooled(name: str, n: int, body: str = "sleep 0.5", extra: str = "") -> str:
    lines = [extra, "concurrency: 4", "tasks:"] if extra else ["concurrency: 4", "tasks:"]
    for i in range(n):
        lines.append(f"  t{i}: {{pool: warehouse, run: {json.dumps(STAMP.format(body=body))}}}")
    return "\n".join(lines) + "\n"


def test_three_runs_and_a_tick_never_hold_more_than_the_pool(project, write_pipeline):
    (project / "pipe.yaml").write_text("pools:\n  warehouse: 2\n")
    for name in ("a", "b", "c"):
        write_pipeline(name, pooled(name, 3))
    write_pipeline("sched", pooled("sched", 3, extra='schedule: "@hourly"\nstart_date: 2026-11-05T00:00:00+00:00'))
    procs = [start(project, "run", name) for name in ("a", "b", "c")]
    procs.append(start(project, "tick", "--now", "2026-11-05T01:10:00+00:00"))
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (out, err)
    top, ran = peak(project / "stamps")
    assert ran == 12 and top <= 2, (top, ran)
    assert top == 2                          # the pool was used to its size, not one at a time
    # a task that waited said why, in its pending event
    reasons = {e.get("reason") for name in ("a", "b", "c")
               for f in (project / ST / name / "runs").glob("*/events.jsonl") for e in read_events(f)
               if e.get("event") == "task" and e.get("state") == "pending"}
    assert "pool warehouse: 2 of 2 in use" in reasons, reasons


def test_a_killed_pipe_frees_its_slots_and_pools_says_who_holds_them(project, write_pipeline):
    (project / "pipe.yaml").write_text("pools:\n  warehouse: 2\n")
    write_pipeline("hold", "tasks:\n  h1: {pool: warehouse, run: 'sleep 60'}\n"
                           "  h2: {pool: warehouse, pool_slots: 1, run: 'sleep 60'}\n")
    write_pipeline("after", "tasks:\n  big: {pool: warehouse, pool_slots: 2, run: 'echo ran > ../after-ran'}\n")
    holder = start(project, "run", "hold")
    try:
        wait_until(lambda: task_reached(project / ST, "hold", "h1", "running")
                   and task_reached(project / ST, "hold", "h2", "running"), "both slots taken")
        r = cli(project, "pools", "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["project_file"] == "pipe.yaml"
        [pool] = doc["pools"]
        assert pool["pool"] == "warehouse" and pool["size"] == 2 and pool["in_use"] == 2
        assert sorted(h["task"] for h in pool["holders"]) == ["h1", "h2"]
        assert {h["pipeline"] for h in pool["holders"]} == {"hold"} and {h["pid"] for h in pool["holders"]} == {holder.pid}
        text = cli(project, "pools").stdout
        assert "warehouse" in text and "2 of 2" in text and "hold h1" in text
        waiter = start(project, "run", "after")
        wait_until(lambda: task_reached(project / ST, "after", "big", "pending"), "big to wait for the pool")
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, (out, err)
        assert (project / "after-ran").read_text() == "ran\n"
        assert "pending · pool warehouse: 2 of 2 in use" in out
    finally:
        for p in (holder,):
            if p.poll() is None:
                p.kill()
    assert json.loads(cli(project, "pools", "--json").stdout)["pools"][0]["in_use"] == 0


def test_foreach_instances_take_slots_too(project, write_pipeline):
    (project / "pipe.yaml").write_text("pools:\n  api: 1\n")
    write_pipeline("f", "concurrency: 4\ntasks:\n  each:\n    foreach: [1, 2, 3]\n    pool: api\n"
                        f"    run: {json.dumps(STAMP.format(body='sleep 0.3'))}\n")
    r = cli(project, "run", "f")
    assert r.returncode == 0, r.stdout + r.stderr
    assert peak(project / "stamps") == (1, 3)


def test_an_unknown_pool_or_too_many_slots_is_a_located_error(project, write_pipeline):
    write_pipeline("p", "tasks:\n  x: {pool: warehouse, run: echo}\n")
    r = cli(project, "validate", "pipelines/p.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pipelines/p.yaml:2:13: tasks.x.pool: no pool 'warehouse' in no project file (pipe.yaml); " \
           "declared: none" in r.stderr, r.stderr
    (project / "pipe.yaml").write_text("pools:\n  warehouse: 2\n")
    write_pipeline("p", "tasks:\n  x: {pool: wharehouse, run: echo}\n  y:\n    pool: warehouse\n    pool_slots: 3\n"
                        "    run: echo\n")
    for args in (("validate", "pipelines/p.yaml"), ("run", "p")):
        r = cli(project, *args)
        assert r.returncode == 2, r.stdout
        assert ("pipelines/p.yaml:2:13: tasks.x.pool: no pool 'wharehouse' in the project file pipe.yaml; "
                "declared: warehouse (2); did you mean 'warehouse'?") in r.stderr, r.stderr
        assert "pipelines/p.yaml:5:17: tasks.y.pool_slots: 3 slots, but pool 'warehouse' has 2" in r.stderr
    assert not (project / ST / "p").exists() or not list((project / ST / "p").glob("runs/*"))
    write_pipeline("p", "tasks:\n  x: {pool_slots: 2, run: echo}\n")
    r = cli(project, "validate", "pipelines/p.yaml")
    assert r.returncode == 2 and "pool_slots" in r.stderr


def test_pools_without_a_project_file(project):
    r = cli(project, "pools")
    assert r.returncode == 0 and "no project file" in r.stdout
    assert json.loads(cli(project, "pools", "--json").stdout) == {"project_file": None, "pools": []}
