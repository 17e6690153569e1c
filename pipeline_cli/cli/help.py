"""pipe's help pages, written from the Click parameters Typer builds (one layout for every
command: usage, description, arguments, options, global options, examples), and the Click
classes that carry them: PipeCommand and PipeGroup (Typer's `cls=`).

A command's `help` is its description (paragraphs; one that starts with two spaces is
printed as it is), `short_help` its line in `pipe --help`, `epilog` its examples, one a line.
"""
from __future__ import annotations

import textwrap

import click
import typer.core

PROG = "pipe"
CRONTAB = "* * * * * cd /srv/project && .venv/bin/pipe tick"
WIDTH = 78


def is_global(param: click.Parameter) -> bool:
    """The options every command takes (--pipelines-dir, --state-dir, --version, --help)."""
    return bool(getattr(param, "pipe_global", False)) or getattr(param, "name", None) == "help"


def rows(pairs: list[tuple[str, str]], width: int = WIDTH) -> list[str]:
    col = min(max((len(a) for a, _ in pairs), default=0) + 4, 28)
    out = []
    for left, text in pairs:
        body = textwrap.wrap(text, max(20, width - col)) or [""]
        if len(left) + 2 >= col:
            out.append(f"  {left}")
            out.extend(" " * col + line for line in body)
        else:
            out.append(f"  {left}".ljust(col) + body[0])
            out.extend(" " * col + line for line in body[1:])
    return out


def choices_of(param: click.Parameter) -> tuple:
    return tuple(getattr(param.type, "choices", ()) or ())


def option_label(o: click.Option) -> str:
    return ", ".join(o.opts) + (f" {o.metavar}" if not o.is_flag and o.metavar else "")


def option_help(o: click.Option) -> str:
    text = o.help or ""
    if choices_of(o):
        text += f" ({'|'.join(choices_of(o))})"
    if o.default not in (None, False, [], ()) and not o.is_flag and "[default" not in text:
        text += f" [default: {o.default}]"
    env = getattr(o, "pipe_env", None) or o.envvar
    if env:
        text += f" [env {env}]"
    return text


def argument_help(a: click.Argument) -> str:
    text = getattr(a, "help", None) or ""
    return text + (f" ({'|'.join(choices_of(a))})" if choices_of(a) else "")


def global_rows() -> list[str]:
    from .app import global_options

    return rows([(option_label(o), option_help(o)) for o in global_options(top=True)])


def usage(command: click.Command, path: str) -> str:
    parts = [path]
    for p in command.params:
        if isinstance(p, click.Argument):
            name = (p.metavar or p.name.upper()) + ("..." if p.nargs == -1 else "")
            parts.append(name if p.required else f"[{name}]")
    for p in command.params:
        if isinstance(p, click.Option) and not is_global(p):
            label = p.opts[-1] + ("" if p.is_flag else f" {p.metavar}")
            parts.append(label if p.required else f"[{label}]" + ("..." if p.multiple else ""))
    return "\n".join(textwrap.wrap("usage: " + " ".join(parts), WIDTH, subsequent_indent=" " * 8,
                                   break_on_hyphens=False))


def command_help(command: click.Command, path: str) -> str:
    lines = [usage(command, path), ""]
    for para in (command.help or "").split("\n\n"):
        if para.startswith("  "):
            lines.append(para)
        else:
            lines += textwrap.wrap(para, WIDTH)
        lines.append("")
    args = [p for p in command.params if isinstance(p, click.Argument)]
    opts = [p for p in command.params if isinstance(p, click.Option) and not is_global(p)]
    if args:
        lines.append("arguments:")
        lines += rows([(a.metavar or a.name.upper(), argument_help(a)) for a in args])
        lines.append("")
    if opts:
        lines.append("options:")
        lines += rows([(option_label(o), option_help(o)) for o in opts])
        lines.append("")
    lines.append("global options:")
    lines += global_rows()
    if command.epilog:
        lines += ["", "examples:"] + [f"  {e}" for e in command.epilog.splitlines()]
    return "\n".join(lines) + "\n"


def leaves(group: click.Group, ctx: click.Context | None = None, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command under `group`, as (words, command): `notify test` for a subgroup's."""
    out = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if isinstance(sub, click.Group):
            out += leaves(sub, ctx, f"{prefix}{name} ")
        elif sub is not None:
            out.append((prefix + name, sub))
    return out


def top_help(group: click.Group) -> str:
    from .. import __version__

    lines = [f"usage: {PROG} [global options] COMMAND [arguments] [options]", ""]
    lines += textwrap.wrap(f"pipe {__version__}: run data pipelines declared in YAML on one machine: a DAG of "
                           "tasks, cron schedules with Airflow's data intervals, and a file-based state log.", WIDTH)
    lines += ["", "commands:"]
    lines += rows([(name, c.short_help or "") for name, c in leaves(group)])
    lines += ["", "global options (before or after the command):"]
    lines += global_rows()
    lines += ["", "The project root is the nearest folder, from the current one upwards, that holds",
              "pipelines/ or .pipe/ (else the current folder). Exit codes: 0 success, 1 a run",
              "failed, 2 invalid input, 130 interrupted.",
              "", "examples:",
              "  pipe init                         a starter pipeline",
              "  pipe run weather.yaml             run it now",
              "  pipe status weather               what ran, and how it went",
              f"  {CRONTAB}   (crontab)",
              "", f"`{PROG} COMMAND --help` describes a command."]
    return "\n".join(lines) + "\n"


def group_help(group: click.Group, path: str) -> str:
    """`pipe notify --help`: the group's commands."""
    lines = [f"usage: {path} COMMAND [arguments] [options]", ""]
    lines += textwrap.wrap(group.help or "", WIDTH) + ["", "commands:"]
    lines += rows([(f"{path.split(None, 1)[1]} {name}", c.short_help or "") for name, c in leaves(group)])
    lines += ["", f"`{path} COMMAND --help` describes a command."]
    return "\n".join(lines) + "\n"


def _parse(parse, ctx: click.Context, args: list[str]) -> list[str]:
    """Click's parser, whose errors about an option (`--date` without its value) know
    their command."""
    try:
        return parse(ctx, args)
    except click.UsageError as e:
        if e.ctx is None:
            e.ctx = ctx
        raise


class PipeCommand(typer.core.TyperCommand):
    """A command whose help is pipe's layout, and whose stray argument is said plainly."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(command_help(self, ctx.command_path))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.allow_extra_args = True
        if ctx.resilient_parsing and args and args[-1].startswith("-"):
            # completing an option's value (`--only fetch,c`): the option without its value
            # would spoil Click's parse of the rest of the line, which completion reads
            args = args[:-1]
        rest = _parse(super().parse_args, ctx, args)
        if ctx.args and not ctx.resilient_parsing:
            raise click.UsageError(f"unexpected argument {ctx.args[0]!r}", ctx)
        return rest


class PipeGroup(typer.core.TyperGroup):
    """pipe itself and `pipe notify`: commands listed in the order they are declared, an
    unknown one named with the nearest known one."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write(top_help(self) if ctx.parent is None else group_help(self, ctx.command_path))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _parse(super().parse_args, ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0]
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            from .errors import unknown_command

            raise click.UsageError(unknown_command(self, ctx, name), ctx)
        return click.Group.resolve_command(self, ctx, args)
