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


def test_a_worker_checks_the_modules_of_the_python_tasks(tmp_path):
    mod = tmp_path / "mathmod.py"
    mod.write_text("def compute():\n    return {'v': 42}\n")
    modules = [[str(mod), supervise.file_digest(str(mod))]]
    opts = {"version": __version__, "modules": modules}
    assert supervise._differs(opts) is None
    time.sleep(0.01)
    mod.write_text("def compute():\n    return {'v': 21000}\n")
    assert supervise._differs(opts) == (f"sees another copy of {mod}, a module the pipeline's Python tasks "
                                        "import (its content differs)")
    mod.unlink()
    assert supervise._differs(opts).startswith(f"cannot see {mod}, a module the pipeline's Python tasks import")
    assert supervise.check_worker(str(mod), modules)["differs"].startswith("cannot see")


def test_the_modules_checked_are_those_the_python_tasks_import_from_the_pipeline_folder(tmp_path):
    from pipeline_cli.executors.dask import task_modules

    folder = tmp_path / "pipelines"
    (folder / "pkg").mkdir(parents=True)
    (folder / "p.yaml").write_text('tasks:\n  a: {python: "mathmod:compute"}\n  b: {python: "pkg.sub:go"}\n'
                                   '  c: {run: echo c}\n')
    (folder / "mathmod.py").write_text("import os\nimport helper\nfrom pkg import thing\n\n\n"
                                       "def compute():\n    return {'v': 42}\n")
    (folder / "helper.py").write_text("ANSWER = 42\n")
    (folder / "unused.py").write_text("NOTHING = 0\n")
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "sub.py").write_text("from . import other\n\n\ndef go():\n    return None\n")
    (folder / "pkg" / "other.py").write_text("from .thing import y\n")
    (folder / "pkg" / "thing.py").write_text("y = 1\n")
    found = task_modules(str(folder / "p.yaml"))
    assert [p for p, _ in found] == [str(folder / n) for n in
                                     ("helper.py", "mathmod.py", "pkg/__init__.py", "pkg/other.py", "pkg/sub.py",
                                      "pkg/thing.py")]
    assert all(d == supervise.file_digest(p) for p, d in found)
