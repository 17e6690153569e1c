"""The README's command blocks run as written: "Your first pipeline" in an empty home
folder, "A walkthrough" in a copy of the project (each block as one `sh -e` script, with
`pipe` on PATH as a user has it)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import clean_env

ROOT = Path(__file__).resolve().parents[1]


def block(heading: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1)


def run_script(script: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    bindir = home / ".bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (bindir / "pipe").write_text(f"#!/bin/sh\nexec {sys.executable} -m pipeline_cli \"$@\"\n")
    (bindir / "pipe").chmod(0o755)
    env = clean_env({"HOME": str(home), "PATH": f"{bindir}:/usr/bin:/bin"})
    return subprocess.run(["sh", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_your_first_pipeline_runs_as_written(tmp_path):
    script = block("Your first pipeline")
    assert script.startswith("mkdir ~/myproject && cd ~/myproject")
    r = run_script(script, tmp_path, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "pipelines/hello.yaml: ok (hello, 3 tasks)" in r.stdout
    assert "hello: run " in r.stdout and "succeeded" in r.stdout and "(3 succeeded)" in r.stdout
    assert ": 3 words" in r.stdout                                 # pipe logs hello count
    assert "write\n└── count\n    └── report" in r.stdout         # pipe graph hello
    assert (tmp_path / "myproject" / ".pipe" / "hello").is_dir()


def test_the_walkthrough_runs_as_written(tmp_path):
    script = block("A walkthrough")
    if shutil.which("dot") is None:
        script = script.replace("| dot -Tsvg > all.svg", "> all.dot")
    project = tmp_path / "project"
    shutil.copytree(ROOT / "pipelines", project / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    r = run_script(script, project, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "weather: backfill of 7 intervals" in r.stdout
    assert "umbrella: run " in r.stdout

