"""Start-up of `pipe tick` (nothing due) and `pipe run` (one `true` task): this tree against
another version of pipe, run alternately so that a busy machine slows both alike.

    git archive 5cf031a pipeline_cli schemas | tar -x -C /tmp/old
    cp /tmp/old/schemas/pipeline.schema.json /tmp/old/pipeline_cli/
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

    for label, path in versions.items():
        pipe(path, label, "tick", "--now", "2026-06-01T03:00:30+00:00")      # runs what is due, fills caches
    times: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for label, path in versions.items():
            times.setdefault(f"{label}: pipe tick (nothing due)", []).append(
                pipe(path, label, "tick", "--now", "2026-06-01T03:05:30+00:00"))
            times.setdefault(f"{label}: pipe run (one task)", []).append(pipe(path, label, "run", "noop.yaml"))
    print(f"load average: {os.getloadavg()}")
    for key in sorted(times, key=lambda k: (k.split(": ")[1], k)):
        v = times[key]
        print(f"{key}: median {statistics.median(v) * 1000:.0f} ms, min {min(v) * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
