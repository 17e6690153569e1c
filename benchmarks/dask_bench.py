"""The Dask executor's costs, next to the local executor, on 127.0.0.1.

    .venv/bin/python benchmarks/dask_bench.py [--rounds 3] [--only chain-200,wide-500,...]

Starts one `dask scheduler` and two `dask worker` processes (8 threads each, their nannies
as usual) on 127.0.0.1, then times `pipe run` of each workload with `--executor local`
and with `--executor dask` (the best of --rounds), in a fresh state folder each time:

- chain-200: 200 `true` tasks, each depending on the one before (per-task latency);
- wide-500: 500 independent `true` tasks (throughput; concurrency 16 on both executors);
- sleep-64: 64 tasks of `sleep 1` on 2 workers x 8 threads (ideal: 4 s);
- output-1g: one task printing 1 GiB (`yes | head -c 1G`), streamed into its log on pipe's
  side: MB/s, and the peak resident memory of pipe, the workers and the scheduler.
- inflight-1000: 1,000 tasks of `sleep 600` handed to Dask at once (concurrency 1000; 16
  run, the rest wait in Dask), against 16 in flight (concurrency 16): the scheduler's CPU
  (% of one core) and resident memory over 10 s once all are handed over, then Ctrl-C.

Beside chain-200 and wide-500, the floor: plain Dask doing the same work on the same
cluster in the same run, from a fresh process as `pipe run` is (import distributed, connect
a Client, batch its messages for 2 ms as pipe does, then `subprocess.run(["true"])` as one
Dask task per step: the chain submits each once the one before has its result, as pipe
does; the wide one submits all 500 at once and gathers them). The ratio pipe / floor is the goal of issue 26 (at most 1.5x).

The environment selects the executor (PIPE_EXECUTOR, PIPE_DASK_SCHEDULER), as cron would.
Prints a Markdown table (the README's "Running on a cluster" section quotes it).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DASK = str(Path(PY).with_name("dask"))


def workloads() -> dict[str, tuple[str, int, float | None]]:
    """name -> (pipeline YAML, tasks, ideal wall time)."""
    chain = ["concurrency: 16", "tasks:"] + [
        f"  t{i}: {{run: 'true'{', deps: [t%d]' % (i - 1) if i else ''}}}" for i in range(200)]
    wide = ["concurrency: 16", "tasks:"] + [f"  t{i}: {{run: 'true'}}" for i in range(500)]
    sleeps = ["concurrency: 16", "tasks:"] + [f"  t{i}: {{run: 'sleep 1'}}" for i in range(64)]
    output = ["tasks:", "  big: {run: 'yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 1073741824'}"]
    return {"chain-200": ("\n".join(chain) + "\n", 200, None),
            "wide-500": ("\n".join(wide) + "\n", 500, None),
            "sleep-64": ("\n".join(sleeps) + "\n", 64, 4.0),
            "output-1g": ("\n".join(output) + "\n", 1, None),
            "inflight-1000": ("", 1000, None)}


FLOOR = """\
import subprocess
import sys

from distributed import Client


def true(i):
    subprocess.run(["true"], check=True)
    return i


if __name__ == "__main__":
    address, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Client(address, timeout=30, set_as_default=False) as client:
        client.scheduler_comm.interval = 0.002      # the client's batching, as pipe sets it (default 10 ms)
        if kind == "chain":
            for i in range(n):
                client.submit(true, i, pure=False).result()
        elif kind == "wide":
            client.gather([client.submit(true, i, pure=False) for i in range(n)])
        else:                  # hold: n long tasks handed to Dask, until this process is killed
            held = [client.submit(subprocess.run, ["sleep", "600"], pure=False) for i in range(n)]
            print("submitted", flush=True)
            sys.stdin.read()
"""


def floor_once(address: str, kind: str, n: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="pipe-dask-floor-"))
    (folder / "floor.py").write_text(FLOOR)
    t0 = time.perf_counter()
    subprocess.run([PY, str(folder / "floor.py"), address, kind, str(n)], check=True, env=env(), cwd=folder)
    wall = time.perf_counter() - t0
    shutil.rmtree(folder, ignore_errors=True)
    return wall


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(extra: dict | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PIPE_", "DASK_"))}
    e.update(NO_COLOR="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    e.update(extra or {})
    return e


class Cluster:
    def __init__(self, folder: Path, threads: int = 8, saturation: str = "1.0"):
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        # As the README advises for pipe: no attempt queued on a busy worker while a thread is
        # free on another (Dask's default 1.1 lets a worker of 8 threads take 9 tasks).
        self.procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env=env({"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": saturation}),
                                       start_new_session=True)]
        time.sleep(1)
        for name in ("w1", "w2"):
            self.procs.append(subprocess.Popen(
                [DASK, "worker", self.address, "--name", name, "--nthreads", str(threads), "--host", "127.0.0.1",
                 "--no-dashboard", "--memory-limit", "0", "--local-directory", str(folder / name)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(), start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
            self.worker_pids = list(c.run(os.getpid).values())
            self.scheduler_pid = c.run_on_scheduler(os.getpid)

    def stop(self) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Peak(threading.Thread):
    """Samples the resident memory of some processes every 0.1 s; keeps each one's peak."""

    def __init__(self, pids: dict[str, int]):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop = dict(pids), {k: 0.0 for k in pids}, threading.Event()
        self.first = {k: rss_mb(p) for k, p in pids.items()}

    def run(self) -> None:
        while not self.stop.wait(0.1):
            for k, pid in self.pids.items():
                self.peak[k] = max(self.peak[k], rss_mb(pid))


def run_once(text: str, extra_env: dict, watch: dict[str, int] | None = None) -> tuple[float, dict, Path]:
    folder = Path(tempfile.mkdtemp(prefix="pipe-dask-bench-"))
    (folder / "pipelines").mkdir()
    (folder / "pipelines" / "w.yaml").write_text(text)
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "pipeline_cli", "--state-dir", str(folder / ".pipe"), "run", "w"],
                            cwd=folder, env=env(extra_env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = Peak({**(watch or {}), "pipe": proc.pid})
    peak.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    peak.stop.set()
    if proc.returncode != 0:
        raise SystemExit(f"pipe run failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, {k: (v, peak.first.get(k, 0.0)) for k, v in peak.peak.items()}, folder


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scheduler_over_10s(cluster: Cluster) -> tuple[float, float]:
    time.sleep(2)
    c0, t0 = cpu_seconds(cluster.scheduler_pid), time.monotonic()
    time.sleep(10)
    return (cpu_seconds(cluster.scheduler_pid) - c0) / (time.monotonic() - t0) * 100, rss_mb(cluster.scheduler_pid)


def in_flight_floor(cluster: Cluster, n: int) -> tuple[float, float]:
    """The same for plain Dask: n tasks of `sleep 600` submitted from one client."""
    folder = Path(tempfile.mkdtemp(prefix="pipe-dask-floor-"))
    (folder / "floor.py").write_text(FLOOR)
    proc = subprocess.Popen([PY, str(folder / "floor.py"), cluster.address, "hold", str(n)], env=env(), cwd=folder,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        return scheduler_over_10s(cluster)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
        time.sleep(3)        # the workers' sleeps end with their tasks' release


def in_flight(cluster: Cluster, limit: int) -> tuple[float, float]:
    """The scheduler's CPU (% of one core) and RSS over 10 s while `limit` of 1,000 long
    tasks are handed to Dask at once (the first 16 run)."""
    folder = Path(tempfile.mkdtemp(prefix="pipe-dask-inflight-"))
    (folder / "pipelines").mkdir()
    tasks = "\n".join(f"  t{i}: {{run: 'sleep 600'}}" for i in range(1000))
    (folder / "pipelines" / "w.yaml").write_text(f"concurrency: {limit}\ntasks:\n{tasks}\n")
    proc = subprocess.Popen([PY, "-m", "pipeline_cli", "--state-dir", str(folder / ".pipe"), "run", "w"],
                            cwd=folder, env=env({"PIPE_EXECUTOR": "dask", "PIPE_DASK_SCHEDULER": cluster.address,
                                                 "PIPE_KILL_GRACE": "1"}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from distributed import Client

    try:
        with Client(cluster.address, timeout=30, set_as_default=False) as c:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                n = c.run_on_scheduler(lambda dask_scheduler: sum(1 for k in dask_scheduler.tasks
                                                                  if str(k).startswith("t")))
                if n >= limit:
                    break
                time.sleep(0.5)
        cpu, rss = scheduler_over_10s(cluster)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return cpu, rss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="chain-200,wide-500,sleep-64,output-1g,inflight-1000")
    ap.add_argument("--saturation", default="1.0", help="the scheduler's worker-saturation (Dask's default: 1.1)")
    args = ap.parse_args()
    chosen = args.only.split(",")
    base = Path(tempfile.mkdtemp(prefix="pipe-dask-cluster-"))
    cluster = Cluster(base, saturation=args.saturation)
    rows = []
    floors: dict[str, float] = {}
    try:
        watch = {"scheduler": cluster.scheduler_pid, **{f"worker{i + 1}": p for i, p in enumerate(cluster.worker_pids)}}
        for name, (text, n, ideal) in workloads().items():
            if name not in chosen:
                continue
            if name == "inflight-1000":
                for limit in (16, 1000):
                    cpu, rss = in_flight_floor(cluster, limit)
                    rows.append((name, "plain Dask (floor)", f"{limit} in flight", f"scheduler CPU {cpu:.0f} % of a core",
                                 f"scheduler {rss:.0f} MB"))
                    print(f"{name:10} floor {limit} in flight: scheduler {cpu:.0f} % CPU, {rss:.0f} MB", file=sys.stderr)
                for limit in (16, 1000):
                    cpu, rss = in_flight(cluster, limit)
                    rows.append((name, "dask", f"{limit} in flight", f"scheduler CPU {cpu:.0f} % of a core",
                                 f"scheduler {rss:.0f} MB"))
                    print(f"{name:10} {limit} in flight: scheduler {cpu:.0f} % CPU, {rss:.0f} MB", file=sys.stderr)
                continue
            if name == "output-1g":
                wall, peak, folder = run_once(text, {"PIPE_EXECUTOR": "dask", "PIPE_DASK_SCHEDULER": cluster.address},
                                              watch)
                size = sum(p.stat().st_size for p in (folder / ".pipe").rglob("big.1.log"))
                shutil.rmtree(folder, ignore_errors=True)
                rows.append((name, "dask", f"{wall:.1f} s", f"{size / wall / 1e6:.0f} MB/s ({size / 2**30:.2f} GiB logged)",
                             ", ".join(f"{k} {v:.0f} MB (before: {b:.0f})" if k != "pipe" else f"pipe {v:.0f} MB"
                                       for k, (v, b) in peak.items())))
                continue
            if name in ("chain-200", "wide-500"):
                kind = name.split("-")[0]
                walls = [floor_once(cluster.address, kind, n) for _ in range(args.rounds)]
                floors[name] = min(walls)
                rows.append((name, "plain Dask (floor)", f"{floors[name]:.2f} s",
                             f"{floors[name] / n * 1000:.1f} ms/task", ""))
                print(f"{name:10} floor  best {floors[name]:.2f} s of {[round(w, 2) for w in walls]}", file=sys.stderr)
            for executor in ("local", "dask"):
                extra = {"PIPE_EXECUTOR": executor}
                if executor == "dask":
                    extra["PIPE_DASK_SCHEDULER"] = cluster.address
                walls = []
                for _ in range(args.rounds):
                    wall, _, folder = run_once(text, extra)
                    shutil.rmtree(folder, ignore_errors=True)
                    walls.append(wall)
                best = min(walls)
                note = f"ideal {ideal:g} s: +{(best / ideal - 1) * 100:.0f} %" if ideal else f"{best / n * 1000:.1f} ms/task"
                if executor == "dask" and name in floors:
                    note += f"; {best / floors[name]:.2f}x the floor"
                rows.append((name, executor, f"{best:.2f} s", note, ""))
                print(f"{name:10} {executor:6} best {best:.2f} s of {[round(w, 2) for w in walls]}", file=sys.stderr)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    print("| workload | executor | wall (best of %d) | per task / rate | peak memory |" % args.rounds)
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
