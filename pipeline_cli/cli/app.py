"""The Typer application: pipe's commands (declared in running.py, reading.py and project.py,
one function each, whose typed parameters are the command's arguments and options), the
global options every command takes before or after its name, and the one way a command is
called: `call(handler, **values)`.

A command's handler is a function of pipeline_cli.commands (or "module:function" for an
extra, imported only when the command runs). It gets the project's folders (commands.Globals)
and one keyword per argument and option, and returns a result that render.show prints and
errors.exit_code_of maps to the exit code (or an int: the exit code itself).
"""
from __future__ import annotations

import click
import typer

from .help import PipeCommand, PipeGroup
from .params import remember_folder

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(name="pipe", cls=PipeGroup, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_enable=False, context_settings=CONTEXT)
notify_app = typer.Typer(cls=PipeGroup, add_completion=False, rich_markup_mode=None,
                         pretty_exceptions_enable=False)
asset_app = typer.Typer(cls=PipeGroup, add_completion=False, rich_markup_mode=None,
                        pretty_exceptions_enable=False)

# The order of `pipe --help`.
ORDER = ("run", "resume", "validate", "graph", "list", "status", "logs", "init", "tick", "backfill", "pause",
         "unpause", "prune", "pools", "assets", "asset", "serve", "notify", "schema", "completion")


def command(name: str, summary: str, description: str, examples: tuple[str, ...] = (), on=None):
    """Declare a command: its line in `pipe --help`, its description and its examples."""
    declare = (on or app).command(name, cls=PipeCommand, short_help=summary, help=description,
                                  epilog="\n".join(examples) or None)

    def register(fn):
        _DESCRIPTIONS[fn] = description      # as written: Typer dedents it (the crontab line's indent)
        return declare(fn)
    return register


_DESCRIPTIONS: dict = {}


def _finish(command: click.Command) -> None:
    """What Typer's build loses: the description as written, and each argument's help (which
    Click 8.5 no longer takes from Typer's argument class)."""
    import typing

    fn = getattr(command.callback, "__wrapped__", None)
    if fn is None:
        return
    command.help = _DESCRIPTIONS.get(fn, command.help)
    hints = typing.get_type_hints(fn, include_extras=True)
    for p in command.params:
        if isinstance(p, click.Argument) and not p.help:
            info = next((m for m in getattr(hints.get(p.name), "__metadata__", ()) if hasattr(m, "help")), None)
            p.help = getattr(info, "help", None)


def _version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        from .. import __version__

        click.echo(f"pipe {__version__}")
        ctx.exit(0)


def global_options(top: bool) -> list[click.Option]:
    """--pipelines-dir, --state-dir, --version (and -h/--help, Click's own). pipe's own
    take them from the environment; a command's copy only from its line, so that a
    folder given before the command is not undone by the environment after it."""
    def folder(name: str, env: str, help: str) -> click.Option:
        o = click.Option([f"--{name.replace('_', '-')}", name], metavar="DIR", help=help, expose_value=False,
                         envvar=env if top else None, callback=remember_folder,
                         type=click.Path(file_okay=False, dir_okay=True), show_envvar=True)
        o.pipe_global, o.pipe_env = True, env
        return o

    version = click.Option(["--version"], is_flag=True, is_eager=True, expose_value=False, callback=_version,
                           help="print the version and exit")
    version.pipe_global = True
    listed = [folder("pipelines_dir", "PIPE_PIPELINES_DIR", "where pipeline files are found [default: "
                     "pipelines/ of the project root]"),
              folder("state_dir", "PIPE_STATE_DIR", "where runs, logs and the interval ledger are kept "
                     "[default: .pipe/ of the project root]"),
              version]
    if top:        # as the help lists them
        shown = click.Option(["-h", "--help"], is_flag=True, help="show this help and exit")
        shown.pipe_global = True
        listed.append(shown)
    return listed


@app.callback(invoke_without_command=True)
def _pipe(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        click.echo(ctx.get_help())
        ctx.exit(0)


@asset_app.callback(invoke_without_command=True)
def _asset(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        raise click.UsageError("asset: expected a subcommand: mark (e.g. pipe asset mark --help)", ctx)


@notify_app.callback(invoke_without_command=True)
def _notify(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None and not ctx.resilient_parsing:
        raise click.UsageError("notify: expected a subcommand: test (e.g. pipe notify test --help)", ctx)


def call(handler: str, **values) -> int:
    """Run a command's handler with the folders of the line; its exit code."""
    from .. import commands
    from .params import folders

    ctx = click.get_current_context()
    module, _, function = handler.rpartition(":")
    if module:
        import importlib

        fn = getattr(importlib.import_module(module), function)
    else:
        fn = getattr(commands, function)
    values = {k: ([] if v is None and k in _LISTS else v) for k, v in values.items()}
    return commands.execute(ctx.command_path, fn, folders(ctx), values)


_LISTS = {"params", "only", "from_", "pipelines", "words"}
_ROOT: list[click.Group] = []


def root() -> click.Group:
    """The Click group Typer builds from the declarations, every command given the global
    options (built once)."""
    if _ROOT:
        return _ROOT[0]
    from . import operate, project, reading, running  # noqa: F401  (they declare the commands)

    app.add_typer(notify_app, name="notify", help="notifications: try a pipeline's targets",
                  short_help="notifications")
    app.add_typer(asset_app, name="asset", help="assets: record a partition made by hand",
                  short_help="assets: mark a partition")
    group = typer.main.get_command(app)
    _give_globals(group, top=True)
    group.commands = {name: group.commands[name] for name in ORDER if name in group.commands} | {
        name: c for name, c in group.commands.items() if name not in ORDER}
    _ROOT.append(group)
    return group


def _give_globals(group: click.Group, top: bool) -> None:
    group.params[:] = [p for p in group.params if not getattr(p, "pipe_global", False)]
    group.params.extend(o for o in global_options(top=top) if o.name != "help")
    for sub in group.commands.values():
        if isinstance(sub, click.Group):
            _give_globals(sub, top=False)
        else:
            _finish(sub)
            sub.params.extend(o for o in global_options(top=False) if o.name != "help")
