"""entry.py's lean parser (FAST, GLOBAL_OPTIONS) declares exactly what cli.py's typer app does."""
from __future__ import annotations

import inspect

import typer

from pipeline_cli import cli, commands, entry


def _is_option(param) -> bool:
    """typer >= 0.2x vendors click (typer._click), so compare by kind rather than class."""
    return param.param_type_name == "option"


def _options(command) -> tuple[dict[str, str], dict[str, str]]:
    """(option name -> parameter name for options taking a value, flag name -> parameter name)."""
    values, flags = {}, {}
    for param in command.params:
        if not _is_option(param):
            continue
        if param.name in ("help", "install_completion", "show_completion"):
            continue       # added by typer itself; the lean parser hands them over
        target = flags if param.is_flag else values
        for opt in param.opts:
            target[opt] = param.name
    return values, flags


def _positionals(command) -> list:
    return [p for p in command.params if p.param_type_name == "argument"]


def test_global_options_match_callback():
    group = typer.main.get_command(cli.app)
    values, flags = _options(group)
    assert values == entry.GLOBAL_OPTIONS
    # --version is eager and handled by typer only (the lean parser hands it over)
    assert set(flags) == {"--version"}
    from pipeline_cli.entry import parse_fast

    assert parse_fast(["--version"]) is None


def test_fast_commands_match_typer_commands():
    group = typer.main.get_command(cli.app)
    assert set(entry.FAST) <= set(group.commands)
    for name, spec in entry.FAST.items():
        command = group.commands[name]
        values, flags = _options(command)
        hidden = {o for p in command.params if _is_option(p) and p.hidden for o in p.opts}
        assert set(spec["values"]) == set(values), name
        assert set(spec["flags"]) == set(flags), name
        # options that share a parameter in typer (-p/--param) share a destination in entry.py
        for table, typer_table in ((spec["values"], values), (spec["flags"], flags)):
            for opt in table:
                same = {o for o in typer_table if typer_table[o] == typer_table[opt]}
                assert {o for o in table if table[o] == table[opt]} == same, (name, opt)
        repeat = {spec["values"][o] for p in command.params if _is_option(p) and p.multiple for o in p.opts}
        assert spec["repeat"] == repeat, name
        # every destination is a keyword of the command function it is passed to
        params = set(inspect.signature(getattr(commands, name)).parameters)
        assert set(spec["values"].values()) | set(spec["flags"].values()) <= params, name
        least = sum(p.nargs if p.nargs > 0 else 0 for p in _positionals(command) if p.required)
        most = None if any(p.nargs < 0 for p in _positionals(command)) else \
            sum(p.nargs for p in _positionals(command))
        assert spec["positional"] == (least, most), name
        # a value the lean parser fills in is typer's default for that option
        defaults = {p.name: p.default for p in command.params if _is_option(p) and not p.is_flag}
        for dest, value in spec.get("defaults", {}).items():
            assert defaults[dest] == value, (name, dest)
        assert {d for d, v in defaults.items() if v is not None} <= set(spec.get("defaults", {})) | \
            {d for d in defaults if d in spec["repeat"]}, name
        assert hidden <= set(values) | set(flags)


def test_fast_path_parses_like_typer():
    parsed = entry.parse_fast(["--state-dir", "s", "run", "weather", "-p", "a=1", "--param=b=2", "--only", "x,y",
                               "--concurrency", "3", "--json", "--fail-fast"])
    assert parsed is not None
    g, command, opts, positional = parsed
    assert g == {"state_dir": "s"} and command == "run" and positional == ["weather"]
    assert opts == {"params": ["a=1", "b=2"], "only": ["x,y"], "concurrency": 3, "json_mode": True,
                    "fail_fast": True}
    # anything it does not know goes to typer
    assert entry.parse_fast(["validate"])[1:] == ("validate", {}, [])
    assert entry.parse_fast(["validate", "a", "b.yaml"])[3] == ["a", "b.yaml"]
    assert entry.parse_fast(["graph", "w", "--format=json"])[1:] == ("graph", {"fmt": "json"}, ["w"])
    assert entry.parse_fast(["graph"])[2] == {"fmt": "tree"}
    for argv in (["run", "--help"], ["run"], ["run", "a", "b"], ["run", "a", "--bogus"], ["tick", "x"],
                 ["run", "a", "--concurrency", "x"], ["list"], [], ["graph", "a", "b"], ["graph", "--format"],
                 ["validate", "--help"], ["graph", "a", "--json"]):
        assert entry.parse_fast(argv) is None, argv
