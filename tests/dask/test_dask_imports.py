"""A local run never imports dask or distributed (SPEC section 7): they cost ~0.2 s and are
an extra. Checked on the real CLI with `python -X importtime`, which lists every module
imported."""
from __future__ import annotations

import re
import subprocess
import sys

from dask_cluster import base_env

DASK_MODULE = re.compile(r"\|\s*(distributed|dask)(\.\S+)?\s*$", re.M)


def test_a_local_run_imports_neither_dask_nor_distributed(tmp_path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "tasks:\n  a: {run: 'echo a', resources: {GPU: 1}}\n  b: {python: m:f, deps: [a]}\n")
    (tmp_path / "pipelines" / "m.py").write_text("def f():\n    return {'x': 1}\n")
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline_cli", "run", "p"],
                            cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "pipeline_cli.run.loop" in result.stderr          # the listing is there, and the run ran
    assert not DASK_MODULE.findall(result.stderr)


def test_the_dask_executor_does_import_them(tmp_path):
    """The check above can fail: the same listing names distributed when it is imported."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pipeline_cli.executors.dask"],
                            cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "distributed" in {m[0] for m in DASK_MODULE.findall(result.stderr)}
