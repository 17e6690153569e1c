"""The Dask executor on a cluster that changes under it, and a pipe that is killed or
stopped: real `dask scheduler` / `dask worker` processes on 127.0.0.1 (tests/dask/dask_cluster.py).

Each test waits on what it means (pid files the tasks write, events pipe records), with a
bounded deadline; none asserts how long anything took.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("distributed")      # the `dask` extra

from dask_cluster import ROOT, base_env  # noqa: E402
from dask_cluster import dask_cluster, pipe_dask, start_cluster  # noqa: F401,E402  (fixtures)
from test_dask_runs import (_all_gone, _old_pipe, _reached, alive, dask_env, events, log_of, pids,  # noqa: E402
                            popen_pipe, shutil, stubborn, task_events, tasks_of, wait_until, write)


def _attempts(project: Path, task: str) -> dict[int, list[dict]]:
    found: dict[int, list[dict]] = {}
    for e in task_events(project, task):
        found.setdefault(e.get("attempt"), []).append(e)
    return found


def _ended(project: Path, task: str) -> dict[int, dict]:
    """The event that ended each attempt (retrying, failed, succeeded, cancelled)."""
    return {n: next(e for e in reversed(evs) if e["state"] != "running")
            for n, evs in _attempts(project, task).items() if any(e["state"] != "running" for e in evs)}


# -- a task whose resources leave with the only worker that offered them ---------------------
def test_a_retry_no_worker_can_run_fails_after_the_wait_for_workers(tmp_path, start_cluster):
    folder = stubborn(tmp_path)
    write(tmp_path, "gpu", f"""
        tasks:
          train:
            run: 'if [ "$PIPE_ATTEMPT" = 1 ]; then exec sh stubborn.sh; fi; echo trained'
            env: {{PIDS: {folder}}}
            resources: {{GPU: 1}}
            retries: 2
            timeout: 60s
        """)
    cluster = start_cluster([{"name": "plain", "nthreads": 1},
                             {"name": "gpu", "nthreads": 1, "resources": "GPU=1"}])
    proc = popen_pipe(tmp_path, "run", "gpu", "--json", env=dask_env(cluster, PIPE_DASK_WAIT_WORKERS="2s"))
    try:
        wait_until(lambda: {"leader.pid", "child.pid", "grandchild.pid"} <= set(pids(folder)), "attempt 1 started")
        os.killpg(cluster.procs[2].pid, signal.SIGKILL)        # the GPU worker and its nanny: gone for good
        out, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 1, out + err
    assert "Traceback" not in err, err
    ended = _ended(tmp_path, "train")
    assert ended[1]["reason"] == "worker lost", ended
    for n in (2, 3):         # each retry waited for a GPU worker, then failed saying why
        assert ended[n]["reason"] == (f"no worker of the Dask cluster at {cluster.address} offers GPU=1 "
                                      "(waited 2s for one to join)"), ended
    assert tasks_of(json.loads(out))["train"]["state"] == "failed"
    assert "no worker of the Dask cluster" in log_of(tmp_path, "train", 3).read_text()
    _all_gone(folder)


def test_timeout_holds_from_pipes_side_when_the_worker_is_stopped(tmp_path, start_cluster):
    folder = stubborn(tmp_path)
    write(tmp_path, "stuck", f"""
        tasks:
          stuck: {{run: sh stubborn.sh, env: {{PIDS: {folder}}}, timeout: 2s}}
        """)
    cluster = start_cluster([{"name": "only", "nthreads": 1}])
    proc = popen_pipe(tmp_path, "run", "stuck", "--json", env=dask_env(cluster, PIPE_KILL_GRACE="1"))
    worker = None
    try:
        wait_until(lambda: {"worker.ppid", "leader.pid", "child.pid", "grandchild.pid"} <= set(pids(folder)),
                   "the task started")
        worker = int((folder / "worker.ppid").read_text())
        os.kill(worker, signal.SIGSTOP)           # its supervisor can no longer end it
        out, err = proc.communicate(timeout=60)
    finally:
        if worker:
            os.kill(worker, signal.SIGCONT)
        proc.kill()
    assert proc.returncode == 1, out + err
    task = tasks_of(json.loads(out))["stuck"]
    assert task["state"] == "failed" and task["reason"].startswith("timed out after 2s (ended by pipe"), task
    _all_gone(folder)         # once the worker goes on, pipe's kill order ends the group


# -- pipe killed, then resumed while its attempt still runs ------------------------------------
def test_resume_stops_the_killed_runs_remote_attempt_before_rerunning(tmp_path, dask_cluster):
    folder = stubborn(tmp_path)
    done = tmp_path / "second-time"
    overlap = tmp_path / "overlap"
    # The second start records any process of the first attempt still alive (not a zombie).
    check = (f'for p in $(cat {folder}/*.pid); do if [ -e /proc/$p ] && ! grep -q "^[0-9]* (.*) Z" /proc/$p/stat; '
             f'then echo $p >> {overlap}; fi; done; echo resumed')
    write(tmp_path, "orphan", f"""
        tasks:
          long:
            run: 'if [ -e {done} ]; then {check}; else exec sh stubborn.sh; fi'
            env: {{PIDS: {folder}}}
        """)
    env = dask_env(dask_cluster, PIPE_DASK_LEASE="60", PIPE_KILL_GRACE="1")
    proc = popen_pipe(tmp_path, "run", "orphan", env=env)
    try:
        wait_until(lambda: {"grandchild.pid", "child.pid", "leader.pid"} <= set(pids(folder)), "the task started")
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    done.touch()
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "resume", "orphan", "--json"], cwd=tmp_path, env=base_env(env),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not overlap.exists(), f"the first attempt still ran at the second start: {overlap.read_text()}"
    assert "attempt 1 of task long is still on the Dask cluster" in result.stderr
    assert tasks_of(json.loads(result.stdout))["long"]["state"] == "succeeded"
    assert "pipe: ended on tcp://" in log_of(tmp_path, "long", 1).read_text()
    _all_gone(folder)


# -- pipe stopped for longer than the lease ------------------------------------------------------
def test_a_stopped_pipe_gets_every_line_the_lease_killed_task_printed(tmp_path, start_cluster):
    folder = tmp_path / "pids"
    folder.mkdir()
    side = tmp_path / "printed"
    write(tmp_path, "talk", f"""
        tasks:
          talk:
            run: 'echo $$ > {folder}/leader.pid; i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo "line $i"; echo "line $i" >> {side}; sleep 0.5; done'
        """)
    cluster = start_cluster([{"name": "only", "nthreads": 1}])
    proc = popen_pipe(tmp_path, "run", "talk", env=dask_env(cluster, PIPE_DASK_LEASE="6", PIPE_KILL_GRACE="1"))
    try:
        wait_until(lambda: "line 2\n" in log_of(tmp_path, "talk").read_text() if log_of(tmp_path, "talk").exists()
                   else False, "the task's output reached the log")
        proc.send_signal(signal.SIGSTOP)
        leader = int((folder / "leader.pid").read_text())
        wait_until(lambda: not alive(leader), "the lease killed the task on its worker")
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    assert proc.returncode == 1, out + err
    printed = side.read_text().splitlines()
    logged = log_of(tmp_path, "talk").read_text().splitlines()
    assert len(printed) > 10                              # the stop outlasted many lines
    assert logged[:len(printed)] == printed, (printed, logged)
    assert logged[-1].startswith("pipe: killed on its worker tcp://") and "its lease ran out" in logged[-1]
    end = task_events(tmp_path, "talk")[-1]
    assert end["state"] == "cancelled" and end["reason"].startswith("pipe lost: no word from it for 6s"), end


# -- where an attempt lost at once ran --------------------------------------------------------
def test_the_worker_of_an_attempt_lost_right_after_it_started_is_recorded(tmp_path, start_cluster):
    folder = stubborn(tmp_path)
    write(tmp_path, "quick", f"""
        tasks:
          quick:
            run: 'if [ "$PIPE_ATTEMPT" = 1 ]; then exec sh stubborn.sh; fi; echo second'
            env: {{PIDS: {folder}}}
            retries: 1
        """)
    cluster = start_cluster([{"name": "one", "nthreads": 1}, {"name": "two", "nthreads": 1}])
    workers = {n: a for a, n in cluster.workers().items()}
    proc = popen_pipe(tmp_path, "run", "quick", "--json", env=dask_env(cluster))
    try:
        wait_until(lambda: "worker.ppid" in pids(folder), "attempt 1 started")
        worker_pid = int((folder / "worker.ppid").read_text())
        os.kill(worker_pid, signal.SIGKILL)     # at once: before it could say where it runs
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    attempts = _attempts(tmp_path, "quick")
    lost = {e.get("worker") for e in attempts[1]} - {None}
    assert _ended(tmp_path, "quick")[1]["reason"] == "worker lost"
    assert len(lost) == 1 and lost <= set(workers.values()), attempts[1]
    second = _ended(tmp_path, "quick")[2]
    assert second["state"] == "succeeded" and second["worker"].startswith("tcp://") and second["worker"] not in lost


# -- what pipe prints -----------------------------------------------------------------------
def test_each_running_line_is_printed_once(tmp_path, pipe_dask):
    write(tmp_path, "two", """
        tasks:
          a: {run: sleep 0.5}
          b: {run: sleep 0.5, deps: [a]}
        """)
    result = pipe_dask(tmp_path, "run", "two")
    assert result.returncode == 0, result.stdout + result.stderr
    for task in ("a", "b"):
        lines = [ln for ln in result.stdout.splitlines() if f" {task} running · attempt 1" in ln]
        assert len(lines) == 1, result.stdout
    placed = [e for e in task_events(tmp_path, "a") if e["state"] == "running" and e.get("worker")]
    assert placed      # the worker is still recorded (in the events, not printed again)


# -- choosing the executor ------------------------------------------------------------------
BLOCK_DASK = """\
import sys


class _NoDask:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoDask())
"""


@pytest.mark.parametrize("how", ["option", "env-tick"])
def test_dask_without_the_extra_is_exit_2_with_how_to_install_it(tmp_path, how):
    blocker = tmp_path / "nodask"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_DASK)
    write(tmp_path, "hourly", """
        schedule: "@hourly"
        tasks:
          a: {run: echo a}
        """)
    env = base_env({"PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])})
    probe = subprocess.run([sys.executable, "-c", "import distributed"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0                       # dask cannot be imported in this environment
    if how == "option":
        args = ["run", "hourly", "--executor", "dask"]
    else:
        args = ["tick"]
        env["PIPE_EXECUTOR"] = "dask"
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"), *args],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "pip install 'pipe-cli[dask]'" in result.stderr and "pip install -e '.[dask]'" in result.stderr
    assert not list((tmp_path / ".pipe").rglob("events.jsonl"))


@pytest.mark.parametrize("how", ["option", "env"])
def test_a_scheduler_address_alone_means_the_dask_executor(tmp_path, dask_cluster, pipe_dask, how):
    write(tmp_path, "where", "tasks: {a: {run: echo a}}\n")
    if how == "option":
        result = pipe_dask(tmp_path, "run", "where", "--dask-scheduler", dask_cluster.address, executor=False)
    else:
        result = pipe_dask(tmp_path, "run", "where", executor=False,
                           env={"PIPE_DASK_SCHEDULER": dask_cluster.address})
    assert result.returncode == 0, result.stdout + result.stderr
    ended = [e for e in events(tmp_path) if e.get("event") == "task" and e.get("state") == "succeeded"]
    assert ended and ended[0]["worker"] in dask_cluster.workers()
    # ... and an explicit local executor still runs here
    local = pipe_dask(tmp_path, "run", "where", "--executor", "local", executor=False,
                      env={"PIPE_DASK_SCHEDULER": dask_cluster.address})
    assert local.returncode == 0, local.stdout + local.stderr
    assert [e["worker"] for e in events(tmp_path) if e.get("event") == "task" and e.get("state") == "succeeded"] \
        == ["local"]


# -- stopping ----------------------------------------------------------------------------------
def test_ctrl_c_starts_none_of_the_attempts_dask_holds(tmp_path, dask_cluster):
    """Every thread of the cluster is busy and the rest of the run's attempts wait in Dask:
    Ctrl-C cancels the running ones, and none of the waiting ones starts on the threads
    they free."""
    stamps = tmp_path / "started"
    stamps.mkdir()
    with dask_cluster.client() as c:
        threads = sum(c.nthreads().values())
    tasks = "\n".join(f"  t{i}: {{run: 'touch {stamps}/t{i}; sleep 60'}}" for i in range(120))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "wide.yaml").write_text(f"concurrency: 120\ntasks:\n{tasks}\n")
    proc = popen_pipe(tmp_path, "run", "wide", env=dask_env(dask_cluster, PIPE_KILL_GRACE="1"))
    try:
        wait_until(lambda: len(list(stamps.iterdir())) >= threads, "every thread of the cluster runs a task")
        wait_until(lambda: len({e["task"] for e in events(tmp_path) if e.get("event") == "task"}) == 120,
                   "every attempt is handed to Dask")
        before = {p.name for p in stamps.iterdir()}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert {p.name for p in stamps.iterdir()} == before
    ended = {e["task"]: e for e in events(tmp_path) if e.get("event") == "task" and e["state"] != "running"}
    assert len(ended) == 120 and {e["state"] for e in ended.values()} == {"cancelled"}


def test_a_healthy_run_leaves_no_error_in_the_scheduler_or_worker_logs(tmp_path, start_cluster):
    """Tasks that outlast pipe's waits for output and the workers' waits for orders: the
    waits end on what they wait for, never on a timeout the scheduler logs as an error."""
    cluster = start_cluster([{"name": "only", "nthreads": 4}])
    tasks = "\n".join(f"  t{i}: {{run: 'echo start; sleep 6; echo end'}}" for i in range(4))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "calm.yaml").write_text(f"tasks:\n{tasks}\n")
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "run", "calm"], cwd=tmp_path, env=base_env(dask_env(cluster)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("scheduler", "only"):
        text = (cluster.logs / f"{name}.log").read_text()
        assert "distributed" in text                      # the log is the process's, and was written
        assert " ERROR " not in text and "Traceback" not in text, text[-3000:]
    assert _left_on(cluster.address) == []                # and nothing of pipe's is left there


def _left_on(address: str) -> list[str]:
    """The names of pipe's queues and variables on a scheduler."""
    from distributed import Client

    def names(dask_scheduler):
        found = [*dask_scheduler.extensions["queues"].queues, *dask_scheduler.extensions["variables"].variables]
        return sorted(n for n in found if n.startswith("pipe-"))

    with Client(address, timeout=30, set_as_default=False) as c:
        return c.run_on_scheduler(names)


def test_what_a_killed_pipe_left_on_the_scheduler_is_removed_by_the_next_pipes(tmp_path, start_cluster):
    """pipe is SIGKILLed while one attempt runs and another waits in Dask for the only thread:
    the waiting one will never start, so no worker ever drops its queues, and the dead pipe's
    lease stays. Later pipes, on the same scheduler, find them orphaned and remove them."""
    folder = stubborn(tmp_path)
    write(tmp_path, "dies", f"""
        concurrency: 2
        tasks:
          hold: {{run: sh stubborn.sh, env: {{PIDS: {folder}}}}}
          queued: {{run: echo never}}
        """)
    write(tmp_path, "quick", "tasks: {a: {run: echo a}}\n")
    cluster = start_cluster([{"name": "only", "nthreads": 1}])
    env = dask_env(cluster, PIPE_DASK_LEASE="3", PIPE_KILL_GRACE="1")
    proc = popen_pipe(tmp_path, "run", "dies", env=env)
    try:
        wait_until(lambda: {"leader.pid", "child.pid", "grandchild.pid"} <= set(pids(folder)), "hold started")
        wait_until(lambda: _reached(tmp_path, "queued", "running"), "queued was handed to Dask")
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    left = _left_on(cluster.address)
    assert any(n.startswith("pipe-lease-") for n in left) and any(" queued-dies-" in n for n in left), left
    _all_gone(folder)                 # the lease ended the running attempt on its worker

    def quick_run_cleans_up() -> bool:
        done = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe2"),
                               "run", "quick"], cwd=tmp_path, env=base_env(env), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return _left_on(cluster.address) == []

    # A pipe judges a lease orphaned once it has not changed for twice its length (the
    # scheduler's clock, across the sweeps of successive pipes), then drops its queues.
    wait_until(quick_run_cleans_up, "a later pipe removed the dead pipe's lease and queues", limit=120)



# -- an adaptive cluster: no worker until work is queued ---------------------------------------
ADAPTIVE = """\
import sys
from distributed import LocalCluster

if __name__ == "__main__":
    maximum = int(sys.argv[1])
    cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                           scheduler_port=0, dashboard_address=None)
    if maximum:
        cluster.adapt(minimum=0, maximum=maximum, interval="500ms")
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()          # until the test closes it
    cluster.close()
"""


def _adaptive(tmp_path: Path, maximum: int) -> tuple[subprocess.Popen, str]:
    """A `LocalCluster(n_workers=0).adapt(minimum=0, maximum=...)` in its own process (none
    with maximum 0: a cluster that never starts a worker), and its scheduler's address."""
    script = tmp_path / "adaptive.py"
    script.write_text(ADAPTIVE)
    proc = subprocess.Popen([sys.executable, str(script), str(maximum)], cwd=tmp_path, env=base_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    address = proc.stdout.readline().strip()
    assert address.startswith("tcp://"), address
    return proc, address


def _stop(proc: subprocess.Popen) -> None:
    try:
        proc.stdin.close()
        proc.wait(30)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


def test_an_adaptive_cluster_with_no_worker_at_the_start_runs_the_pipeline(tmp_path):
    write(tmp_path, "grow", """
        tasks:
          a: {run: echo a}
          b: {run: echo b, deps: [a]}
          c: {run: echo c, deps: [a]}
          d: {run: echo d, deps: [b, c]}
        """)
    cluster, address = _adaptive(tmp_path, 2)
    try:
        with __import__("distributed").Client(address, timeout=30, set_as_default=False) as c:
            assert not c.scheduler_info(n_workers=-1)["workers"]      # no worker: adapt() starts them for work
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                                 "run", "grow", "--json", "--dask-scheduler", address], cwd=tmp_path,
                                env=base_env(), capture_output=True, text=True, timeout=180)
    finally:
        _stop(cluster)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the Dask cluster at {address} has no worker yet: waiting up to 2m" in result.stderr
    tasks = tasks_of(json.loads(result.stdout))
    assert {t["state"] for t in tasks.values()} == {"succeeded"}, tasks
    assert all(e["worker"].startswith("tcp://127.0.0.1:") for e in events(tmp_path)
               if e.get("event") == "task" and e["state"] == "succeeded")


def test_no_worker_joining_within_the_wait_is_exit_2(tmp_path):
    write(tmp_path, "alone", "tasks: {a: {run: echo a}}\n")
    cluster, address = _adaptive(tmp_path, 0)
    try:
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                                 "run", "alone", "--dask-scheduler", address, "--dask-wait-workers", "2s"],
                                cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=120)
        with __import__("distributed").Client(address, timeout=30, set_as_default=False) as c:
            left = c.run_on_scheduler(lambda dask_scheduler: sorted(map(str, dask_scheduler.tasks)))
    finally:
        _stop(cluster)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "waiting up to 2s for one" in result.stderr
    assert f"no worker joined the Dask cluster at {address} within 2s (--dask-wait-workers)" in result.stderr
    assert not list((tmp_path / ".pipe").rglob("events.jsonl"))     # refused before the run was recorded
    assert left == []                                               # its queued probe is gone too


def test_a_bad_wait_for_workers_is_exit_2(tmp_path, dask_cluster):
    write(tmp_path, "alone", "tasks: {a: {run: echo a}}\n")
    for args, env in [(["--dask-wait-workers", "soon"], {}), ([], {"PIPE_DASK_WAIT_WORKERS": "soon"})]:
        result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                                 "run", "alone", "--dask-scheduler", dask_cluster.address, *args],
                                cwd=tmp_path, env=base_env(env), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "soon" in result.stderr, result.stderr


# -- workers unfit for the run: another pipe, another copy of a task's module ---------------------
MATHMOD = """\
import helper


def compute(ran):
    with open(ran, "a") as f:
        f.write("ran\\n")
    return {"v": helper.ANSWER}
"""


def _python_project(tmp_path: Path, tasks: str) -> tuple[Path, Path]:
    """pipelines/mathmod.py (whose compute() returns helper.ANSWER, 42) and helper.py; a
    stale copy of both in stale/ (21000): what a worker whose synced folder lags sees."""
    folder = tmp_path / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mathmod.py").write_text(MATHMOD)
    (folder / "helper.py").write_text("ANSWER = 42\n")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "mathmod.py").write_text(MATHMOD.replace("helper.ANSWER", "21000"))
    (stale / "helper.py").write_text("ANSWER = 21000\n")
    write(tmp_path, "calc", tasks)
    return folder, stale


def _needs_unshare() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare is not allowed here: {probe.stderr.decode().strip()}")


def _seeing(folder: Path, stale: Path, module: str) -> list[str]:
    """argv_prefix of a worker that sees the stale copy of `module` at its path in the
    pipeline folder (a bind mount in its own mount namespace): same path, other content."""
    return ["unshare", "-Urm", "sh", "-c", f'mount --bind {stale / module} {folder / module} && exec "$0" "$@"']


@pytest.mark.parametrize("module", ["mathmod.py", "helper.py"])
def test_a_worker_that_sees_another_copy_of_a_tasks_module_is_refused(tmp_path, start_cluster, module):
    _needs_unshare()
    folder, stale = _python_project(tmp_path, f"""
        tasks:
          calc: {{python: "mathmod:compute", with: {{ran: {tmp_path / 'ran'}}}}}
        """)
    cluster = start_cluster([{"name": "synced", "nthreads": 1},
                             {"name": "lagging", "nthreads": 1, "argv_prefix": _seeing(folder, stale, module)}])
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "run", "calc"], cwd=tmp_path, env=base_env(dask_env(cluster)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lagging = cluster.worker_of("lagging")
    assert (f"worker lagging ({lagging}) sees another copy of {folder / module}, a module the pipeline's "
            "Python tasks import (its content differs)") in result.stderr
    assert "synced" not in result.stderr
    assert not (tmp_path / "ran").exists() and not list((tmp_path / ".pipe").rglob("events.jsonl"))


def _stderr_lines(proc: subprocess.Popen) -> list[str]:
    lines: list[str] = []

    def read():
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


@pytest.mark.parametrize("unfit", ["another pipe", "another module copy"])
def test_an_unfit_worker_that_joins_mid_run_is_avoided_and_the_run_finishes(tmp_path, start_cluster, unfit):
    """Four retryable Python tasks wait in Dask behind `hold` on the only (1-thread) worker;
    an unfit worker joins, idle: Dask hands it what waits. It refuses, and that is no failed
    attempt: each task runs once, on the fit worker, with pipe's module."""
    if unfit == "another module copy":
        _needs_unshare()
    release = tmp_path / "release"
    started = tmp_path / "hold-started"
    ran = tmp_path / "ran"
    calcs = "\n".join(f"          c{i}: {{python: 'mathmod:compute', with: {{ran: {ran}}}, deps: [gate], "
                      "retries: 1}" for i in range(4))
    folder, stale = _python_project(tmp_path, f"""
        concurrency: 8
        tasks:
          hold: {{run: 'touch {started}; while [ ! -e {release} ]; do sleep 0.1; done'}}
          gate: {{run: 'while [ ! -e {started} ]; do sleep 0.1; done', executor: local}}
""" + calcs + "\n")
    cluster = start_cluster([{"name": "fit", "nthreads": 1}])
    proc = popen_pipe(tmp_path, "run", "calc", "--json", env=dask_env(cluster))
    err = _stderr_lines(proc)
    try:
        wait_until(lambda: all(_reached(tmp_path, f"c{i}", "running") for i in range(4)),
                   "every calc was handed to Dask")
        if unfit == "another pipe":
            late = {"name": "late", "nthreads": 1, "env": {"PYTHONPATH": str(_old_pipe(tmp_path))}}
            why = "runs pipe 0.0.1-old"
        else:
            late = {"name": "late", "nthreads": 1, "argv_prefix": _seeing(folder, stale, "helper.py")}
            why = f"sees another copy of {folder / 'helper.py'}"
        cluster.add_worker(late)
        wait_until(lambda: any("avoiding the Dask worker" in line for line in err), "pipe says it avoids it")
    finally:
        release.touch()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + "".join(err)
    late_addr, fit_addr = cluster.worker_of("late"), cluster.worker_of("fit")
    avoided = [line for line in err if "avoiding" in line]
    assert avoided == [f"pipe: avoiding the Dask worker {late_addr} for this run: it {why}" +
                       avoided[0].split(why, 1)[1]], err
    assert avoided[0].rstrip().endswith("its attempts go to the other workers")
    tasks = tasks_of(json.loads(out))
    for i in range(4):
        assert tasks[f"c{i}"]["state"] == "succeeded" and tasks[f"c{i}"]["outputs"] == {"v": 42}, tasks[f"c{i}"]
        ended = _ended(tmp_path, f"c{i}")
        assert list(ended) == [1] and ended[1]["worker"] == fit_addr, ended       # one attempt, on `fit`
    assert ran.read_text() == "ran\n" * 4


def test_concurrency_follows_a_worker_that_joins(tmp_path, start_cluster):
    """Four tasks that each wait until all four have started, on a 1-thread worker: they can
    only finish once a 3-thread worker joins and the default concurrency grows with it."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    tasks = "\n".join(f"  t{i}: {{run: 'touch {barrier}/{i}; while [ $(ls {barrier} | wc -l) -lt 4 ]; "
                      f"do sleep 0.1; done', timeout: 90}}" for i in range(4))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "four.yaml").write_text(f"tasks:\n{tasks}\n")
    cluster = start_cluster([{"name": "small", "nthreads": 1}])
    proc = popen_pipe(tmp_path, "run", "four", "--json", env=dask_env(cluster))
    try:
        wait_until(lambda: len(list(barrier.iterdir())) == 1, "one task runs on the only thread")
        cluster.add_worker({"name": "big", "nthreads": 3})
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert {t["state"] for t in tasks_of(json.loads(out)).values()} == {"succeeded"}


def test_a_worker_of_an_older_pipe_whose_check_takes_the_file_alone_is_named_with_its_version(tmp_path, start_cluster):
    """The pipe before this check of modules: its check_worker(pipeline_file) takes no more."""
    shadow = _old_pipe(tmp_path)
    supervise_py = shadow / "pipeline_cli" / "executors" / "supervise.py"
    text = supervise_py.read_text()
    old_signature = "def check_worker(pipeline_file: str, modules: list | None = None) -> dict:"
    assert old_signature in text
    supervise_py.write_text(text.replace(old_signature, "def check_worker(pipeline_file: str) -> dict:\n    modules = None"))
    write(tmp_path, "seen", "tasks: {a: {run: echo a}}\n")
    cluster = start_cluster([{"name": "old", "nthreads": 1, "env": {"PYTHONPATH": str(shadow)}}])
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "run", "seen"], cwd=tmp_path, env=base_env(dask_env(cluster)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"worker old ({cluster.worker_of('old')}) runs pipe 0.0.1-old" in result.stderr, result.stderr
    assert "cannot run pipe's check" not in result.stderr
