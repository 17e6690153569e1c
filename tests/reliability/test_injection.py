"""Issue 7: data never becomes shell code; names never lead outside the state folder; modes."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import ST, cli

NASTY = ["$(touch pwned)", "; touch pwned2", "`touch pwned3`", "a\nb; touch pwned4\n", "' ; touch pwned5 ; '",
         '" && touch pwned6 "', "$HOME", "*", "-n", "x\\", "|| touch pwned7", "\\' $(touch pwned8)"]


def no_pwned(root: Path) -> None:
    found = [p for p in root.rglob("pwned*")]
    assert not found, found


def test_params_are_data_in_shell_strings(project: Path):
    out = project / "out"
    out.mkdir()
    (project / "pipelines" / "inj.yaml").write_text(f"""
name: inj
params: {{x: default}}
tasks:
  direct:
    run: printf '%s' {{{{ params.x }}}} > {out}/direct
  argv:
    run: [sh, -c, 'printf "%s" "$1" > {out}/argv', sh, '{{{{ params.x }}}}']
""")
    for i, value in enumerate(NASTY):
        r = cli(project, "run", "inj", "-p", f"x={value}")
        assert r.returncode == 0, (value, r.stdout, r.stderr)
        assert (out / "direct").read_text() == value, value
        assert (out / "argv").read_text() == value, value
        no_pwned(project)


def test_upstream_outputs_are_data(project: Path):
    out = project / "out"
    out.mkdir()
    import shlex

    script = project / "produce.sh"
    script.write_text("".join(
        f"printf 'v{i}<<EOF_{i}\\n%s\\nEOF_{i}\\n' {shlex.quote(v)} >> \"$PIPE_OUTPUT\"\n"
        for i, v in enumerate(NASTY)))
    consumers = "".join(f"""
  use{i}:
    deps: [make]
    run: printf '%s' {{{{ tasks.make.outputs.v{i} }}}} > {out}/v{i}
""" for i in range(len(NASTY)))
    (project / "pipelines" / "up.yaml").write_text(f"""
name: up
tasks:
  make:
    run: sh {script}
{consumers}""")
    r = cli(project, "run", "up")
    assert r.returncode == 0, r.stdout + r.stderr
    for i, v in enumerate(NASTY):
        assert (out / f"v{i}").read_text() == v, i
    no_pwned(project)


def test_python_tags_never_execute(project: Path):
    (project / "pipelines" / "tags.yaml").write_text(
        "name: tags\ntasks:\n  a: {run: !!python/object/apply:os.system ['touch pwned']}\n"
        "  b: !!python/object/apply:subprocess.call [[touch, pwned2]]\n")
    for args in (["validate", "tags"], ["run", "tags"], ["run", "tags", "--dry-run"], ["graph", "tags"]):
        r = cli(project, *args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "tag" in r.stderr and "Traceback" not in r.stderr
    no_pwned(project)


OUTSIDE = ["../escape", "/tmp/pipe-escape-abs", "a/../../escape", "a\x00b", "evil\n", "..", "x" * 65, "A"]


@pytest.mark.parametrize("bad", OUTSIDE, ids=repr)
def test_names_and_ids_cannot_escape(project: Path, bad: str):
    import json

    before = set(os.listdir(project.parent)) | set(os.listdir("/tmp"))
    cases = {"name": {"name": bad, "tasks": {"a": {"run": "echo hi"}}}}
    if bad != "A":      # a valid task id
        cases["task"] = {"name": "fine", "tasks": {bad: {"run": "echo hi"}}}
        cases["dep"] = {"name": "fine", "tasks": {"a": {"run": "echo hi", "deps": [bad]}}}
    for what, doc in cases.items():
        (project / "pipelines" / f"{what}.yaml").write_text(json.dumps(doc))     # JSON is YAML
    v = cli(project, "validate")
    assert v.returncode == 2, (v.stdout, v.stderr)
    for what in cases:
        assert f"{what}.yaml:" in v.stderr, v.stderr
        r = cli(project, "run", what)
        assert r.returncode == 2 and f"{what}.yaml" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (project / ST).exists() or not list((project / ST).rglob("events.jsonl"))
    # /tmp and pytest's base folder are shared with other processes: look for what pipe could
    # have made of the hostile name there (its parts, a state folder), not for any new entry.
    new = (set(os.listdir(project.parent)) | set(os.listdir("/tmp"))) - before
    made_by_pipe = {part for part in bad.replace("\x00", "/").replace("\n", "/").split("/") if part not in ("", "..")}
    made_by_pipe |= {bad, ".pipe", "escape", "pipe-escape-abs", "fine", "name", "task", "dep"}
    assert not (new & made_by_pipe), new & made_by_pipe
    assert not (project.parent / "escape").exists() and not (project / "escape").exists()


@pytest.mark.parametrize("bad", ["../escape", "/tmp/pipe-escape-abs", "a\x00b", "..", "latest/../x"], ids=repr)
def test_cli_arguments_cannot_escape(project: Path, bad: str):
    (project / "pipelines" / "fine.yaml").write_text("name: fine\ntasks: {a: {run: echo hi}}\n")
    assert cli(project, "run", "fine").returncode == 0
    for args in (["status", "fine", "--run", bad], ["logs", "fine", "a", "--run", bad], ["resume", "fine", bad],
                 ["logs", "fine", bad], ["status", bad]):
        try:
            r = cli(project, *args)
        except ValueError:       # an argument with NUL cannot even be passed to exec
            continue
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stdout, r.stderr)
        assert bad in r.stderr and "Traceback" not in r.stderr      # no such run, task or pipeline
    assert not Path("/tmp/pipe-escape-abs").exists() and not (project.parent / "escape").exists()


def test_modes_of_state_files(project: Path):
    (project / "pipelines" / "modes.yaml").write_text("""
name: modes
schedule: '@hourly'
tasks:
  a: {run: 'echo out; echo "k=v" >> "$PIPE_OUTPUT"'}
  b: {python: mod:main, deps: [a]}
  c: {run: 'exit 3', deps: [a], retries: 1}
""")
    (project / "pipelines" / "mod.py").write_text("def main():\n    print('py')\n    return {'x': 1}\n")
    old = os.umask(0o022)
    try:
        assert cli(project, "tick", "--now", "2026-01-01T01:30:00+00:00").returncode == 1
        assert cli(project, "run", "modes").returncode == 1
        cli(project, "status", "modes")
    finally:
        os.umask(old)
    root = project / ST
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    seen = 0
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
        else:
            assert mode == 0o600, (path, oct(mode))
        seen += 1
    assert seen > 10
