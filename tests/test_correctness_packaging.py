"""Issue 15 item 22: what the sdist and wheel hold, the licence, and dry runs that write nothing."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import tomllib
import zipfile

import pytest

from conftest import ROOT


def test_licence_is_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"               # PEP 639; the {text = ...} table is deprecated
    assert project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_every_subpackage_is_packaged():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["packages"]["find"]["include"] == ["pipeline_cli*"]


def test_manifest_puts_the_whole_test_suite_in_the_sdist():
    lines = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "graft tests" in lines and "graft schemas" in lines and "include LICENSE README.md" in lines


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("build") is None, reason="the `build` package is not installed")
def test_built_sdist_and_wheel_hold_what_they_must(tmp_path):
    r = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    sdist = tarfile.open(next(tmp_path.glob("*.tar.gz")))
    names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "tests/conftest.py", "tests/reliability/__init__.py", "schemas/pipeline.schema.json",
            "pipeline_cli/pipeline.schema.json"} <= names
    assert not any("__pycache__" in n or "/.venv/" in n for n in names)
    wheel = zipfile.ZipFile(next(tmp_path.glob("*.whl")))
    files = set(wheel.namelist())
    assert {"pipeline_cli/state/store.py", "pipeline_cli/executors/local.py", "pipeline_cli/pipeline.schema.json"} <= files
    assert wheel.read("pipeline_cli/pipeline.schema.json") == (ROOT / "schemas" / "pipeline.schema.json").read_bytes()
    metadata = wheel.read(next(n for n in files if n.endswith("METADATA"))).decode()
    assert "License-Expression: MIT" in metadata


@pytest.mark.parametrize("args", [["run", "s", "--dry-run"], ["tick", "--dry-run"], ["validate"], ["graph"]])
def test_dry_runs_and_read_only_commands_write_nothing(project, write_pipeline, pipe, args):
    write_pipeline("s", "schedule: '@daily'\ntasks:\n  a:\n    run: echo {{ ds }}\n")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    r = pipe(*args)
    assert r.returncode == 0, r.stderr
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
