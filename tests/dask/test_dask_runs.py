"""The Dask executor through the CLI, on a real cluster (tests/dask/dask_cluster.py): `pipe run`
in a subprocess with PIPE_EXECUTOR=dask and PIPE_DASK_SCHEDULER, one scheduler and two
workers on 127.0.0.1 (`plain`, and `gpu` with `--resources "GPU=1"`).

Processes of tasks are found by the pid files the tasks write; "gone" means no such process
(or a zombie left to init). Waits are bounded liveness checks, never timed assertions.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")      # the `dask` extra

from dask_cluster import ROOT, base_env, free_port  # noqa: E402
from dask_cluster import dask_cluster, pipe_dask, start_cluster  # noqa: F401  (fixtures: no conftest.py here, whose
#                                                                 module name would shadow tests/conftest.py)

PIPELINES = ROOT / "pipelines"


# -- helpers -------------------------------------------------------------------------------
def write(project: Path, name: str, text: str) -> Path:
    path = project / "pipelines" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def run_doc(result: subprocess.CompletedProcess) -> dict:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def tasks_of(doc: dict) -> dict[str, dict]:
    tasks = doc["tasks"]
    if isinstance(tasks, list):
        tasks = {t.get("id") or t.get("task"): t for t in tasks}
    return tasks


def events(project: Path) -> list[dict]:
    """The events of the latest run in the project's state folder."""
    files = sorted((project / ".pipe").rglob("events.jsonl"), key=lambda p: p.stat().st_mtime)
    assert files, "no run was recorded"
    return [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]


def task_events(project: Path, task: str) -> list[dict]:
    return [e for e in events(project) if e.get("event") == "task" and e.get("task") == task]


def log_of(project: Path, task: str, attempt: int = 1) -> Path:
    found = list((project / ".pipe").rglob(f"{task}.{attempt}.log"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else project / "missing.log"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_until(condition, what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true after {limit}s: {what}")


def pids(folder: Path) -> dict[str, int]:
    return {p.name: int(p.read_text()) for p in folder.glob("*pid") if p.read_text().strip()}


def popen_pipe(project: Path, *args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", str(project / ".pipe"), *args],
                            cwd=project, env=base_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


# A task whose leader, a child and a grandchild that ignores SIGTERM all write pid files
# into $PIDS, then wait for ever; `$PPID` of the leader is the worker process.
STUBBORN = """\
echo "$PIPE_OUTPUT" > "$PIDS/output.where"
echo $$ > "$PIDS/leader.pid"
echo $PPID > "$PIDS/worker.ppid"
sh -c 'trap "" TERM; echo $$ > "$PIDS/grandchild.pid"; sleep 300; true' &
sleep 300 &
echo $! > "$PIDS/child.pid"
echo started
wait
"""


def stubborn(project: Path) -> Path:
    """pipelines/stubborn.sh, and the folder its pid files go to."""
    (project / "pipelines").mkdir(parents=True, exist_ok=True)
    (project / "pipelines" / "stubborn.sh").write_text(STUBBORN)
    folder = project / "pids"
    folder.mkdir()
    return folder


def dask_env(cluster, **extra) -> dict:
    return {"PIPE_EXECUTOR": "dask", "PIPE_DASK_SCHEDULER": cluster.address, **extra}


# -- the example pipelines -------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name, date", [("weather", "2026-11-03"), ("umbrella", "2026-11-08")])
def test_example_pipeline_same_states_and_outputs_on_dask(tmp_path, pipe_dask, dask_cluster, name, date):
    found = {}
    for where in ("local", "dask"):
        project = tmp_path / where
        shutil.copytree(PIPELINES, project / "pipelines", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        result = pipe_dask(project, "run", name, "--date", date, "--json", executor=where == "dask")
        assert result.returncode == 0, result.stdout + result.stderr
        doc = tasks_of(run_doc(result))
        text = json.dumps({t: (v["state"], v.get("outputs")) for t, v in doc.items()}, sort_keys=True)
        files = sorted(str(p.relative_to(project / "data")) for p in (project / "data").rglob("*") if p.is_file())
        workers = {e.get("worker") for e in events(project) if e.get("event") == "task" and "duration" in e}
        found[where] = (text.replace(str(project), "<project>"), files, workers)
    assert found["dask"][:2] == found["local"][:2]
    assert found["local"][2] == {"local"}
    assert found["dask"][2] and all(w.startswith("tcp://127.0.0.1:") for w in found["dask"][2])


# -- output --------------------------------------------------------------------------------
def test_log_is_live_and_masked_while_the_remote_task_runs(tmp_path, pipe_dask, dask_cluster):
    release = tmp_path / "release"
    write(tmp_path, "live", f"""
        secrets: [TOKEN]
        tasks:
          talk:
            run: 'echo "first line, token $TOKEN"; while [ ! -e {release} ]; do sleep 0.1; done; echo last line'
        """)
    proc = popen_pipe(tmp_path, "run", "live", env=dask_env(dask_cluster, TOKEN="hunter2-secret"))
    try:
        log = tmp_path / "never"
        wait_until(lambda: (log := log_of(tmp_path, "talk")).exists() and "first line" in log.read_text(),
                   "the first line reached pipe's log file while the task runs")
        log = log_of(tmp_path, "talk")
        assert proc.poll() is None and not release.exists()        # the task is still running
        assert log.read_text() == "first line, token ***\n"
    finally:
        release.touch()
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    text = log.read_text()
    assert text == "first line, token ***\nlast line\n"
    assert "hunter2-secret" not in text and "hunter2-secret" not in json.dumps(events(tmp_path))


def test_outputs_of_shell_and_python_tasks_reach_downstream_and_tracebacks_the_log(tmp_path, pipe_dask):
    write(tmp_path, "flow", """
        tasks:
          make:
            run: 'echo count=41 >> $PIPE_OUTPUT; echo "multi<<EOF" >> $PIPE_OUTPUT; echo "a b" >> $PIPE_OUTPUT; echo EOF >> $PIPE_OUTPUT'
          add:
            python: steps:add
            with: {n: "{{ tasks.make.outputs.count }}"}
            deps: [make]
          show:
            run: 'echo total {{ tasks.add.outputs.total }} / {{ tasks.make.outputs.multi }}'
            deps: [add]
          boom:
            python: steps:boom
        """)
    (tmp_path / "pipelines" / "steps.py").write_text(textwrap.dedent("""
        def add(n):
            return {"total": int(n) + 1}

        def boom():
            raise ValueError("no such luck")
        """))
    result = pipe_dask(tmp_path, "run", "flow", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = tasks_of(run_doc(result))
    assert {t: v["state"] for t, v in tasks.items()} == {"make": "succeeded", "add": "succeeded",
                                                         "show": "succeeded", "boom": "failed"}
    assert tasks["make"]["outputs"] == {"count": "41", "multi": "a b"}
    assert tasks["add"]["outputs"] == {"total": 42}
    assert log_of(tmp_path, "show").read_text() == "total 42 / a b\n"
    boom = log_of(tmp_path, "boom").read_text()
    assert "Traceback (most recent call last)" in boom and "ValueError: no such luck" in boom
    assert all(e["worker"].startswith("tcp://") for e in events(tmp_path)
               if e.get("event") == "task" and e.get("state") in ("succeeded", "failed"))


# -- stopping remote tasks -----------------------------------------------------------------
def _stubborn_pipeline(project: Path, extra: str = "", others: str = "") -> Path:
    folder = stubborn(project)
    text = f"tasks:\n  stubborn:\n    run: sh stubborn.sh\n    env: {{PIDS: {folder}}}\n"
    if extra:
        text += f"    {extra}\n"
    path = project / "pipelines" / "stub.yaml"
    path.write_text(text + others)
    return folder


def _all_gone(folder: Path) -> None:
    found = {name: pid for name, pid in pids(folder).items() if name.endswith(".pid")}
    assert {"leader.pid", "child.pid", "grandchild.pid"} <= set(found), found
    wait_until(lambda: not any(alive(p) for p in found.values()),
               f"every process of the task is gone: {[(n, p) for n, p in found.items() if alive(p)]}")


def test_timeout_kills_the_remote_process_group(tmp_path, pipe_dask):
    folder = _stubborn_pipeline(tmp_path, "timeout: 4s")     # time for its children to write their pids
    result = pipe_dask(tmp_path, "run", "stub", "--json", env={"PIPE_KILL_GRACE": "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    task = tasks_of(run_doc(result))["stubborn"]
    assert task["state"] == "failed" and "timed out" in (task.get("reason") or "")
    _all_gone(folder)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_pipe_run_kills_the_remote_process_group(tmp_path, dask_cluster, sig):
    folder = _stubborn_pipeline(tmp_path)
    proc = popen_pipe(tmp_path, "run", "stub", env=dask_env(dask_cluster, PIPE_KILL_GRACE="1"))
    try:
        wait_until(lambda: {"leader.pid", "child.pid", "grandchild.pid"} <= set(pids(folder)), "the task started")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    _all_gone(folder)
    assert task_events(tmp_path, "stubborn")[-1]["state"] == "cancelled"


def test_fail_fast_kills_the_remote_process_group(tmp_path, pipe_dask):
    folder = tmp_path / "pids"
    _stubborn_pipeline(tmp_path, others=f"  fails:\n    run: 'while [ ! -e {folder}/grandchild.pid ]; "
                                        "do sleep 0.1; done; exit 3'\n")
    result = pipe_dask(tmp_path, "run", "stub", "--fail-fast", "--json", env={"PIPE_KILL_GRACE": "1"})
    assert result.returncode == 1, result.stdout + result.stderr
    tasks = tasks_of(run_doc(result))
    assert tasks["fails"]["state"] == "failed" and tasks["stubborn"]["state"] == "cancelled"
    _all_gone(folder)


# -- losing a worker, losing pipe -------------------------------------------------------------
@pytest.mark.slow
def test_worker_killed_during_a_task_is_worker_lost_and_retried_once(tmp_path, dask_cluster):
    folder = stubborn(tmp_path)
    counter = tmp_path / "starts"
    write(tmp_path, "lose", f"""
        tasks:
          once:
            run: 'echo "attempt $PIPE_ATTEMPT" >> {counter}; if [ "$PIPE_ATTEMPT" = 1 ]; then exec sh stubborn.sh; fi'
            env: {{PIDS: {folder}}}
            retries: 1
        """)
    proc = popen_pipe(tmp_path, "run", "lose", "--json", env=dask_env(dask_cluster))
    try:
        wait_until(lambda: {"worker.ppid", "grandchild.pid", "child.pid"} <= set(pids(folder)), "the task started")
        worker_pid = int((folder / "worker.ppid").read_text())
        os.kill(worker_pid, signal.SIGKILL)             # the worker process (its nanny starts another)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err, err
    attempts = [e for e in task_events(tmp_path, "once") if e["state"] in ("failed", "retrying", "succeeded")]
    first = next(e for e in attempts if e["attempt"] == 1)
    assert first["reason"] == "worker lost", attempts
    assert attempts[-1]["state"] == "succeeded" and attempts[-1]["attempt"] == 2
    assert attempts[-1]["worker"].startswith("tcp://") and attempts[-1]["worker"] != first.get("worker")
    assert counter.read_text() == "attempt 1\nattempt 2\n"     # the scheduler's rerun did not start it
    _all_gone(folder)
    scratch = Path((folder / "output.where").read_text().strip()).parent      # the attempt's folder
    wait_until(lambda: not scratch.exists(), f"the watcher removed {scratch}")
    dask_cluster.wait_ready()


@pytest.mark.slow
def test_pipe_killed_during_a_remote_task_then_resume(tmp_path, dask_cluster):
    folder = stubborn(tmp_path)
    done = tmp_path / "second-time"
    write(tmp_path, "orphan", f"""
        tasks:
          long:
            run: 'if [ -e {done} ]; then echo resumed; else exec sh stubborn.sh; fi'
            env: {{PIDS: {folder}}}
          after:
            run: echo after
            deps: [long]
        """)
    env = dask_env(dask_cluster, PIPE_DASK_LEASE="3", PIPE_KILL_GRACE="1")
    proc = popen_pipe(tmp_path, "run", "orphan", env=env)
    try:
        wait_until(lambda: {"grandchild.pid", "child.pid", "leader.pid"} <= set(pids(folder)), "the task started")
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    _all_gone(folder)            # the lease ran out on the worker: it killed the group
    done.touch()
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "resume", "orphan", "--json"], cwd=tmp_path, env=base_env(env),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {t: v["state"] for t, v in tasks_of(run_doc(result)).items()} == {"long": "succeeded",
                                                                              "after": "succeeded"}
    assert log_of(tmp_path, "long", task_events(tmp_path, "long")[-1]["attempt"]).read_text() == "resumed\n"


# -- where tasks run --------------------------------------------------------------------------
def test_resources_pick_the_worker_and_executor_local_stays_here(tmp_path, pipe_dask, dask_cluster):
    write(tmp_path, "where", """
        tasks:
          gpu1: {run: echo one, resources: {GPU: 1}}
          gpu2: {run: echo two, resources: {GPU: 1}}
          gpu3: {run: echo three, resources: {GPU: 1}}
          here: {run: echo here, executor: local}
          anywhere: {run: echo anywhere}
        """)
    result = pipe_dask(tmp_path, "run", "where", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    gpu = dask_cluster.worker_of("gpu")
    ended = {e["task"]: e["worker"] for e in events(tmp_path) if e.get("event") == "task" and e["state"] == "succeeded"}
    assert ended["gpu1"] == ended["gpu2"] == ended["gpu3"] == gpu
    assert ended["here"] == "local"
    assert ended["anywhere"] in dask_cluster.workers()
    status = pipe_dask(tmp_path, "status", "where")             # the task table names the workers
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    assert "worker" in rows["task"] and gpu in rows["gpu1"] and " local" in rows["here"]


def test_resources_no_worker_offers_is_exit_2_before_any_task(tmp_path, pipe_dask):
    write(tmp_path, "tpu", """
        tasks:
          first: {run: echo first}
          big: {run: echo big, resources: {TPU: 1}, deps: [first]}
        """)
    result = pipe_dask(tmp_path, "run", "tpu")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: task 'big' needs resources TPU=1, which no worker" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / ".pipe").rglob("*.log"))


def test_unreachable_scheduler_is_exit_2(tmp_path, pipe_dask):
    write(tmp_path, "nowhere", "tasks: {a: {run: echo a}}\n")
    address = f"tcp://127.0.0.1:{free_port()}"
    result = pipe_dask(tmp_path, "run", "nowhere",
                       env={"PIPE_DASK_SCHEDULER": address, "PIPE_DASK_CONNECT_TIMEOUT": "2"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error: cannot reach the Dask scheduler at {address} (" in result.stderr
    assert not list((tmp_path / ".pipe").rglob("events.jsonl"))    # refused before the run is recorded
    assert "Traceback" not in result.stderr


# -- tick ----------------------------------------------------------------------------------
def test_tick_on_dask_runs_each_due_interval_once(tmp_path, pipe_dask, dask_cluster):
    write(tmp_path, "hourly", """
        schedule: "@hourly"
        start_date: 2026-11-01
        catchup: true
        tasks:
          stamp: {run: 'echo "$PIPE_DS $PIPE_LOGICAL_DATE" >> ../stamps'}
        """)
    now = "2026-11-01T03:30:00+00:00"
    for _ in range(2):
        result = pipe_dask(tmp_path, "tick", "--now", now)
        assert result.returncode == 0, result.stdout + result.stderr
    stamps = (tmp_path / "stamps").read_text().splitlines()
    assert sorted(stamps) == [f"2026-11-01 2026-11-01T0{h}:00:00+00:00" for h in range(3)]
    workers = {e.get("worker") for f in (tmp_path / ".pipe").rglob("events.jsonl")
               for e in map(json.loads, f.read_text().splitlines())
               if e.get("event") == "task" and e.get("state") == "succeeded"}
    assert workers and workers <= set(dask_cluster.workers())


# -- the start-of-run check ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_workers_that_cannot_see_the_file_or_run_another_pipe_are_refused(tmp_path, start_cluster):
    """Real differences, no switch in pipe: the worker `blind` runs in its own mount namespace
    where an empty tmpfs covers the pipelines folder; the worker `old` imports a copy of
    pipe whose version differs (first on its PYTHONPATH)."""
    write(tmp_path, "seen", "tasks: {a: {run: echo a}}\n")
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare is not allowed here: {probe.stderr.decode().strip()}")
    shadow = _old_pipe(tmp_path)
    folder = str(tmp_path / "pipelines")
    cluster = start_cluster([
        {"name": "blind", "argv_prefix": ["unshare", "-Urm", "sh", "-c",
                                          f'mount -t tmpfs none {folder} && exec "$0" "$@"']},
        {"name": "old", "env": {"PYTHONPATH": str(shadow)}},
    ])
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(tmp_path / ".pipe"),
                             "run", "seen"], cwd=tmp_path, env=base_env(dask_env(cluster)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    blind, old = cluster.worker_of("blind"), cluster.worker_of("old")
    assert f"worker blind ({blind}) cannot see the pipeline file {folder}/seen.yaml" in result.stderr
    assert f"worker old ({old}) runs pipe 0.0.1-old" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / ".pipe").rglob("*.log"))


def _reached(project: Path, task: str, state: str) -> bool:
    if not list((project / ".pipe").rglob("events.jsonl")):
        return False
    return any(e.get("state") == state for e in task_events(project, task))


def _old_pipe(tmp_path: Path) -> Path:
    """A copy of pipe whose version differs, for a worker's PYTHONPATH."""
    shadow = tmp_path / "shadow"
    shutil.copytree(ROOT / "pipeline_cli", shadow / "pipeline_cli", ignore=shutil.ignore_patterns("__pycache__"))
    init = shadow / "pipeline_cli" / "__init__.py"
    init.write_text(init.read_text().replace("__version__ =", "__version__ = '0.0.1-old'  #"))
    return shadow


@pytest.mark.slow
def test_scheduler_lost_during_a_task_fails_the_attempt_and_the_run(tmp_path, start_cluster):
    folder = _stubborn_pipeline(tmp_path)
    cluster = start_cluster([{"name": "only"}])
    proc = popen_pipe(tmp_path, "run", "stub", "--json",
                      env=dask_env(cluster, PIPE_DASK_LEASE="3", PIPE_KILL_GRACE="1"))
    try:
        wait_until(lambda: {"leader.pid", "child.pid", "grandchild.pid"} <= set(pids(folder)), "the task started")
        os.killpg(cluster.procs[0].pid, signal.SIGKILL)         # the scheduler
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, out + err
    task = tasks_of(json.loads(out))["stubborn"]
    assert task["state"] == "failed" and task["reason"] == "scheduler lost", task
    assert "Traceback" not in err and "ERROR" not in err, err        # distributed's own logs stay quiet
    _all_gone(folder)           # no word from pipe (no scheduler) for the lease: the worker killed it


def test_backfill_with_the_executor_options_runs_on_the_workers(tmp_path, pipe_dask, dask_cluster):
    write(tmp_path, "daily", """
        schedule: "@daily"
        tasks:
          stamp: {run: 'echo "$PIPE_DS" >> ../stamps'}
        """)
    result = pipe_dask(tmp_path, "backfill", "daily", "--start", "2026-11-01", "--end", "2026-11-03",
                       "--executor", "dask", "--dask-scheduler", dask_cluster.address, executor=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "stamps").read_text().split() == ["2026-11-01", "2026-11-02", "2026-11-03"]
    workers = {e.get("worker") for f in (tmp_path / ".pipe").rglob("events.jsonl")
               for e in map(json.loads, f.read_text().splitlines())
               if e.get("event") == "task" and e.get("state") == "succeeded"}
    assert workers and workers <= set(dask_cluster.workers())


@pytest.mark.slow
def test_dask_without_an_address_starts_a_local_cluster_for_the_run(tmp_path, pipe_dask):
    write(tmp_path, "solo", """
        tasks:
          a: {run: 'echo a=1 >> $PIPE_OUTPUT'}
          b: {run: 'echo {{ tasks.a.outputs.a }}', deps: [a]}
        """)
    result = pipe_dask(tmp_path, "run", "solo", "--executor", "dask", "--json", executor=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.startswith("pipe: a local Dask cluster for this run at tcp://127.0.0.1:")
    assert "dashboard" in result.stderr and len(result.stderr.splitlines()) == 1     # nothing else
    assert {t: v["state"] for t, v in tasks_of(run_doc(result)).items()} == {"a": "succeeded", "b": "succeeded"}
    assert log_of(tmp_path, "b").read_text() == "1\n"
    assert all(e["worker"].startswith("tcp://127.0.0.1:") for e in events(tmp_path)
               if e.get("event") == "task" and e.get("state") == "succeeded")


def _peak_mb(pid: int) -> float:
    """The peak resident memory of a process so far (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


@pytest.mark.slow
def test_big_output_streams_whole_with_bounded_memory_everywhere(tmp_path, dask_cluster):
    """400 MB printed by a remote task: all of it in pipe's log file, and the peak memory of
    pipe, the workers and the scheduler grows by far less than the output (the queue holds
    at most 8 chunks of 256 KiB; the task waits when pipe is slower)."""
    size = 400 * 2**20
    write(tmp_path, "loud", f"""
        tasks:
          loud: {{run: 'yes 0123456789abcdef | head -c {size}'}}
        """)
    scheduler = dask_cluster.procs[0].pid
    with dask_cluster.client() as c:
        workers = list(c.run(os.getpid).values())
    before = {pid: _peak_mb(pid) for pid in [scheduler, *workers]}
    # pipe runs under a small parent that reports its peak memory (ru_maxrss of its child).
    measure = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
               "print('maxrss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "pipeline_cli",
                             "--state-dir", str(tmp_path / ".pipe"), "run", "loud"], cwd=tmp_path,
                            env=base_env(dask_env(dask_cluster)), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = log_of(tmp_path, "loud")
    assert log.stat().st_size == size
    with open(log, "rb") as f:
        assert f.read(1 << 20) == (b"0123456789abcdef\n" * 70000)[: 1 << 20]
        f.seek(size - 17 * 100)
        lines = f.read().split(b"\n")[1:]           # the first is cut by the seek, the last by head -c
        assert set(lines[:-1]) == {b"0123456789abcdef"} and b"0123456789abcdef".startswith(lines[-1])
    grew = {pid: round(_peak_mb(pid) - before[pid]) for pid in before}
    assert all(g < 100 for g in grew.values()), grew                 # scheduler and workers
    pipe_peak_mb = int(result.stderr.rsplit("maxrss", 1)[1].split()[0]) / 1024
    assert pipe_peak_mb < 250, pipe_peak_mb                          # pipe itself, Dask imported


@pytest.mark.parametrize("address", ["nonsense", "foo://127.0.0.1:1", "tcp://127.0.0.1:notaport"])
def test_a_malformed_scheduler_address_is_exit_2_at_once(tmp_path, pipe_dask, address):
    write(tmp_path, "nowhere", "tasks: {a: {run: echo a}}\n")
    result = pipe_dask(tmp_path, "run", "nowhere", "--dask-scheduler", address)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"error: --dask-scheduler {address!r}: ")
    assert "expected e.g. tcp://10.0.0.5:8786" in result.stderr and "Traceback" not in result.stderr


def test_two_runs_of_one_pipeline_at_once_each_run_every_task(tmp_path, dask_cluster):
    """Keys carry the run id: Dask never hands one run the other's result (dagster#21418)."""
    write(tmp_path, "twice", """
        tasks:
          a: {run: 'echo "$PIPE_RUN_ID" >> ../ran; echo run=$PIPE_RUN_ID >> $PIPE_OUTPUT'}
          b: {run: 'echo {{ tasks.a.outputs.run }}', deps: [a]}
        """)
    procs = [popen_pipe(tmp_path, "run", "twice", "--json", env=dask_env(dask_cluster)) for _ in range(2)]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        docs.append(json.loads(out))
    runs = {tasks_of(d)["a"]["outputs"]["run"] for d in docs}
    assert len(runs) == 2 and set((tmp_path / "ran").read_text().split()) == runs


def test_concurrency_defaults_to_the_cluster_threads(tmp_path, pipe_dask, dask_cluster):
    """Four tasks that each wait until all four have started: they finish only if the run
    keeps four in flight, the cluster's 2 + 2 worker threads (more than this machine's CPUs
    may be, the local default)."""
    with dask_cluster.client() as c:
        assert sum(c.nthreads().values()) == 4
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    tasks = "\n".join(f"  t{i}: {{run: 'touch {barrier}/{i}; while [ $(ls {barrier} | wc -l) -lt 4 ]; "
                      f"do sleep 0.1; done', timeout: 60}}" for i in range(4))
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "four.yaml").write_text(f"tasks:\n{tasks}\n")
    result = pipe_dask(tmp_path, "run", "four", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {v["state"] for v in tasks_of(run_doc(result)).values()} == {"succeeded"}


# -- fan-out, sensors and pools on the cluster -------------------------------------------------
def test_foreach_instances_are_attempts_on_workers_and_sensors_and_pools_stay_with_pipe(tmp_path, pipe_dask):
    """Each instance of a foreach task runs on a worker as an attempt of its own; a sensor is
    checked by pipe itself (no worker); a pool's slots are taken by pipe for its state folder."""
    (tmp_path / "pipe.yaml").write_text("pools:\n  api: 1\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "ready").write_text("")
    stamp = 'echo "start $(date +%s.%N)" >> ../stamps; sleep 0.3; echo "end $(date +%s.%N)" >> ../stamps'
    write(tmp_path, "fan", f"""
        concurrency: 4
        tasks:
          ready: {{wait: {{file: ready}}, every: 0.2s}}
          each:
            deps: [ready]
            foreach: [a, b, c]
            pool: api
            run: '{stamp}; echo "n=$PIPE_ITEM_INDEX" >> $PIPE_OUTPUT'
          sum: {{deps: [each], run: "echo {{{{ tasks.each.outputs | map(attribute='n') | join(',') }}}}"}}
        """)
    result = pipe_dask(tmp_path, "run", "fan", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = tasks_of(run_doc(result))
    each = doc["each"]
    assert each["state"] == "succeeded" and [o["n"] for o in each["outputs"]] == ["0", "1", "2"]
    assert all(i["worker"].startswith("tcp://127.0.0.1:") for i in each["instances"])
    assert doc["ready"]["worker"] == "local"            # the sensor was checked by pipe itself
    assert log_of(tmp_path, "sum").read_text() == "0,1,2\n"
    spans = []
    for line in (tmp_path / "stamps").read_text().splitlines():
        kind, at = line.split()
        spans.append((float(at), 1 if kind == "start" else -1))
    now = top = 0
    for _, d in sorted(spans):
        now += d
        top = max(top, now)
    assert top == 1 and len(spans) == 6                 # the pool of 1 held on the cluster too
