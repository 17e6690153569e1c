"""Issue 7: secret values reach tasks but are never printed or stored."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import ST, cli

SECRET = "abcdef"


def pipeline(project: Path, dotenv: bool) -> None:
    out = project / "out"
    out.mkdir(exist_ok=True)
    (project / "pipelines" / "sec.yaml").write_text(f"""
name: sec
secrets: [API_TOKEN]
{"dotenv: .env" if dotenv else ""}
params: {{p: x}}
env: {{TOKEN_COPY: "{{{{ env.API_TOKEN }}}}"}}
tasks:
  use:
    run: |
      printf '%s' "$API_TOKEN" | sha256sum | cut -d' ' -f1 > {out}/hash
      printf 'abc'; sleep 0.1; printf 'def\\n'
      printf 'ab'; sleep 0.05; printf 'c'; sleep 0.05; printf 'def\\n' >&2
      echo "token=$API_TOKEN copy=$TOKEN_COPY"
      echo "tok=$API_TOKEN" >> "$PIPE_OUTPUT"
  templated:
    run: echo {{{{ env.API_TOKEN }}}} {{{{ tasks.use.outputs.tok }}}}
    deps: [use]
  argv:
    run: [echo, "{{{{ env.API_TOKEN }}}}"]
    deps: [use]
  py:
    python: mod:main
    with: {{t: "{{{{ env.API_TOKEN }}}}"}}
  failing:
    run: echo "failing with $API_TOKEN"; exit 1
""")
    (project / "pipelines" / "mod.py").write_text(
        "import os\ndef main(t):\n    print('py', t, os.environ['API_TOKEN'])\n    return {'t': t}\n")
    if dotenv:
        (project / "pipelines" / ".env").write_text(f"# the token\nAPI_TOKEN={SECRET}\n")


@pytest.mark.parametrize("source", ["environment", "dotenv"])
def test_secret_is_used_but_never_shown(project: Path, source: str):
    pipeline(project, dotenv=source == "dotenv")
    env = {"API_TOKEN": SECRET} if source == "environment" else {}
    shown = []
    r = cli(project, "run", "sec", env=env)
    assert r.returncode == 1, r.stdout + r.stderr     # `failing` fails
    shown += [r.stdout, r.stderr]
    assert (project / "out" / "hash").read_text().strip() == hashlib.sha256(SECRET.encode()).hexdigest()
    for args in (["run", "sec", "--json"], ["run", "sec", "--dry-run"], ["run", "sec", "--dry-run", "--json"],
                 ["status", "sec"], ["status", "sec", "--json"], ["logs", "sec"], ["logs", "sec", "use"],
                 ["logs", "sec", "templated"], ["logs", "sec", "argv"], ["logs", "sec", "py"],
                 ["logs", "sec", "failing"], ["resume", "sec"]):
        r = cli(project, *args, env=env)
        assert "Traceback" not in r.stderr, r.stderr
        shown += [r.stdout, r.stderr]
    for text in shown:
        assert SECRET not in text, text
    assert "***" in "".join(shown)
    json.loads(cli(project, "run", "sec", "--json", env=env).stdout)
    # Not in any events file or task log (the raw $PIPE_OUTPUT file is the task's own).
    files = [p for p in (project / ST).rglob("*") if p.is_file() and p.parent.name != "outputs"]
    assert any(p.name == "events.jsonl" for p in files) and any(p.suffix == ".log" for p in files)
    for p in files:
        assert SECRET.encode() not in p.read_bytes(), p
    use_log = next((project / ST).rglob("use.1.log")).read_text()
    assert "token=*** copy=***" in use_log


def test_missing_secret_is_a_clear_error(project: Path):
    pipeline(project, dotenv=False)
    for args in (["run", "sec"], ["run", "sec", "--dry-run"]):
        r = cli(project, *args)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "API_TOKEN" in r.stderr and "Traceback" not in r.stderr
    assert not list((project / ST).rglob("events.jsonl"))
