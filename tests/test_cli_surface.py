"""The CLI surface: PIPELINE resolution, global options, help, `pipe schema`, lean imports."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_cli import __version__

ROOT = Path(__file__).resolve().parents[1]
SIMPLE = "tasks:\n  a:\n    run: echo hello\n"
COMMANDS = ["run", "resume", "validate", "graph", "list", "status", "logs", "tick", "backfill", "schema", "init",
            "completion", "serve", "notify test"]


# --- PIPELINE resolution -------------------------------------------------------------------

def test_resolve_by_path_name_and_file_name(project, pipe, write_pipeline):
    write_pipeline("weather", SIMPLE)
    for arg in ("pipelines/weather.yaml", str(project / "pipelines" / "weather.yaml"), "weather", "weather.yaml"):
        r = pipe("validate", arg)
        assert r.returncode == 0, (arg, r.stderr)
        assert "ok (weather, 1 task)" in r.stdout


def test_resolve_by_declared_name(project, pipe, write_pipeline):
    write_pipeline("daily-file", "name: daily\n" + SIMPLE)
    r = pipe("graph", "daily", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pipeline"] == "daily"


def test_resolve_path_outside_pipelines_folder(project, pipe):
    (project / "elsewhere").mkdir()
    (project / "elsewhere" / "x.yml").write_text(SIMPLE)
    r = pipe("validate", "elsewhere/x.yml")
    assert r.returncode == 0, r.stderr


def test_unknown_pipeline_did_you_mean(project, pipe, write_pipeline):
    write_pipeline("weather", SIMPLE)
    for cmd in (["validate", "wether"], ["graph", "wether"], ["run", "wether"], ["status", "wether"]):
        r = pipe(*cmd)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        assert "no pipeline 'wether'" in r.stderr, (cmd, r.stderr)
        assert "did you mean 'weather'?" in r.stderr, (cmd, r.stderr)


# --- global options ---------------------------------------------------------------------------

def test_version(pipe):
    r = pipe("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"pipe {__version__}"


def test_pipelines_dir_option_and_env(project, pipe):
    other = project / "flows"
    other.mkdir()
    (other / "alt.yaml").write_text(SIMPLE)
    r = pipe("validate")
    assert r.returncode == 2          # pipelines/ is empty
    r = pipe("--pipelines-dir", "flows", "validate")
    assert r.returncode == 0, r.stderr
    assert "flows/alt.yaml: ok" in r.stdout
    r = pipe("--pipelines-dir=flows", "graph", "alt")
    assert r.returncode == 0, r.stderr
    r = pipe("validate", env={"PIPE_PIPELINES_DIR": "flows"})
    assert r.returncode == 0, r.stderr
    assert "flows/alt.yaml: ok" in r.stdout
    r = pipe("run", "alt", env={"PIPE_PIPELINES_DIR": "flows"})
    assert r.returncode == 0, r.stderr
    # the option wins over the environment
    r = pipe("--pipelines-dir", "flows", "validate", env={"PIPE_PIPELINES_DIR": "nowhere"})
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("how", ["option", "option=", "env"])
def test_state_dir_option_and_env(project, pipe, write_pipeline, how):
    write_pipeline("simple", SIMPLE)
    if how == "option":
        args, env = ["--state-dir", "st"], None
    elif how == "option=":
        args, env = ["--state-dir=st"], None
    else:
        args, env = [], {"PIPE_STATE_DIR": "st"}
    r = pipe(*args, "run", "simple", env=env)
    assert r.returncode == 0, r.stderr
    assert (project / "st").is_dir()
    assert not (project / ".pipe").exists()
    r = pipe(*args, "list", "--json", env=env)
    row = json.loads(r.stdout)["pipelines"][0]
    assert row["last_state"] == "succeeded"
    # the default state folder knows nothing of that run
    r = pipe("list", "--json")
    assert "last_state" not in json.loads(r.stdout)["pipelines"][0]


def test_default_state_dir(project, pipe, write_pipeline):
    write_pipeline("simple", SIMPLE)
    assert pipe("run", "simple").returncode == 0
    assert (project / ".pipe").is_dir()


def test_bad_arguments_exit_2_without_traceback(project, pipe, write_pipeline):
    write_pipeline("simple", SIMPLE)
    for args in (["nosuchcommand"], ["run"], ["run", "simple", "--concurrency", "x"], ["list", "--bogus"],
                 ["--bogus", "list"], ["run", "simple", "-p", "novalue"]):
        r = pipe(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr, args


# --- help and schema --------------------------------------------------------------------------

def test_top_help(pipe):
    r = pipe("--help")
    assert r.returncode == 0
    assert "example" in r.stdout.lower()
    for cmd in COMMANDS:
        assert cmd in r.stdout
    assert "--pipelines-dir" in r.stdout and "--state-dir" in r.stdout and "--version" in r.stdout


def test_every_declared_command_is_tested_here():
    from pipeline_cli import cli

    assert sorted(c.name for c in cli.COMMANDS) == sorted(COMMANDS)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_subcommand_help(pipe, cmd):
    r = pipe(*cmd.split(), "--help")
    assert r.returncode == 0, r.stderr
    assert f"pipe {cmd}" in r.stdout
    assert "example" in r.stdout.lower(), r.stdout
    assert "Traceback" not in r.stderr


def test_schema_command(pipe):
    r = pipe("schema")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc == json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(doc)


def test_packaged_schema_is_the_shipped_one():
    packaged = ROOT / "pipeline_cli" / "pipeline.schema.json"
    assert packaged.read_bytes() == (ROOT / "schemas" / "pipeline.schema.json").read_bytes()


# --- lean imports -------------------------------------------------------------------------------

EXTRAS = ("pipeline_cli.web", "pipeline_cli.executors.dask")     # import their extra where they are used
HEAVY = ("rich", "typer", "click", "starlette", "uvicorn", "dask", "distributed", "apprise")


def _core_modules() -> list[str]:
    import pkgutil

    import pipeline_cli

    names = ["pipeline_cli"]
    for m in pkgutil.walk_packages(pipeline_cli.__path__, "pipeline_cli."):
        if not m.name.startswith(EXTRAS) and m.name != "pipeline_cli.__main__":
            names.append(m.name)
    return names


def test_core_does_not_import_rich_typer_or_extras():
    """Every module but the extras' own (cli, commands, render included) imports none of
    rich, typer or the extras at module level: rich is imported where a terminal is drawn."""
    modules = _core_modules()
    assert "pipeline_cli.cli" in modules and "pipeline_cli.commands" in modules and "pipeline_cli.render" in modules
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"core imported: {r.stdout.strip()}"


def test_typer_is_not_a_dependency():
    """One parser, our own (cli.py): typer is neither imported nor required."""
    text = (ROOT / "pyproject.toml").read_text()
    assert "typer" not in text
    assert not list((ROOT / "pipeline_cli").rglob("*.py")) or all(
        "import typer" not in p.read_text(encoding="utf-8") for p in (ROOT / "pipeline_cli").rglob("*.py"))


def test_validate_and_graph_run_without_tracebacks_on_unreadable_input(project, pipe):
    (project / "pipelines" / "bin.yaml").write_bytes(b"\xff\xfe\x00tasks")
    r = pipe("validate", "bin")
    assert r.returncode == 2
    assert "pipelines/bin.yaml: the file is not UTF-8" in r.stderr or "not UTF-8" in r.stderr
    assert "Traceback" not in r.stderr
