"""Shared fixtures for the pipe test suite.

- ``project``: an empty temporary project folder (``tmp_path``) with a ``pipelines/`` folder.
- ``pipe``: runs the real CLI in a subprocess, ``[sys.executable, "-m", "pipeline_cli", *args]``,
  with cwd = the project folder and an environment without any ``PIPE_*`` variable (and
  ``NO_COLOR=1``). Returns a ``subprocess.CompletedProcess`` with text stdout/stderr.
  Keyword arguments: ``env`` (extra variables), ``cwd``, ``timeout`` (default 120), ``input``.
- ``write_pipeline``: ``write_pipeline(name, text)`` writes ``<project>/pipelines/<name>``
  (``.yaml`` is appended when the name has no suffix) from ``textwrap.dedent(text)`` and
  returns its Path.

Plain helpers (import them: ``from conftest import cli, latest, ...``); the state folder is
``ST`` (``st/``) and the pipelines folder ``pipelines/``, both relative to the project folder:

- ``pipe_cmd(*args)``: the argv of ``python -m pipeline_cli --state-dir st --pipelines-dir
  pipelines *args``.
- ``cli(project, *args, env=None, timeout=120, **kw)``: runs it to its end in ``project``
  (environment from ``clean_env(env)``, text output captured); extra keywords go to
  ``subprocess.run`` (``input``, ``preexec_fn``).
- ``start(project, *args, env=None, **kw)``: the same as a running ``subprocess.Popen``
  (stdout/stderr piped, text, unless ``kw`` says otherwise).
- ``status_json(project, name)``: ``pipe status NAME --json``, checked for exit 0, parsed;
  ``latest(project, name)`` is its ``run`` (the latest); ``states(doc)`` maps task -> state.
- ``read_events(path)``: the events of an ``events.jsonl`` (or any JSON-lines file), failing
  the test unless every line parses, except a torn last line.
- ``wait_for(path)``: waits until the file has content and returns it;
  ``wait_until(condition, what)``: polls ``condition()`` until it is true.
- ``alive(pid)``: whether a process exists and is not a zombie.
- ``clean_env(extra)``: ``os.environ`` without ``PIPE_*`` variables, with ``NO_COLOR=1`` and
  ``extra``; ``ROOT``: the repository's folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
ST = "st"      # the state folder of the helpers below, relative to the project folder


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without PIPE_* variables, plus NO_COLOR=1 and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_")}
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


def pipe_cmd(*args: str) -> list[str]:
    """argv of pipe with the state in st/ and the pipelines in pipelines/ of the cwd."""
    return [sys.executable, "-m", "pipeline_cli", "--state-dir", ST, "--pipelines-dir", "pipelines", *map(str, args)]


def cli(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
        **kw) -> subprocess.CompletedProcess:
    """Run pipe in ``project`` to its end; text stdout/stderr captured."""
    return subprocess.run(pipe_cmd(*args), cwd=project, env=clean_env(env), capture_output=True, text=True,
                          timeout=timeout, **kw)


def start(project: Path, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    """Start pipe in ``project`` and return at once; stdout/stderr piped as text unless ``kw`` says otherwise."""
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kw}
    return subprocess.Popen(pipe_cmd(*args), cwd=project, env=clean_env(env), **kw)


def status_json(project: Path, name: str) -> dict:
    """``pipe status NAME --json``, which must exit 0, parsed."""
    r = cli(project, "status", name, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)


def latest(project: Path, name: str) -> dict:
    """The latest run of a pipeline: the ``run`` of ``pipe status NAME --json``."""
    return status_json(project, name)["run"]


def states(doc: dict) -> dict[str, str]:
    """{task: state} of a run's JSON document."""
    return {t: v["state"] for t, v in doc["tasks"].items()}


def read_events(path: Path) -> list[dict]:
    """The JSON lines of ``path``: every line must parse, except possibly a torn last one."""
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    events = []
    for i, line in enumerate(lines):
        try:
            events.append(json.loads(line))
        except ValueError:
            assert i == len(lines) - 1, f"{path}: line {i + 1} of {len(lines)} is garbled: {line[:100]!r}"
    return events


def wait_until(condition: Callable[[], object], what: str, limit: float = 20) -> None:
    """Poll ``condition()`` every 20 ms until it is true; fail the test after ``limit`` seconds."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"timed out waiting: {what}"
        time.sleep(0.02)


def task_reached(state_dir: Path, pipeline: str, task: str, state: str) -> bool:
    """Whether the latest run of `pipeline` in `state_dir` has recorded `task` in `state`
    (read from its events file, as every reader does)."""
    files = sorted(Path(state_dir).glob(f"{pipeline}/runs/*/events.jsonl"))
    return bool(files) and any(e.get("event") == "task" and e.get("task") == task and e.get("state") == state
                               for e in read_events(files[-1]))


def wait_for(path: Path, limit: float = 15) -> str:
    """Wait until ``path`` exists with some content, then return its text."""
    wait_until(lambda: path.exists() and path.read_text().strip(), f"{path} to be written", limit)
    time.sleep(0.05)          # let the writer finish its line
    return path.read_text()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with an empty pipelines/ folder in it."""
    (tmp_path / "pipelines").mkdir(exist_ok=True)
    return tmp_path


@pytest.fixture
def pipe(project: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m pipeline_cli *args`` in the project folder."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pipeline_cli", *map(str, args)],
            cwd=str(cwd or project), env=clean_env(env), text=True,
            capture_output=True, timeout=timeout, input=input,
        )

    return run


@pytest.fixture
def write_pipeline(project: Path) -> Callable[[str, str], Path]:
    """Write a pipeline file into <project>/pipelines/ and return its path."""

    def write(name: str, text: str) -> Path:
        path = project / "pipelines" / name
        if not path.suffix:
            path = path.with_suffix(".yaml")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
