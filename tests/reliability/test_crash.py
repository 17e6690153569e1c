"""Issue 7: `pipe run` and `pipe tick` killed with SIGKILL at random moments."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import clean_env

ST = "st"


def pipe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline_cli", "--state-dir", ST, "--pipelines-dir", "pipelines", *args]


def check_events(path: Path) -> list[dict]:
    """Every line parses, except possibly a torn last one."""
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(json.loads(line))
        except ValueError:
            assert i == len(lines) - 1, f"{path}: line {i + 1} of {len(lines)} is garbled: {line[:100]!r}"
    return events


def write_chain(project: Path, name: str, n: int, seed: int, extra: str = "") -> Path:
    """n tasks, a few parallel branches; each appends its id then sleeps 0.05-0.2 s."""
    rnd = random.Random(seed)
    log = project / "appends.txt"
    lines = [f"name: {name}", extra.strip(), "concurrency: 3", "tasks:"]
    for i in range(n):
        tid = f"t{i:02d}"
        lines.append(f"  {tid}:")
        lines.append(f"    run: echo {{{{ task }}}} {{{{ ds }}}} >> {log}; sleep {rnd.uniform(0.05, 0.2):.3f}")
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


def status_json(project: Path, name: str) -> dict:
    r = subprocess.run(pipe_cmd("status", name, "--json"), cwd=project, env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_run_killed_then_resumed(project: Path, seed: int):
    log = write_chain(project, "crash", 30, seed)
    env = clean_env({"PIPE_KILL_GRACE": "1"})
    proc = subprocess.Popen(pipe_cmd("run", "crash"), cwd=project, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    # A random moment after the run has begun (the whole run takes ~2 s).
    deadline = time.monotonic() + 20
    while not log.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started"
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 1.2))
    proc.kill()
    proc.wait(timeout=10)
    proc.stderr.close()
    time.sleep(0.5)      # tasks it had started finish on their own (own sessions)

    runs = list((project / ST / "crash" / "runs").iterdir())
    assert len(runs) == 1
    check_events(runs[0] / "events.jsonl")
    doc = status_json(project, "crash")["latest"]
    assert doc["state"] == "interrupted"
    done_before = {t for t, v in doc["tasks"].items() if v["state"] == "succeeded"}
    before = appended(log)
    assert len(done_before) < 30

    r = subprocess.run(pipe_cmd("resume", "crash"), cwd=project, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    check_events(runs[0] / "events.jsonl")
    after = status_json(project, "crash")["latest"]
    assert after["state"] == "succeeded"
    assert all(v["state"] == "succeeded" for v in after["tasks"].values())
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
    log = _tick_pipeline(project, seed)
    now = "2026-01-01T03:30:00+00:00"       # three intervals due: 00, 01, 02
    env = clean_env({"PIPE_KILL_GRACE": "1"})
    proc = subprocess.Popen(pipe_cmd("tick", "--now", now), cwd=project, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 20
    while not log.exists():
        assert time.monotonic() < deadline and proc.poll() is None, "tick never started a task"
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0.0, 1.5))
    os.killpg(proc.pid, signal.SIGKILL)      # tick and its per-pipeline child
    proc.wait(timeout=10)
    time.sleep(0.5)
    before = appended(log)
    for run in (project / ST / "hourly" / "runs").iterdir():
        if (run / "events.jsonl").exists():
            check_events(run / "events.jsonl")
    r = subprocess.run(pipe_cmd("tick", "--now", now), cwd=project, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr

    # Every interval has exactly one run that began, and it succeeded.
    started: dict[str, list[str]] = {}
    for run in (project / ST / "hourly" / "runs").iterdir():
        events = check_events(run / "events.jsonl") if (run / "events.jsonl").exists() else []
        begun = [e for e in events if e.get("event") == "run_started"]
        if begun:
            started.setdefault(begun[0]["interval_start"][:13], []).append(run.name)
            finished = [e for e in events if e.get("event") == "run_finished"]
            assert finished and finished[-1]["state"] == "succeeded", (run.name, finished)
    assert sorted(started) == ["2026-01-01T00", "2026-01-01T01", "2026-01-01T02"], started
    assert all(len(v) == 1 for v in started.values()), started
    # Every task of every interval ran; a task that had finished never ran again.
    counts = appended(log)
    per_task = Counter(tid for tid, _ in counts.elements())
    for i in range(6):
        tid = f"t{i:02d}"
        assert per_task[tid] >= 3, f"{tid} ran {per_task[tid]} times for 3 intervals"
        extra = per_task[tid] - 3
        assert extra <= 1, f"{tid} ran {per_task[tid]} times for 3 intervals"
    # A third tick at the same time has nothing to do.
    r = subprocess.run(pipe_cmd("tick", "--now", now), cwd=project, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    assert appended(log) == counts
