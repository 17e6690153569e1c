"""The project's own documentation (docs/) says what pipe does and cannot drift from it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

import generate  # noqa: E402  (docs/generate.py)


def test_generated_docs_are_up_to_date():
    r = subprocess.run([sys.executable, str(DOCS / "generate.py"), "--check"], capture_output=True, text=True,
                       cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_schema_field_is_documented():
    schema = json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())
    text = (DOCS / "pipeline-files.md").read_text()
    names = [name for name, _ in generate.fields(schema)]
    assert "tasks.<id>.run" in names and "notify.to" in names and "schedule" in names
    for name, spec in generate.fields(schema):
        assert f"### `{name}`" in text, name
        assert spec.get("description"), f"{name} has no description in the schema"
    for name in schema["$defs"]["defaults"]["properties"]:
        assert name in schema["$defs"]["task"]["properties"], f"defaults.{name} is no task field"


def test_every_command_is_in_the_reference_as_help_prints_it():
    from pipeline_cli import cli

    text = (DOCS / "commands.md").read_text()
    assert "notify test" in cli.command_names() and "run" in cli.command_names()
    for name in cli.command_names():
        assert f"## pipe {name}\n" in text
        assert cli.help_text(name).rstrip() in text
    assert cli.help_text().rstrip() in text


def test_template_names_and_pipe_variables_are_documented(tmp_path):
    """Every name of an attempt's template context and every PIPE_* variable it gets, as the
    run context really makes them."""
    from datetime import datetime, timezone

    from pipeline_cli import spec
    from pipeline_cli.run.attempts import AttemptBuilder
    from pipeline_cli.schedule import Interval

    path = tmp_path / "p.yaml"
    path.write_text("params: {city: Oslo}\ntasks:\n  a:\n    run: echo\n")
    p = spec.load(path)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    run = AttemptBuilder(p, "20261101T000000000Z-manual-abcd", Interval(start, start), {"city": "Oslo"})
    actx = run.attempt_context(p.tasks["a"], 1, str(tmp_path / "out"))
    ctx, added = actx.context, actx.added
    text = (DOCS / "templates.md").read_text()
    assert {"ds", "ds_nodash", "ts", "run_id", "params", "tasks", "env", "task", "attempt"} <= set(ctx)
    for name in ctx:
        assert f"`{name}`" in text or f"`{name}." in text, name
    variables = {k for k in added if k.startswith("PIPE_")}       # what pipe adds, not the inherited
    assert {"PIPE_PARAM_CITY", "PIPE_OUTPUT", "PIPE_DS", "PIPE_RUN_ID"} <= variables
    for var in variables - {"PIPE_PARAM_CITY"}:
        assert f"`{var}`" in text or var in text, var
    assert "PIPE_PARAM_<NAME>" in text


def test_readme_points_inside_the_repository():
    """No SPEC.md that is not in the repository; every relative link resolves."""
    readme = (ROOT / "README.md").read_text()
    assert "SPEC" not in readme, "the README points to a contract that is not in the repository"
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), target
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", page.read_text()):
            assert (page.parent / target).exists(), (page.name, target)
