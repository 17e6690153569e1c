#!/usr/bin/env python3
"""Benchmark `pipe serve` on a big history.

    python benchmarks/web_bench.py [--pipelines 50] [--runs 20000] [--big-tasks 10000] [--rounds 20]
                                   [--keep DIR]

Generates a project in a temporary folder: PIPELINES hourly pipelines of 10 tasks each and
RUNS finished runs spread evenly over them (event logs and interval ledgers written as pipe
writes them, the latest run for the hour that ended last), plus one unscheduled pipeline
`big` of BIG_TASKS independent tasks with one finished run. Then starts the
real `pipe serve` (python -m pipeline_cli serve --port 0) and asks, in turn, ROUNDS times
each: the overview, one pipeline's grid, the big run's page, /api/pipelines. The first
answer of each page (cold: nothing parsed yet) is reported apart; the rest are warm.
Times are the server's own (its Server-Timing header) and the client's (wall, loopback).
The server's resident memory (VmRSS, and its peak VmHWM) is read at the end.

Targets (issue 24, "the web UI as the place a team watches and steers its pipelines"):
overview and grid < 100 ms warm on the server, the 10,000-task run page < 250 ms, server
RSS < 200 MB (earlier, issue "The webserver": 200 ms, 1 s).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TASKS = [f"step_{i}" for i in range(10)]


def pipeline_yaml(name: str, tasks: list[str], chain: bool, schedule: bool = True) -> str:
    lines = [f"name: {name}", *(["schedule: \"@hourly\""] if schedule else []),
             "description: generated for the web benchmark", "tasks:"]
    for i, t in enumerate(tasks):
        lines.append(f"  {t}:")
        lines.append("    run: \"true\"")
        if chain and i:
            lines.append(f"    deps: [{tasks[i - 1]}]")
    return "\n".join(lines) + "\n"


def write_run(runs_dir: Path, name: str, when: datetime, tasks: list[str], n: int, failed: bool) -> str:
    run_id = f"{when:%Y%m%dT%H%M%S}{when.microsecond // 1000:03d}Z-scheduled-{n % 65536:04x}"
    run_dir = runs_dir / run_id
    (run_dir / "logs").mkdir(parents=True)
    t0 = when
    out = [{"event": "run_started", "time": t0.isoformat(), "format": 1, "run_id": run_id, "pipeline": name,
            "file": None, "kind": "scheduled", "logical_date": (t0 - timedelta(hours=1)).isoformat(),
            "interval_start": (t0 - timedelta(hours=1)).isoformat(), "interval_end": t0.isoformat(),
            "params": {}, "tasks": tasks, "executor": "local", "pid": 1, "pid_start": "1", "host": "bench"}]
    for i, t in enumerate(tasks):
        s = t0 + timedelta(milliseconds=i)
        e = s + timedelta(milliseconds=5)
        bad = failed and i == len(tasks) - 1
        out.append({"event": "task", "time": s.isoformat(), "task": t, "state": "running", "attempt": 1,
                    "worker": "local"})
        out.append({"event": "task", "time": e.isoformat(), "task": t, "state": "failed" if bad else "succeeded",
                    "attempt": 1, "duration": 0.005, "worker": "local", "exit_code": 1 if bad else 0,
                    **({"reason": "exit code 1"} if bad else {"outputs": {}})})
    out.append({"event": "run_finished", "time": (t0 + timedelta(seconds=1)).isoformat(),
                "state": "failed" if failed else "succeeded", "counts": {}})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in out))
    return run_id


def ledger_line(when: datetime, run_id: str) -> str:
    """The interval ledger's record of a scheduled run (as tick claims it), so that the
    pipeline is up to date: its next due time is the end of the running hour."""
    start, end = when - timedelta(hours=1), when
    return json.dumps({"event": "interval", "time": when.isoformat(), "start": start.replace(microsecond=0).isoformat(),
                       "end": end.replace(microsecond=0).isoformat(), "run_id": run_id, "kind": "scheduled"}) + "\n"


def generate(root: Path, pipelines: int, runs: int, big_tasks: int) -> tuple[str, str]:
    (root / "pipelines").mkdir(parents=True)
    state = root / ".pipe"
    per = runs // pipelines
    # Hourly runs, the last one for the hour that ended last: a history tick keeps up to date.
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=per - 1)
    n = 0
    for p in range(pipelines):
        name = f"pipeline-{p:02d}"
        (root / "pipelines" / f"{name}.yaml").write_text(pipeline_yaml(name, TASKS, chain=True))
        runs_dir = state / name / "runs"
        ledger = []
        for r in range(per):
            when = start + timedelta(hours=r)
            run_id = write_run(runs_dir, name, when + timedelta(milliseconds=p), TASKS, n, failed=(r % 17 == 5))
            ledger.append(ledger_line(when, run_id))
            n += 1
        (state / name / "intervals.jsonl").write_text("".join(ledger))
    big = [f"t{i:05d}" for i in range(big_tasks)]
    (root / "pipelines" / "big.yaml").write_text(pipeline_yaml("big", big, chain=False, schedule=False))
    write_run(state / "big" / "runs", "big", start + timedelta(hours=per - 1, minutes=1), big, n, failed=False)
    big_run = sorted(os.listdir(state / "big" / "runs"))[-1]
    return "pipeline-07", big_run


def serve(root: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_")}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "serve", "--port", "0"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    m = re.search(r"http://\S+?/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"pipe serve did not start: {line}{proc.stdout.read()}")
    return proc, m.group(0).rstrip("/")


def memory(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """The process's user and system time so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live_cost(url: str, pid: int, pages: dict, seconds: float) -> float:
    """The server's CPU, in % of one core, while four pages keep their event streams open:
    the overview, two pipelines' grids and the big run's page, as four browser tabs would
    (each /live URL is the one the page itself names). The big run has finished: its stream
    says `done` and ends, as it does in a browser."""
    import threading

    paths = [p for label, p in pages.items() if not label.startswith("api")] + ["/pipelines/pipeline-01"]
    with httpx.Client(base_url=url, timeout=60) as http:
        streams = []
        for path in paths[:4]:
            page = http.get(path)
            assert page.status_code == 200, (path, page.status_code)
            found = re.search(r'data-sse="([^"]+)"', page.text)
            if found:
                streams.append(found.group(1).replace("&amp;", "&"))
    stop = threading.Event()

    def follow(live: str) -> None:
        try:
            with httpx.Client(base_url=url, timeout=None) as http:
                with http.stream("GET", live) as r:
                    for _ in r.iter_bytes():
                        if stop.is_set():
                            return
        except httpx.HTTPError:         # the server stopped at the end
            pass

    threads = [threading.Thread(target=follow, args=(s,), daemon=True) for s in streams]
    for t in threads:
        t.start()
    time.sleep(2)                     # connected, first looks done
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, wall = cpu_seconds(pid) - before, time.monotonic() - t0
    stop.set()
    print(f"({len(streams)} streams open: {', '.join(s.split('?')[1][:40] for s in streams)})")
    return 100 * used / wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipelines", type=int, default=50)
    ap.add_argument("--runs", type=int, default=20000)
    ap.add_argument("--big-tasks", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keep", help="generate into this folder and keep it")
    ap.add_argument("--live-seconds", type=float, default=20.0, help="how long four pages' event streams are held open")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pipe-web-bench-"))
    try:
        t = time.perf_counter()
        grid_name, big_run = generate(root, args.pipelines, args.runs, args.big_tasks)
        print(f"generated {args.pipelines} pipelines, {args.runs} runs and a {args.big_tasks}-task run "
              f"in {time.perf_counter() - t:.1f} s ({root})")
        proc, url = serve(root)
        pages = {"overview": "/", "grid": f"/pipelines/{grid_name}",
                 f"run page ({args.big_tasks} tasks)": f"/pipelines/big/runs/{big_run}",
                 "api/pipelines": "/api/pipelines"}
        results: dict[str, dict] = {k: {"server": [], "wall": []} for k in pages}
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                for rnd in range(args.rounds + 1):
                    for label, path in pages.items():
                        t = time.perf_counter()
                        r = http.get(path)
                        wall = (time.perf_counter() - t) * 1000
                        assert r.status_code == 200, (path, r.status_code)
                        server = float(r.headers["server-timing"].split("dur=")[1])
                        if rnd == 0:
                            results[label]["cold"] = (server, wall, len(r.content))
                        else:
                            results[label]["server"].append(server)
                            results[label]["wall"].append(wall)
            live_cpu = live_cost(url, proc.pid, pages, args.live_seconds)
            rss, peak = memory(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
        print(f"\n{'page':28} {'cold server':>12} {'warm server median':>19} {'p95':>8} {'warm wall median':>17} {'size':>9}")
        for label, res in results.items():
            srv, wall = sorted(res["server"]), sorted(res["wall"])
            p95 = srv[min(len(srv) - 1, int(len(srv) * 0.95))]
            cold = res["cold"]
            print(f"{label:28} {cold[0]:>9.0f} ms {statistics.median(srv):>16.1f} ms {p95:>5.1f} ms "
                  f"{statistics.median(wall):>14.1f} ms {cold[2] / 1024:>6.0f} KB")
        print(f"\nserver memory at the end: RSS {rss:.0f} MB, peak {peak:.0f} MB")
        print(f"live updates of four open pages (their event streams, nothing changing) for {args.live_seconds:.0f} s: "
              f"{live_cpu:.1f}% of a core (target < 5%)")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
