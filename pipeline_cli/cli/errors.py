"""Click's usage errors as pipe says them: one line `error: ...` on stderr, with the nearest
known name when one is close ("did you mean"), then where the help is; exit 2."""
from __future__ import annotations

import difflib

import click

from .help import PROG, choices_of, leaves


def did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_command(group: click.Group, ctx: click.Context, word: str) -> str:
    names = list(dict.fromkeys(group.list_commands(ctx)))
    where = "" if ctx.parent is None else f" for {ctx.command_path}"
    return f"unknown command {word!r}{where}{did_you_mean(word, names)}; commands: {', '.join(sorted(names))}"


def _options_of(command: click.Command | None) -> list[click.Option]:
    return [p for p in (command.params if command else []) if isinstance(p, click.Option)]


def unknown_option(name: str, command: click.Command | None) -> str:
    """`--json` where --format takes `json`: that option with that value; else the nearest name."""
    options = _options_of(command)
    word = name.lstrip("-").split("=", 1)[0]
    for o in options:
        if word in choices_of(o):
            return f"unknown option {name} (did you mean {o.opts[-1]} {word}?)"
    return f"unknown option {name}{did_you_mean(name, [n for o in options for n in o.opts])}"


def _metavar(param: click.Parameter) -> str:
    return param.metavar or param.name.upper()


def message(e: click.ClickException) -> str:
    ctx = getattr(e, "ctx", None)
    command = ctx.command if ctx is not None else None
    if isinstance(e, click.NoSuchOption):
        return unknown_option(e.option_name, command)
    if isinstance(e, click.BadOptionUsage):
        name = e.option_name
        param = next((o for o in _options_of(command) if name in o.opts), None)
        if "does not take a value" in e.message:
            return f"{name} takes no value"
        if param is not None and not param.is_flag:
            return f"{name} needs a value ({_metavar(param)})"
        return e.message
    if isinstance(e, click.MissingParameter):
        param = e.param
        if isinstance(param, click.Argument):
            return f"missing {_metavar(param)}"
        if isinstance(param, click.Option):
            return f"missing option {param.opts[-1]} {_metavar(param)}"
        return e.format_message()
    if isinstance(e, click.BadParameter):
        if getattr(e, "pipe_message", False) or e.param is None:
            return e.message
        return f"{e.param.opts[-1] if isinstance(e.param, click.Option) else _metavar(e.param)}: {e.message}"
    return e.format_message()


def show(e: click.ClickException) -> int:
    """Print the usage error and return its exit code (2)."""
    import sys

    ctx = getattr(e, "ctx", None)
    hint = f"{ctx.command_path} --help" if ctx is not None else f"{PROG} --help"
    sys.stderr.write(f"error: {message(e)}\n  see: {hint}\n")
    return 2 if isinstance(e, click.UsageError) else e.exit_code


__all__ = ["did_you_mean", "unknown_command", "unknown_option", "message", "show", "leaves"]
