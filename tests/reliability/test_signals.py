"""Issue 7: SIGINT / SIGTERM to `pipe run` and task timeouts leave no process of the run behind."""
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

from conftest import clean_env

ST = "st"


def pipe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline_cli", "--state-dir", ST, "--pipelines-dir", "pipelines", *args]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


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
    """Three tasks, each with grandchildren; some ignore SIGTERM. Pids go to pids/."""
    pids = project / "pids"
    pids.mkdir()
    ignore = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    body = f"""
      trap '' TERM
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
    text = "name: stubborn\nconcurrency: 4\ntasks:\n"
    for tid in ("a", "b", "c"):
        text += f"  {tid}:{to}\n    run: |\n" + "".join(f"      {l.strip()}\n" for l in body.strip().splitlines())
    text += "  after:\n    run: touch {}/after-ran\n    deps: [a, b, c]\n".format(pids)
    (project / "pipelines" / "stubborn.yaml").write_text(text)
    return pids


def wait_ready(pids: Path, proc: subprocess.Popen, n: int = 3) -> None:
    end = time.monotonic() + 20
    while len(list(pids.glob("ready.*"))) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "tasks never got ready"
        time.sleep(0.02)
    time.sleep(0.2)      # the grandchildren have written their pids


def recorded(pids: Path) -> list[int]:
    return [int(x) for x in (pids / "all").read_text().split()]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_everything(project: Path, sig):
    marker = f"pipe-marker-{uuid.uuid4().hex}"
    pids = stubborn_pipeline(project, marker)
    proc = subprocess.Popen(pipe_cmd("run", "stubborn"), cwd=project, env=clean_env({"PIPE_KILL_GRACE": "1"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(pids, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, out + err
        assert "Traceback" not in err
        assert not leftovers(recorded(pids), marker), "processes of the run survived"
        assert not (pids / "after-ran").exists()
        r = subprocess.run(pipe_cmd("status", "stubborn", "--json"), cwd=project, env=clean_env(),
                           capture_output=True, text=True, timeout=60)
        doc = json.loads(r.stdout)["latest"]
        assert doc["state"] == "interrupted"
        assert {t: v["state"] for t, v in doc["tasks"].items() if t != "after"} == dict.fromkeys("abc", "failed")
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in with_marker(marker):
            os.kill(p, signal.SIGKILL)


def test_second_signal_kills_at_once(project: Path):
    marker = f"pipe-marker-{uuid.uuid4().hex}"
    pids = stubborn_pipeline(project, marker)
    proc = subprocess.Popen(pipe_cmd("run", "stubborn"), cwd=project, env=clean_env({"PIPE_KILL_GRACE": "30"}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(pids, proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
        assert time.monotonic() - t0 < 10
        assert proc.returncode == 130
        assert not leftovers(recorded(pids), marker)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in with_marker(marker):
            os.kill(p, signal.SIGKILL)


def test_timeout_kills_whole_group(project: Path):
    marker = f"pipe-marker-{uuid.uuid4().hex}"
    pids = stubborn_pipeline(project, marker, timeout="1s")
    env = clean_env({"PIPE_KILL_GRACE": "1"})
    t0 = time.monotonic()
    r = subprocess.run(pipe_cmd("run", "stubborn", "--json"), cwd=project, env=env, capture_output=True,
                       text=True, timeout=60)
    try:
        assert r.returncode == 1, r.stdout + r.stderr
        assert time.monotonic() - t0 < 15
        doc = json.loads(r.stdout)
        for tid in "abc":
            assert doc["tasks"][tid]["state"] == "failed"
            assert "timed out" in doc["tasks"][tid]["reason"]
        assert doc["tasks"]["after"]["state"] == "upstream_failed"
        assert not leftovers(recorded(pids), marker)
    finally:
        for p in with_marker(marker):
            os.kill(p, signal.SIGKILL)
