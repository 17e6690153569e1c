"""Issue 7: `pipe run` and `pipe tick` killed with SIGKILL at random moments."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import ST, cli, latest, read_events, start, states, status_json, wait_until


def write_chain(project: Path, name: str, n: int, seed: int, extra: str = "") -> Path:
    """n tasks, a few parallel branches; each appends its id and interval start, then sleeps 0.05-0.2 s."""
    rnd = random.Random(seed)
    log = project / "appends.txt"
    lines = [f"name: {name}", extra.strip(), "concurrency: 3", "tasks:"]
    for i in range(n):
        tid = f"t{i:02d}"
        lines.append(f"  {tid}:")
        lines.append(f"    run: echo {{{{ task }}}} {{{{ data_interval_start }}}} >> {log}; sleep {rnd.uniform(0.05, 0.2):.3f}")
        if i >= 3:
            deps = sorted({f"t{rnd.randrange(0, i):02d}" for _ in range(rnd.randint(1, 2))})
            lines.append(f"    deps: [{', '.join(deps)}]")
    path = project / "pipelines" / f"{name}.yaml"
    path.write_text("\n".join(l for l in lines if l) + "\n")
    return log


def appended(log: Path) -> Counter:
    if not log.exists():
        return Counter()
    return Counter(tuple(line.split()) for line in log.read_text().splitlines() if line.strip())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_run_killed_then_resumed(project: Path, seed: int):
    """SIGKILL at a random moment: readable state, shown as interrupted; resume finishes the same
    run without rerunning what succeeded, and with the outputs of the tasks it kept."""
    log = write_chain(project, "crash", 30, seed)
    with open(project / "pipelines" / "crash.yaml", "a") as f:      # an output used after the crash
        f.write(f"  use:\n    run: echo {{{{ tasks.t00.outputs.k }}}} >> {project}/use.out\n    deps: [t00, t29]\n")
    text = (project / "pipelines" / "crash.yaml").read_text()
    (project / "pipelines" / "crash.yaml").write_text(
        text.replace("  t00:\n    run: ", "  t00:\n    run: echo k=from-t00 >> $PIPE_OUTPUT; ", 1))
    proc = start(project, "run", "crash", env={"PIPE_KILL_GRACE": "1"}, stdout=subprocess.DEVNULL)
    # A random moment after the run has begun (the whole run takes ~2 s).
    wait_until(lambda: log.exists() or proc.poll() is not None, "the run to start a task")
    assert proc.poll() is None, proc.communicate()
    time.sleep(random.Random(seed).uniform(0.0, 1.2))
    proc.kill()
    proc.communicate(timeout=10)
    time.sleep(0.5)      # tasks it had started finish on their own (own sessions)

    runs = list((project / ST / "crash" / "runs").iterdir())
    assert len(runs) == 1
    read_events(runs[0] / "events.jsonl")
    doc = latest(project, "crash")
    assert doc["state"] == "interrupted"
    assert "interrupted" in cli(project, "status", "crash").stdout
    done_before = {t for t, s in states(doc).items() if s == "succeeded"}
    assert "use" not in done_before and len(done_before) < 31
    assert not {"failed", "upstream_failed"} & set(states(doc).values()), states(doc)
    before = appended(log)

    r = cli(project, "resume", "crash", "--json", env={"PIPE_KILL_GRACE": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["run_id"] == doc["run_id"] == runs[0].name
    assert list((project / ST / "crash" / "runs").iterdir()) == runs
    read_events(runs[0] / "events.jsonl")
    after = latest(project, "crash")
    assert after["state"] == "succeeded"
    assert set(states(after).values()) == set(states(out).values()) == {"succeeded"}
    assert (project / "use.out").read_text().split() == ["from-t00"]      # t00's output, kept or redone
    counts = Counter(tid for tid, _ in appended(log).elements())
    for i in range(30):
        tid = f"t{i:02d}"
        assert counts[tid] >= 1, f"{tid} never ran"
        if tid in done_before:
            assert counts[tid] == 1, f"{tid} had succeeded but ran again"
        elif counts[tid] > 1:
            # only a task that was running when pipe died may run twice
            assert before[next(k for k in before if k[0] == tid)] == 1


def _tick_pipeline(project: Path, seed: int) -> Path:
    return write_chain(project, "hourly", 6, seed, extra="""
schedule: "0 * * * *"
start_date: 2026-01-01T00:00:00
catchup: true
""")


@pytest.mark.parametrize("seed", [4, 5])
def test_tick_killed_then_next_tick(project: Path, seed: int):
    """SIGKILL to a tick (and its per-pipeline child) mid-run: the next tick resumes the
    interrupted interval in place, runs the rest once, and reruns no task that had succeeded."""
    log = _tick_pipeline(project, seed)
    now = "2026-01-01T03:30:00+00:00"       # three intervals due: 00, 01, 02
    env = {"PIPE_KILL_GRACE": "1"}
    proc = start(project, "tick", "--now", now, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                 start_new_session=True)
    wait_until(lambda: log.exists() or proc.poll() is not None, "tick to start a task")
    assert proc.poll() is None, "tick ended before it started a task"
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    os.killpg(proc.pid, signal.SIGKILL)      # tick and its per-pipeline child
    proc.wait(timeout=10)
    time.sleep(0.5)
    before = appended(log)
    done_before = set()
    for run in (project / ST / "hourly" / "runs").iterdir():
        if (run / "events.jsonl").exists():
            read_events(run / "events.jsonl")
    if (project / ST / "hourly" / "runs").exists():
        for run in status_json(project, "hourly")["pipelines"][0]["runs"]:
            done_before |= {(t, run["data_interval_start"]) for t, s in states(run).items() if s == "succeeded"}
    r = cli(project, "tick", "--now", now, env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    # Every interval has exactly one run that began, and it succeeded.
    started: dict[str, list[str]] = {}
    for run in (project / ST / "hourly" / "runs").iterdir():
        events = read_events(run / "events.jsonl") if (run / "events.jsonl").exists() else []
        begun = [e for e in events if e.get("event") == "run_started"]
        if begun:
            started.setdefault(begun[0]["interval_start"][:13], []).append(run.name)
            finished = [e for e in events if e.get("event") == "run_finished"]
            assert finished and finished[-1]["state"] == "succeeded", (run.name, finished)
    assert sorted(started) == ["2026-01-01T00", "2026-01-01T01", "2026-01-01T02"], started
    assert all(len(v) == 1 for v in started.values()), started
    runs = status_json(project, "hourly")["pipelines"][0]["runs"]
    assert sorted(r["run_id"] for r in runs) == sorted(v[0] for v in started.values())
    assert [r["state"] for r in runs] == ["succeeded"] * 3
    ledger = read_events(project / ST / "hourly" / "intervals.jsonl")
    assert len({e["start"] for e in ledger}) == len(ledger) == 3, ledger
    # Every task of every interval ran; one that had succeeded never ran again, and only one
    # that was running when tick died ran twice.
    counts = appended(log)
    intervals = [f"2026-01-01T0{h}:00:00+00:00" for h in range(3)]
    for i in range(6):
        for start_ in intervals:
            key = (f"t{i:02d}", start_)
            assert 1 <= counts[key] <= 2, (key, counts[key])
            if key in done_before:
                assert counts[key] == 1, f"{key} had succeeded but ran again"
            elif counts[key] == 2:
                assert before[key] == 1, key
    assert sum(counts.values()) == sum(counts[(f"t{i:02d}", s)] for i in range(6) for s in intervals)
    # A third tick at the same time has nothing to do.
    r = cli(project, "tick", "--now", now, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert appended(log) == counts


# -- a pipe killed with SIGKILL: its tasks do not run on without it -----------------------------------

def _processes() -> list[tuple[int, int, int, str]]:
    """(pid, ppid, pgid, command line) of every live process."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] not in (b"Z", b"X"):
            found.append((int(name), int(fields[1]), int(fields[2]), cmdline))
    return found


def _group_alive(pgid: int) -> bool:
    return any(g == pgid for _, _, g, _ in _processes())


def test_sigkilled_pipe_leaves_no_task_running_and_says_so_until_they_are_gone(project: Path):
    folder = project / "pipelines"
    (folder / "left.yaml").write_text(
        "name: left\n"
        "tasks:\n"
        "  stubborn:\n"        # ignores SIGTERM: only the SIGKILL at the end of the grace stops it
        "    run: \"trap '' TERM; echo $$ > stubborn.pid; while [ ! -e stop ]; do echo line; sleep 0.05; done\"\n"
        "  polite:\n"
        "    run: \"echo $$ > polite.pid; while [ ! -e stop ]; do echo line; sleep 0.05; done\"\n")
    proc = start(project, "run", "left", env={"PIPE_KILL_GRACE": "1"}, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: (folder / "stubborn.pid").exists() and (folder / "polite.pid").exists()
                   and states(latest(project, "left")) == {"stubborn": "running", "polite": "running"},
                   "both tasks to run")
        watchers = [pid for pid, ppid, _, cmd in _processes() if ppid == proc.pid and "watcher.py" in cmd]
        assert len(watchers) == 1, _processes()          # one watcher for the run, not one per task
        watcher = watchers[0]
        os.kill(watcher, signal.SIGSTOP)                 # held, so that the leftovers can be seen
    finally:
        proc.kill()
        proc.wait(timeout=10)
    groups = {t: int((folder / f"{t}.pid").read_text()) for t in ("stubborn", "polite")}
    try:
        doc = latest(project, "left")
        assert doc["state"] == "interrupted"
        for task, pgid in groups.items():           # still running, with their pid, until they are gone
            assert doc["tasks"][task]["state"] == "running", doc["tasks"][task]
            assert doc["tasks"][task]["pid"] == pgid
            assert f"process group {pgid} is still running" in doc["tasks"][task]["reason"]
        assert f"process group {groups['stubborn']} is still running" in cli(project, "status", "left").stdout
        log = next((project / ST / "left" / "runs").iterdir()) / "logs" / "stubborn.1.log"
        size = log.stat().st_size
        wait_until(lambda: log.stat().st_size > size, "the leftover to go on writing its log")
    finally:
        os.kill(watcher, signal.SIGCONT)
    # Without pipe, the watcher stops both: SIGTERM, then SIGKILL for the one that ignores it.
    wait_until(lambda: not any(_group_alive(g) for g in groups.values()), "the leftovers to be stopped")
    wait_until(lambda: not any(pid == watcher for pid, *_ in _processes()), "the watcher to exit")
    doc = latest(project, "left")
    assert states(doc) == {"stubborn": "cancelled", "polite": "cancelled"}
    assert all(t["pid"] is None for t in doc["tasks"].values())
    size = log.stat().st_size                 # nothing is left to write to it
    (folder / "stop").touch()
    r = cli(project, "resume", "left")
    assert r.returncode == 0, r.stderr
    assert states(latest(project, "left")) == {"stubborn": "succeeded", "polite": "succeeded"}
    assert log.stat().st_size == size


def test_a_run_that_ends_leaves_no_watcher(project: Path):
    (project / "pipelines" / "quick.yaml").write_text("name: quick\ntasks:\n  a: {run: \"true\"}\n")
    assert cli(project, "run", "quick").returncode == 0
    events = str(next((project / ST / "quick" / "runs").iterdir()) / "events.jsonl")
    wait_until(lambda: not any(events in cmd for *_, cmd in _processes()), "the run's watcher to exit")
