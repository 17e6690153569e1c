"""Issue 7: pipe's memory stays flat whatever its tasks print, and with many tasks."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ST, clean_env, pipe_cmd, read_events
LIMIT_KB = 150 * 1024
# Runs pipe as a child and prints the largest RSS of its waited-for descendants (KiB on Linux):
# pipe itself, its tasks being small (head, true).
WRAPPER = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]).returncode; "
           "print(r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def measured(project: Path, *args: str, env: dict | None = None, timeout: float = 200) -> tuple[int, int]:
    r = subprocess.run([sys.executable, "-c", WRAPPER, *pipe_cmd(*args)], cwd=project, env=clean_env(env),
                       capture_output=True, text=True, timeout=timeout)
    code, rss = r.stdout.split()[-2:]
    return int(code), int(rss)


@pytest.mark.slow
@pytest.mark.parametrize("secrets", [False, True], ids=["plain", "redacted"])
def test_one_gigabyte_of_output(project: Path, secrets: bool):
    (project / "pipelines" / "loud.yaml").write_text(
        "name: loud\n" + ("secrets: [API_TOKEN]\n" if secrets else "")
        + "tasks:\n  loud: {run: 'head -c 1000000000 /dev/zero; echo; echo s3cr3t-value'}\n")
    code, rss = measured(project, "run", "loud", env={"API_TOKEN": "s3cr3t-value"})
    assert code == 0
    assert rss < LIMIT_KB, f"max RSS {rss} KiB"
    (log,) = (project / ST / "loud" / "runs").glob("*/logs/loud.1.log")
    assert log.stat().st_size >= 1_000_000_000
    with open(log, "rb") as f:
        f.seek(-64, 2)
        tail = f.read()
    assert tail.endswith(b"\n***\n" if secrets else b"\ns3cr3t-value\n"), tail
    log.unlink()     # a gigabyte: do not leave it to the end of the session


@pytest.mark.slow
def test_ten_thousand_tasks(project: Path):
    n = 10_000
    text = "name: many\nconcurrency: 2\ntasks:\n" + "".join(
        f"  t{i}: {{run: 'true'{', deps: [t' + str(i // 2) + ']' if i else ''}}}\n" for i in range(n))
    (project / "pipelines" / "many.yaml").write_text(text)
    code, rss = measured(project, "run", "many")
    assert code == 0
    assert rss < LIMIT_KB, f"max RSS {rss} KiB"
    (events,) = (project / ST / "many" / "runs").glob("*/events.jsonl")
    finished = [e for e in read_events(events) if e.get("state") == "succeeded"]
    assert len(finished) == n + 1 and finished[-1]["event"] == "run_finished"      # every task, then the run
