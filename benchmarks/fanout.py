#!/usr/bin/env python3
"""Fan-out against plain tasks: a 2,000-instance `foreach` of `true` beside 2,000 plain
`true` tasks (the same shape: a root, the 2,000, a sink), and the peak memory of a
10,000-instance run.

    python benchmarks/fanout.py [--rounds N]

Each round runs both, alternately, in fresh state folders; medians. Peak RSS is pipe's own
(ru_maxrss of the child, waited with os.wait4), not its tasks'.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN = "concurrency: 2\ntasks:\n  root: {run: 'true'}\n" + "".join(
    f"  t{i}: {{run: 'true', deps: [root]}}\n" for i in range(2000)) + \
    "  sink: {run: 'true', deps: [" + ", ".join(f"t{i}" for i in range(2000)) + "]}\n"
FANOUT = ("concurrency: 2\ntasks:\n  root: {run: 'true'}\n"
          "  each: {run: 'true', deps: [root], foreach: \"{{ range(%d) | list }}\"}\n"
          "  sink: {run: 'true', deps: [each]}\n")


def run_pipe(folder: Path, text: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `pipe run` of `text`."""
    path = folder / "p.yaml"
    path.write_text(text)
    env = dict(os.environ)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", str(folder / ".pipe"), "run",
                             str(path)], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert os.waitstatus_to_exitcode(status) == 0, "the run failed"
    return wall, usage.ru_maxrss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    rounds = ap.parse_args().rounds
    plain, fan = [], []
    for _ in range(rounds):
        for text, into in ((PLAIN, plain), (FANOUT % 2000, fan)):
            with tempfile.TemporaryDirectory() as tmp:
                into.append(run_pipe(Path(tmp), text)[0])
    with tempfile.TemporaryDirectory() as tmp:
        wall10k, rss10k = run_pipe(Path(tmp), FANOUT % 10000)
    p, f = statistics.median(plain), statistics.median(fan)
    print("| workload | median wall | target | result |\n|---|---:|---|---|")
    print(f"| 2,000 plain `true` tasks | {p:.2f} s | | |")
    print(f"| foreach over 2,000 items of `true` | {f:.2f} s | ≤ 1.2x plain | {f / p:.2f}x: "
          f"{'met' if f / p <= 1.2 else 'NOT met'} |")
    print(f"| foreach over 10,000 items: peak RSS of pipe | {rss10k / 1024:.0f} MB ({wall10k:.1f} s) | < 150 MB | "
          f"{'met' if rss10k / 1024 < 150 else 'NOT met'} |")
    print(f"\n{rounds} rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average at the end "
          f"{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
