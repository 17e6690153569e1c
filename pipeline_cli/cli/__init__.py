"""pipe's command line, built with Typer (and Click under it).

    app.py      the Typer app, the global options every command takes, call(handler, ...)
    running.py  run, resume, tick, backfill      reading.py  validate, graph, list, status, logs, schema
    project.py  init, serve, notify test, completion
    params.py   value types with pipe's messages, shared options, completion of names and ids
    help.py     the help pages (one layout, written from the Click parameters)
    errors.py   Click's usage errors as one line each, with "did you mean"

Adding a command: a function in one of the command modules, decorated with
`@command(name, summary, description, examples)`, whose typed parameters are its arguments
and options and which returns `call("handler", **values)`; help, errors, completion and
docs/commands.md follow. Global options (`--pipelines-dir`, `--state-dir`, `--version`,
`--help`) go before or after the command.

main() is the one place where Click's exceptions become exit codes: a usage error is one
message and exit 2, Ctrl-C 130, never a traceback.
"""
from __future__ import annotations

import os
import sys

from .help import CRONTAB, PROG

COMPLETE_VAR = "_PIPE_COMPLETE"


def root():
    from .app import root as build

    return build()


def command_names() -> list[str]:
    """Every command, as typed: `run`, ..., `notify test`."""
    from .help import leaves

    return [name for name, _ in leaves(root())]


def find(name: str):
    """The Click command of `name` (words, e.g. "notify test")."""
    from .help import leaves

    return dict(leaves(root()))[name]


def help_text(name: str | None = None) -> str:
    """What `pipe [NAME] --help` prints."""
    from .help import command_help, top_help

    if name is None:
        return top_help(root())
    return command_help(find(name), f"{PROG} {name}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if sys.stdout is None and "--json" not in argv:
        # stdout was closed (`pipe run >&-`): what would be shown goes nowhere, the command
        # still does its work and exits with its own code (--json refuses: commands.runs).
        sys.stdout = open(os.devnull, "w")
    import click

    group = root()
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:             # the completion scripts ask: Click answers, from the same app
        from click.shell_completion import shell_complete

        sys.exit(shell_complete(group, {}, PROG, COMPLETE_VAR, instruction))
    try:
        code = group.main(argv, prog_name=PROG, standalone_mode=False)
    except click.ClickException as e:
        from .errors import show

        code = show(e)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except (click.Abort, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["main", "root", "command_names", "find", "help_text", "PROG", "CRONTAB", "COMPLETE_VAR"]
