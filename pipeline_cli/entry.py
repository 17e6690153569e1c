"""The `pipe` console script.

`pipe tick` runs every minute from cron, `pipe run` is the hot path of small runs, and
`pipe validate` and `pipe graph` are what editors and CI call on big generated files, so
these are parsed here without importing typer (which costs ~0.1 s); anything else, and any
argument this parser does not recognise (help, completion, mistakes), goes to the typer
CLI in cli.py, which owns help and error messages. tests/test_cli_parity.py checks that
the options below are exactly those that cli.py declares.
"""
from __future__ import annotations

import sys

GLOBAL_OPTIONS = {"--pipelines-dir": "pipelines_dir", "--state-dir": "state_dir"}
FAST = {
    "run": {"values": {"--date": "date", "-p": "params", "--param": "params", "--only": "only",
                       "--from": "from_", "--concurrency": "concurrency"},
            "flags": {"--force": "force", "--dry-run": "dry_run", "--fail-fast": "fail_fast", "--json": "json_mode"},
            "repeat": {"params", "only", "from_"}, "positional": (1, 1)},
    "tick": {"values": {"--now": "now", "--pipeline-file": "pipeline_file"},
             "flags": {"--dry-run": "dry_run"}, "repeat": set(), "positional": (0, 0)},
    "validate": {"values": {}, "flags": {}, "repeat": set(), "positional": (0, None)},
    "graph": {"values": {"--format": "fmt"}, "flags": {}, "repeat": set(), "positional": (0, 1),
              "defaults": {"fmt": "tree"}},
}


def parse_fast(argv: list[str]) -> tuple[dict, str, dict, list[str]] | None:
    """(globals, command, options, positionals), or None when typer must handle argv."""
    g: dict = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, value = argv[i].partition("=")
        if name not in GLOBAL_OPTIONS:
            return None
        if not eq:
            i += 1
            if i >= len(argv):
                return None
            value = argv[i]
        g[GLOBAL_OPTIONS[name]] = value
        i += 1
    if i >= len(argv) or argv[i] not in FAST:
        return None
    command, spec = argv[i], FAST[argv[i]]
    opts: dict = {}
    positional: list[str] = []
    i += 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional.extend(argv[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            if name in spec["flags"] and not eq:
                opts[spec["flags"][name]] = True
            elif name in spec["values"]:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        return None
                    value = argv[i]
                key = spec["values"][name]
                if key in spec["repeat"]:
                    opts.setdefault(key, []).append(value)
                elif key in opts:
                    return None
                else:
                    opts[key] = value
            else:
                return None
        else:
            positional.append(arg)
        i += 1
    for key, value in spec.get("defaults", {}).items():
        opts.setdefault(key, value)
    least, most = spec["positional"]
    if len(positional) < least or (most is not None and len(positional) > most):
        return None
    if "concurrency" in opts:
        try:
            opts["concurrency"] = int(opts["concurrency"])
        except ValueError:
            return None
    return g, command, opts, positional


def main() -> None:
    parsed = parse_fast(sys.argv[1:])
    if parsed is None:
        from .cli import main as typer_main

        typer_main()
        return
    from . import commands

    g, command, opts, positional = parsed
    globals_ = commands.Globals.make(g.get("pipelines_dir"), g.get("state_dir"))
    if command == "run":
        code = commands.guarded(commands.run, globals_, positional[0], **opts)
    elif command == "tick":
        code = commands.guarded(commands.tick, globals_, opts.get("now"), opts.get("dry_run", False),
                                opts.get("pipeline_file"))
    elif command == "validate":
        code = commands.guarded(commands.validate, globals_, positional or None)
    else:
        code = commands.guarded(commands.graph, globals_, positional[0] if positional else None, opts["fmt"])
    sys.stdout.flush()
    sys.exit(code)
