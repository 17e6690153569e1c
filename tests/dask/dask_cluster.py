"""A real Dask cluster on 127.0.0.1 for the Dask executor's tests. The fixtures below are
imported by the test modules (a conftest.py here would shadow tests/conftest.py).

- ``dask_cluster`` (session): `dask scheduler` and two `dask worker` processes (each with its
  nanny): `plain` (2 threads) and `gpu` (2 threads, `--resources "GPU=1"`). Stopped (their
  process groups SIGTERMed, then SIGKILLed) at the end. ``cluster.address`` is the scheduler's
  address; ``cluster.workers()`` maps worker addresses to their names;
  ``cluster.worker_pid(address)`` is the pid of a worker process (not its nanny);
  ``cluster.wait_ready()`` waits until both named workers are registered (a killed worker's
  nanny starts a new one).
- ``start_cluster(workers=[...])``: a further scheduler with the given workers, for one test;
  each worker is given as a dict: ``name``, and optional ``argv_prefix`` (e.g. `unshare ...`),
  ``env``, ``resources``.
- ``pipe_dask``: runs ``python -m pipeline_cli`` in a project folder, like tests/conftest.py's
  ``pipe``, with ``PIPE_EXECUTOR=dask`` and ``PIPE_DASK_SCHEDULER`` set to the session cluster.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPE_", "DASK_"))}
    env.update(NO_COLOR="1", PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.update(extra or {})
    return env


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies (killed by a CI timeout, say), so that no cluster
    outlives the test session. A nanny that gets SIGTERM stops its worker."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Cluster:
    def __init__(self, tmp: Path, workers: list[dict]):
        self.tmp = tmp
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.names = [w["name"] for w in workers]
        self.logs = tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
                    "scheduler", base_env())
        self._wait_port()
        for w in workers:
            self.add_worker(w, wait=False)
        self.wait_ready()

    def add_worker(self, w: dict, wait: bool = True) -> None:
        """Start a worker (a dict as in start_cluster); wait until every named worker is in."""
        argv = [*w.get("argv_prefix", []), DASK, "worker", self.address, "--name", w["name"],
                "--nthreads", str(w.get("nthreads", 2)), "--host", "127.0.0.1", "--no-dashboard",
                "--local-directory", str(self.tmp / f"space-{w['name']}"), "--memory-limit", "0"]
        if w.get("resources"):
            argv += ["--resources", w["resources"]]
        if w["name"] not in self.names:
            self.names.append(w["name"])
        self._start(argv, w["name"], base_env(w.get("env")))
        if wait:
            self.wait_ready()

    def _start(self, argv: list[str], name: str, env: dict) -> None:
        log = open(self.logs / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(self.tmp),
                                           start_new_session=True, preexec_fn=_die_with_parent))

    def _wait_port(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the scheduler did not start: {(self.logs / 'scheduler.log').read_text()}")

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30, set_as_default=False)

    def workers(self) -> dict[str, str]:
        with self.client() as c:
            return {a: w["name"] for a, w in c.scheduler_info(n_workers=-1)["workers"].items()}

    def worker_of(self, name: str) -> str:
        return next(a for a, n in self.workers().items() if n == name)

    def worker_pid(self, address: str) -> int:
        with self.client() as c:
            return c.run(os.getpid, workers=[address])[address]

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if sorted(self.workers().values()) == sorted(self.names):
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"workers {self.names} did not all register: {self.workers()}")

    def stop(self) -> None:
        for p in reversed(self.procs):
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("dask"), [{"name": "plain"},
                                                         {"name": "gpu", "resources": "GPU=1"}])
    yield cluster
    cluster.stop()


@pytest.fixture
def start_cluster(tmp_path):
    made: list[Cluster] = []

    def start(workers: list[dict]) -> Cluster:
        cluster = Cluster(tmp_path / f"cluster{len(made)}", workers)
        made.append(cluster)
        return cluster

    yield start
    for c in made:
        c.stop()


@pytest.fixture
def pipe_dask(dask_cluster):
    def run(project: Path, *args: str, env: dict | None = None, timeout: float = 180,
            executor: bool = True) -> subprocess.CompletedProcess:
        extra = {"PIPE_EXECUTOR": "dask", "PIPE_DASK_SCHEDULER": dask_cluster.address} if executor else {}
        extra.update(env or {})
        return subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(project / ".pipe"), *args],
                              cwd=project, env=base_env(extra), capture_output=True, text=True, timeout=timeout)

    return run
