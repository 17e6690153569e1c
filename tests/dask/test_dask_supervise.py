"""The worker side's pieces that need no cluster, with real processes: the watcher that
kills an attempt's process group (and removes its folder) when the worker process dies, and
the check a worker makes of itself before an attempt."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dask_cluster import base_env

from pipeline_cli import __version__
from pipeline_cli.executors import supervise


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_watcher_kills_the_groups_left_when_its_worker_goes(tmp_path):
    folder = tmp_path / "attempt"
    folder.mkdir()
    # A group whose members ignore SIGTERM, and one the worker said had ended.
    kept = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & wait"], start_new_session=True)
    ended = subprocess.Popen(["sleep", "300"], start_new_session=True)
    watcher = subprocess.Popen([sys.executable, "-m", "pipeline_cli.executors.supervise", "--watch"],
                               stdin=subprocess.PIPE, env=base_env(), start_new_session=True)
    try:
        watcher.stdin.write(f"+{kept.pid} {folder}\n+{ended.pid} \n-{ended.pid}\n".encode())
        watcher.stdin.flush()
        watcher.stdin.close()                  # what the worker's death does to the pipe
        assert watcher.wait(60) == 0
        kept.wait(10)
        assert kept.returncode == -signal.SIGKILL
        assert not folder.exists()
        assert _alive(ended.pid)               # forgotten: not the watcher's to kill
    finally:
        for p in (kept, ended):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def test_a_worker_checks_its_pipe_and_the_pipeline_file(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("tasks: {a: {run: echo a}}\n")
    digest = supervise.file_digest(str(path))
    assert supervise._differs({"version": __version__, "pipeline_file": (str(path), digest)}) is None
    assert supervise._differs({"version": "0.0.0", "pipeline_file": (str(path), digest)}) == \
        f"runs pipe {__version__}, not 0.0.0 as pipe does"
    time.sleep(0.01)
    path.write_text("tasks: {b: {run: echo b}}\n")       # another content at the same path
    assert "sees another pipeline file" in supervise._differs({"version": __version__,
                                                             "pipeline_file": (str(path), digest)})
    path.unlink()
    assert "cannot see the pipeline file" in supervise._differs({"version": __version__,
                                                               "pipeline_file": (str(path), digest)})
    found = supervise.check_worker(str(tmp_path / "missing.yaml"))
    assert found["version"] == __version__ and "error" in found
