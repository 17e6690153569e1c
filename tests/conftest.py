"""Shared fixtures for the pipe test suite.

- ``project``: an empty temporary project folder (``tmp_path``) with a ``pipelines/`` folder.
- ``pipe``: runs the real CLI in a subprocess, ``[sys.executable, "-m", "pipeline_cli", *args]``,
  with cwd = the project folder and an environment without any ``PIPE_*`` variable (and
  ``NO_COLOR=1``). Returns a ``subprocess.CompletedProcess`` with text stdout/stderr.
  Keyword arguments: ``env`` (extra variables), ``cwd``, ``timeout`` (default 120), ``input``.
- ``write_pipeline``: ``write_pipeline(name, text)`` writes ``<project>/pipelines/<name>``
  (``.yaml`` is appended when the name has no suffix) from ``textwrap.dedent(text)`` and
  returns its Path.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ without PIPE_* variables, plus NO_COLOR=1 and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPE_")}
    env["NO_COLOR"] = "1"
    env.pop("FORCE_COLOR", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if extra:
        env.update(extra)
    return env


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
