"""Start-up of `pipe tick` (nothing due, 20 scheduled pipelines), `pipe run` (one `true`
task) and `pipe --version`: this tree against another version of pipe, and against the
floor of `python -c "import typer, rich, yaml, jsonschema, croniter"` (what a CLI on these
libraries would pay if it imported them all), run alternately so that a busy machine slows
all alike.

    git archive HEAD~1 pipeline_cli schemas | tar -x -C /tmp/old
    python benchmarks/startup.py --old /tmp/old --rounds 30

Both run with this interpreter, with bytecode caches (in a private PYTHONPYCACHEPREFIX).
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

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = 'schedule: "0 3 * * *"\nstart_date: 2026-01-01\ntasks:\n  a:\n    run: "true"\n  b:\n    run: "true"\n    deps: [a]\n'


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, help="a folder holding another pipeline_cli package")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    project = Path(tempfile.mkdtemp())
    cache = Path(tempfile.mkdtemp())
    (project / "pipelines").mkdir()
    for i in range(20):
        (project / "pipelines" / f"p{i}.yaml").write_text(PIPELINE)
    (project / "noop.yaml").write_text('tasks:\n  t0:\n    run: "true"\n')
    versions = {"before": args.old, "after": str(ROOT)}

    def pipe(path: str, label: str, *argv: str) -> float:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_") and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=path, PYTHONPYCACHEPREFIX=str(cache / label))
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", f".pipe-{label}", *argv],
                           cwd=project, env=env, capture_output=True)
        took = time.perf_counter() - t
        if r.returncode != 0:
            raise SystemExit(f"{label} {argv}: exit {r.returncode}\n{r.stderr.decode()[-800:]}")
        return took

    def floor() -> float:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPYCACHEPREFIX=str(cache / "floor"))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import typer, rich, yaml, jsonschema, croniter"], env=env, check=True)
        return time.perf_counter() - t

    for label, path in versions.items():
        pipe(path, label, "tick", "--now", "2026-06-01T03:00:30+00:00")      # runs what is due, fills caches
    floor()
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        times.setdefault("floor: import typer, rich, yaml, jsonschema, croniter", []).append(floor())
        for label, path in versions.items():
            times.setdefault(f"{label}: pipe tick (nothing due)", []).append(
                pipe(path, label, "tick", "--now", "2026-06-01T03:05:30+00:00"))
            times.setdefault(f"{label}: pipe run (one task)", []).append(pipe(path, label, "run", "noop.yaml"))
            times.setdefault(f"{label}: pipe --version", []).append(pipe(path, label, "--version"))
    print(f"load average: {os.getloadavg()}")
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians["floor: import typer, rich, yaml, jsonschema, croniter"]
    for key in sorted(times, key=lambda k: (k.split(": ")[1], k)):
        v = times[key]
        print(f"{key}: median {medians[key] * 1000:.0f} ms, min {min(v) * 1000:.0f} ms "
              f"({medians[key] / base:.2f}x the floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
