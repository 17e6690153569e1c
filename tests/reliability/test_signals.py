"""Issue 7: SIGINT / SIGTERM to `pipe run` and task timeouts leave no process of the run behind.

The end-to-end tests of signals and timeouts live here (and only here): each stops tasks
whose leader or grandchildren ignore SIGTERM, and looks for survivors both by the pids the
tasks wrote and by a marker on the command line of the processes they started.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ST, alive, cli, latest, read_events, start, states, task_reached, wait_until

STUBBORN = "abc"     # leader traps SIGTERM; so do some grandchildren
PLAIN = "d"          # leader dies of SIGTERM at once; a grandchild ignores it


def with_marker(marker: str) -> list[int]:
    """Live processes whose command line holds the marker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd and alive(int(entry)):
            found.append(int(entry))
    return found


def leftovers(pids: list[int], marker: str, limit: float = 3.0) -> list[int]:
    end = time.monotonic() + limit
    while True:
        left = [p for p in pids if alive(p)] + with_marker(marker)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.05)


def stubborn_pipeline(project: Path, marker: str, timeout: str | None = None) -> Path:
    """`first`, then four long tasks with grandchildren (`a`, `b`, `c` ignore SIGTERM, `d`'s
    leader does not), then `after`; `other` stands alone. Pids go to pids/."""
    pids = project / "pids"
    pids.mkdir()
    ignore = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    body = f"""
      echo $$ >> {pids}/all
      {sys.executable} -c '{ignore}' {marker} &
      echo $! >> {pids}/all
      sleep 120 &
      echo $! >> {pids}/all
      sh -c 'trap "" TERM; sleep 120 & echo $! >> {pids}/all; wait' &
      echo $! >> {pids}/all
      touch {pids}/ready.$PIPE_TASK
      wait
"""
    to = f"\n    timeout: {timeout}" if timeout else ""
    text = f"name: stubborn\nconcurrency: 5\ntasks:\n  first:\n    run: echo first >> {pids}/first.count\n"
    for tid in STUBBORN + PLAIN:
        lines = body.strip().splitlines()
        if tid in STUBBORN:
            lines.insert(0, "trap '' TERM")
        text += f"  {tid}:{to}\n    deps: [first]\n    run: |\n" + "".join(f"      {l.strip()}\n" for l in lines)
    text += f"  after:\n    run: touch {pids}/after-ran\n    deps: [a, b, c, d]\n"
    text += "  other:\n    run: echo fine\n"
    (project / "pipelines" / "stubborn.yaml").write_text(text)
    return pids


def wait_ready(pids: Path, proc: subprocess.Popen) -> None:
    n = len(STUBBORN + PLAIN)
    wait_until(lambda: len(list(pids.glob("ready.*"))) == n or proc.poll() is not None, "tasks to get ready")
    assert proc.poll() is None, proc.communicate()
    time.sleep(0.2)      # the grandchildren have written their pids


def recorded(pids: Path) -> list[int]:
    return [int(x) for x in (pids / "all").read_text().split()]


@pytest.fixture
def marker():
    marker = f"pipe-marker-{uuid.uuid4().hex}"
    yield marker
    for p in with_marker(marker):        # a failed test leaves nothing behind either
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_everything(project: Path, marker: str, sig):
    """Ctrl-C / SIGTERM: every process of the run ends, the run is interrupted (exit 130),
    its stopped tasks are cancelled, and resume reruns them but not what succeeded."""
    pids = stubborn_pipeline(project, marker)
    proc = start(project, "run", "stubborn", env={"PIPE_KILL_GRACE": "1"})
    try:
        wait_ready(pids, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert not leftovers(recorded(pids), marker), "processes of the run survived"
    assert not (pids / "after-ran").exists()
    doc = latest(project, "stubborn")
    assert doc["state"] == "interrupted"
    assert states(doc) == {"first": "succeeded", "other": "succeeded", "after": "pending",
                           **dict.fromkeys(STUBBORN + PLAIN, "cancelled")}
    for tid in STUBBORN + PLAIN:
        assert doc["tasks"][tid]["reason"] == f"interrupted by {signal.Signals(sig).name}"
    events = read_events(project / ST / "stubborn" / "runs" / doc["run_id"] / "events.jsonl")
    assert events[-1]["event"] == "run_finished" and events[-1]["state"] == "interrupted"

    # resume reruns the cancelled tasks and the one never started (quick now), not `first`
    text = (project / "pipelines" / "stubborn.yaml").read_text()
    quick = "name: stubborn\ntasks:\n  first:\n    run: echo first >> {0}/first.count\n" \
            "  after:\n    run: touch {0}/after-ran\n    deps: [a, b, c, d]\n  other:\n    run: echo fine\n" \
        .format(pids) + "".join(f"  {tid}:\n    run: 'true'\n    deps: [first]\n" for tid in STUBBORN + PLAIN)
    assert "first.count" in text
    (project / "pipelines" / "stubborn.yaml").write_text(quick)
    r = cli(project, "resume", "stubborn")
    assert r.returncode == 0, r.stdout + r.stderr
    after = latest(project, "stubborn")
    assert after["run_id"] == doc["run_id"] and after["state"] == "succeeded"
    assert set(states(after).values()) == {"succeeded"}
    assert (pids / "first.count").read_text().split() == ["first"]
    assert (pids / "after-ran").exists()


def test_second_signal_kills_at_once(project: Path, marker: str):
    """A second Ctrl-C does not wait out the grace period (30 s here) of tasks that ignore SIGTERM."""
    pids = stubborn_pipeline(project, marker)
    proc = start(project, "run", "stubborn", env={"PIPE_KILL_GRACE": "30"})
    try:
        wait_ready(pids, proc)
        proc.send_signal(signal.SIGINT)
        # The first signal is taken: d, whose leader does not ignore SIGTERM, is cancelled...
        wait_until(lambda: task_reached(project / ST, "stubborn", "d", "cancelled"), "the first Ctrl-C to stop d")
        assert proc.poll() is None          # ...and pipe waits within the grace period of the stubborn tasks
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)      # well within the 30 s grace
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert not leftovers(recorded(pids), marker)
    doc = latest(project, "stubborn")
    assert doc["state"] == "interrupted"
    assert {t: s for t, s in states(doc).items() if t in STUBBORN + PLAIN} == \
        dict.fromkeys(STUBBORN + PLAIN, "cancelled")


def test_timeout_kills_whole_group(project: Path, marker: str):
    """A task's timeout kills its whole process group, leader and grandchildren, whether they
    ignore SIGTERM or not; the task fails, its downstream is upstream_failed, the rest goes on."""
    pids = stubborn_pipeline(project, marker, timeout="1s")
    r = cli(project, "run", "stubborn", "--json", env={"PIPE_KILL_GRACE": "1"}, timeout=60)
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    for tid in STUBBORN + PLAIN:
        assert doc["tasks"][tid]["state"] == "failed"
        assert "timed out" in doc["tasks"][tid]["reason"]
    assert doc["tasks"]["after"]["state"] == "upstream_failed"
    assert doc["tasks"]["first"]["state"] == doc["tasks"]["other"]["state"] == "succeeded"
    assert not leftovers(recorded(pids), marker)
