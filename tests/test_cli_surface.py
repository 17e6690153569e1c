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
            "completion", "serve", "notify test", "pause", "unpause", "prune", "pools", "assets", "asset mark"]


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

    assert sorted(cli.command_names()) == sorted(COMMANDS)


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

EXTRAS = ("pipeline_cli.web", "pipeline_cli.executors.dask", "pipeline_cli.cli")   # cli: Typer's     # import their extra where they are used
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
    """Every module but the extras' own and the command line's (commands and render
    included) imports none of rich, typer or the extras at module level: rich is imported
    where a terminal is drawn."""
    modules = _core_modules()
    assert "pipeline_cli.commands" in modules and "pipeline_cli.render" in modules
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
            "print(','.join(bad))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"core imported: {r.stdout.strip()}"


def test_the_command_line_is_typer_and_a_dependency():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("typer") for d in deps)
    assert "import typer" in (ROOT / "pipeline_cli" / "cli" / "app.py").read_text()
    assert not (ROOT / "pipeline_cli" / "cli.py").exists(), "one command line, not two"


def test_idle_tick_imports_only_what_it_needs(project, write_pipeline):
    """Typer is imported; what an idle tick does not use is not."""
    write_pipeline("s", 'schedule: "0 3 * * *"\nstart_date: 2026-01-01\ntasks:\n  a:\n    run: "true"\n')
    code = ("import sys, runpy; sys.argv = ['pipe', 'tick', '--now', '2026-06-01T03:05:30+00:00']\n"
            "try:\n    runpy.run_module('pipeline_cli', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & "
            "{'typer', 'click', 'jsonschema', 'jinja2', 'apprise', 'starlette', 'dask', 'distributed', 'rich'}))\n")
    from conftest import clean_env

    for _ in range(2):     # the second tick: nothing due, the quiet path
        r = subprocess.run([sys.executable, "-c", code], cwd=project, env=clean_env(), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 ['click', 'typer']", r.stdout


# --- usage errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["rnu"], "error: unknown command 'rnu' (did you mean run?)"),
    (["graph", "--json"], "error: unknown option --json (did you mean --format json?)"),
    (["list", "--jsn"], "error: unknown option --jsn (did you mean --json?)"),
    (["run"], "error: missing PIPELINE"),
    (["run", "s", "--date"], "error: --date needs a value (D)"),
    (["run", "s", "--force=yes"], "error: --force takes no value"),
    (["run", "s", "--concurrency", "x"], "error: --concurrency 'x': expected a whole number"),
    (["graph", "s", "--format", "png"], "error: --format 'png': expected one of tree, mermaid, dot, json"),
    (["backfill", "s", "--end", "2026-01-02"], "error: missing option --start D"),
    (["graph", "s", "extra"], "error: unexpected argument 'extra'"),
    (["run", "s", "--dask-wait-workers", "soon"], "error: --dask-wait-workers 'soon': 'soon' is not a duration"),
    (["notify"], "error: notify: expected a subcommand: test"),
])
def test_usage_errors_are_one_line_exit_2(project, pipe, write_pipeline, args, says):
    write_pipeline("s", SIMPLE)
    r = pipe(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.startswith(says), r.stderr
    assert "see: pipe" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 2


def test_no_arguments_prints_the_help(pipe):
    r = pipe()
    assert r.returncode == 0 and r.stdout == pipe("--help").stdout
    assert "commands:" in r.stdout


def test_global_options_after_the_command_win_over_the_environment(project, pipe, write_pipeline):
    write_pipeline("s", SIMPLE)
    assert pipe("--state-dir", "a", "run", "s", env={"PIPE_STATE_DIR": "env"}).returncode == 0
    assert pipe("run", "s", "--state-dir", "b", env={"PIPE_STATE_DIR": "env"}).returncode == 0
    assert pipe("run", "s", "--version").stdout.strip() == f"pipe {__version__}"
    assert (project / "a" / "s").is_dir() and (project / "b" / "s").is_dir() and not (project / "env").exists()


def test_dask_options_reach_the_executor_choice(project, pipe, write_pipeline):
    """--dask-scheduler alone means dask: an unreachable address is refused (exit 2) before
    anything runs, where a local run would have succeeded."""
    write_pipeline("s", SIMPLE)
    r = pipe("run", "s", "--dask-scheduler", "nonsense", "--dask-wait-workers", "5s")
    assert r.returncode == 2 and "--dask-scheduler 'nonsense'" in r.stderr or "dask" in r.stderr, r.stderr
    assert not (project / ".pipe" / "s").exists()
    r = pipe("run", "s", "--executor", "local", "--dask-wait-workers", "5s")
    assert r.returncode == 0, r.stderr


def test_validate_and_graph_run_without_tracebacks_on_unreadable_input(project, pipe):
    (project / "pipelines" / "bin.yaml").write_bytes(b"\xff\xfe\x00tasks")
    r = pipe("validate", "bin")
    assert r.returncode == 2
    assert "pipelines/bin.yaml: the file is not UTF-8" in r.stderr or "not UTF-8" in r.stderr
    assert "Traceback" not in r.stderr
