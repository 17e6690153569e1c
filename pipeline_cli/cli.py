"""The one declaration of pipe's command line: commands, arguments, options, help.

Every command is one `Command(...)` entry in COMMANDS below; its options are `Opt(...)`
values (shared groups such as JSON or EXECUTOR are lists to add). Help, errors, shell
completion and docs/commands.md are all generated from this table, so nothing is
declared twice and nothing is hidden. The parser is a few dozen lines of our own: it
imports nothing but `os` and `sys` (argparse would cost start-up time, typer ~0.1 s),
because `pipe tick` runs every minute from cron and `pipe run` is the hot path of small
runs.

Adding a command: append a `Command` to COMMANDS with its handler, the name of a function
in `pipeline_cli.commands` (or "module:function" for an extra, imported only when the
command runs). The handler gets the project (`commands.Globals`) and one keyword per
argument and option (its `dest`), and returns a result that render.show prints and
errors.exit_code_of maps to the exit code (or an int: the exit code itself).

Global options (`--pipelines-dir`, `--state-dir`, `--version`, `--help`) go before or
after the command.
"""
from __future__ import annotations

import os
import sys

PROG = "pipe"
CRONTAB = "* * * * * cd /srv/project && .venv/bin/pipe tick"


class _Plain:
    """Value classes without dataclasses: this table is built at every start of pipe."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.__slots__)})"


class Opt(_Plain):
    """An option: a flag when `metavar` is None, else it takes a value."""

    __slots__ = ("names", "dest", "help", "metavar", "repeat", "type", "choices", "default", "env", "complete")

    def __init__(self, names: tuple, dest: str, help: str, metavar: str | None = None, repeat: bool = False,
                 type=str, choices: tuple = (), default=None, env: str | None = None, complete: str | None = None):
        self.names = names                # e.g. ("-p", "--param")
        self.dest = dest                  # the handler's keyword
        self.help = help
        self.metavar = metavar
        self.repeat = repeat              # may be given several times: a list
        self.type = type                  # int: checked and converted
        self.choices = choices
        self.default = default
        self.env = env                    # taken from this environment variable when not given
        self.complete = complete          # what completes its value: pipeline, task, tasks, run, dir


class Arg(_Plain):
    __slots__ = ("name", "dest", "help", "required", "many", "choices", "complete")

    def __init__(self, name: str, dest: str, help: str, required: bool = True, many: bool = False,
                 choices: tuple = (), complete: str | None = None):
        self.name = name                  # as shown: PIPELINE, TASK, ...
        self.dest = dest
        self.help = help
        self.required = required
        self.many = many                  # zero or more (required=False) / one or more
        self.choices = choices
        self.complete = complete


class Command(_Plain):
    __slots__ = ("name", "handler", "summary", "description", "args", "opts", "examples")

    def __init__(self, name: str, handler: str, summary: str, description: str = "", args: tuple = (),
                 opts: tuple = (), examples: tuple = ()):
        self.name = name                  # words, e.g. "run" or "notify test"
        self.handler = handler            # function in pipeline_cli.commands, or "module:function"
        self.summary = summary
        self.description = description
        self.args = args
        self.opts = opts
        self.examples = examples


GLOBAL = (
    Opt(("--pipelines-dir",), "pipelines_dir", "where pipeline files are found "
        "[default: pipelines/ of the project root]", metavar="DIR", env="PIPE_PIPELINES_DIR", complete="dir"),
    Opt(("--state-dir",), "state_dir", "where runs, logs and the interval ledger are kept "
        "[default: .pipe/ of the project root]", metavar="DIR", env="PIPE_STATE_DIR", complete="dir"),
    Opt(("--version",), "version", "print the version and exit"),
    Opt(("-h", "--help"), "help", "show this help and exit"),
)
JSON = Opt(("--json",), "json_mode", "print one JSON document on stdout and nothing else there")
# The executor options of run, resume, tick and backfill (SPEC section 7).
EXECUTOR: tuple[Opt, ...] = (
    Opt(("--executor",), "executor", "where tasks run: local (this machine) or dask (the workers of a Dask "
        "cluster) [default: local]", metavar="NAME", choices=("local", "dask"), env="PIPE_EXECUTOR"),
    Opt(("--dask-scheduler",), "dask_scheduler", "the Dask scheduler's address, e.g. tcp://10.0.0.5:8786 "
        "[default: a local Dask cluster for the run]", metavar="ADDRESS", env="PIPE_DASK_SCHEDULER"),
)

COMMANDS: list[Command] = [
    Command(
        "run", "run", "run a pipeline now",
        "Run a pipeline now: the latest complete interval of its schedule (now, without a "
        "schedule), or the interval of --date.",
        args=(Arg("PIPELINE", "pipeline", "a pipeline file, or a name or file name in the pipelines folder",
                  complete="pipeline"),),
        opts=(
            Opt(("--date",), "date", "run the interval that starts at the latest cron time at or before D",
                metavar="D"),
            Opt(("-p", "--param"), "params", "override a param (repeatable); a param declared without a "
                "value must be given", metavar="KEY=VALUE", repeat=True),
            Opt(("--only",), "only", "run just these tasks (comma-separated), not their upstream",
                metavar="T,..", repeat=True, complete="tasks"),
            Opt(("--from",), "from_", "run this task and everything downstream of it", metavar="T",
                repeat=True, complete="task"),
            Opt(("--force",), "force", "run tasks even when their `generates` are up to date"),
            Opt(("--dry-run",), "dry_run", "print the plan with every command rendered; run nothing"),
            Opt(("--concurrency",), "concurrency", "most tasks running at once", metavar="N", type=int),
            Opt(("--fail-fast",), "fail_fast", "stop the run at the first failed task (exit 1)"),
            JSON,
        ),
        examples=("pipe run weather.yaml", "pipe run weather --date 2026-11-03 -p city=Seattle",
                  "pipe run umbrella --from train --dry-run"),
    ),
    Command(
        "resume", "resume", "rerun a run's failed, cancelled and unstarted tasks",
        "Rerun, in the same run, the failed, upstream_failed, cancelled, interrupted and "
        "never-started tasks (with --from: T and everything downstream of it), keeping the "
        "others and their outputs.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline", complete="pipeline"),
              Arg("RUN_ID", "run_id", "the run to resume, or `latest` [default: latest]", required=False,
                  complete="run")),
        opts=(Opt(("--from",), "from_", "rerun this task and everything downstream of it", metavar="T",
                  repeat=True, complete="task"),
              JSON),
        examples=("pipe resume weather", "pipe resume umbrella latest --from train"),
    ),
    Command(
        "validate", "validate", "check pipeline files",
        "Check pipeline files: a line per file, `ok` or every error with file:line:column.",
        args=(Arg("PIPELINE", "pipelines", "pipelines to check [default: every one in the pipelines folder]",
                  required=False, many=True, complete="pipeline"),),
        opts=(JSON,),
        examples=("pipe validate", "pipe validate weather.yaml umbrella"),
    ),
    Command(
        "graph", "graph", "show the task graph",
        "Show the task graph: as a tree, or as one Mermaid, Graphviz dot or JSON document.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline [default: every pipeline]", required=False,
                  complete="pipeline"),),
        opts=(Opt(("--format",), "fmt", "output format", metavar="FORMAT",
                  choices=("tree", "mermaid", "dot", "json"), default="tree"),),
        examples=("pipe graph umbrella", "pipe graph weather --format mermaid",
                  "pipe graph weather --format dot | dot -Tsvg > weather.svg"),
    ),
    Command(
        "list", "list_pipelines", "list pipelines, schedules, next due time and last run",
        "List the pipelines of the pipelines folder: schedule, next due time, task count, "
        "last run and its state.",
        opts=(JSON,),
        examples=("pipe list", "pipe list --json"),
    ),
    Command(
        "status", "status", "show recent runs and a run's task table",
        "Show a pipeline's recent runs and the task table of its latest run (or of --run); "
        "without PIPELINE, the recent runs of every pipeline.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline [default: all]", required=False, complete="pipeline"),),
        opts=(Opt(("--run",), "run_id", "one run's task table", metavar="RUN_ID", complete="run"),
              Opt(("--limit",), "limit", "how many recent runs to show", metavar="N", type=int, default=10),
              Opt(("--state",), "state", "only runs in this state", metavar="STATE",
                  choices=("running", "succeeded", "failed", "interrupted")),
              JSON),
        examples=("pipe status", "pipe status weather --limit 30 --state failed",
                  "pipe status weather --run 20261124T060000123Z-scheduled-1a2b --json"),
    ),
    Command(
        "logs", "logs", "print a task attempt's log",
        "Print a task attempt's log (stdout and stderr). Without TASK: the logs of the run's "
        "failed tasks. With -f: follow the attempt's log until the attempt ends.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline", complete="pipeline"),
              Arg("TASK", "task", "the task [default: the failed tasks; with -f, the running one]", required=False,
                  complete="task")),
        opts=(Opt(("--run",), "run_id", "the run [default: the latest]", metavar="RUN_ID", complete="run"),
              Opt(("--attempt",), "attempt", "the attempt [default: the latest]", metavar="N", type=int),
              Opt(("-f", "--follow"), "follow", "keep printing what the attempt writes until it ends")),
        examples=("pipe logs weather", "pipe logs weather clean --attempt 1", "pipe logs weather fetch -f"),
    ),
    Command(
        "init", "init", "create a commented starter pipeline",
        "Create a commented starter pipeline in the pipelines folder (a shell and a Python "
        "task, a dependency, a schedule, an output used downstream), and say what to do next.",
        args=(Arg("NAME", "name", "the pipeline's name [default: hello]", required=False),),
        examples=("pipe init", "pipe init sales"),
    ),
    Command(
        "tick", "tick", "for cron, every minute: run every interval that is due",
        "For cron, every minute: run every interval that is due, in every pipeline with a "
        "schedule. Quiet when nothing is due and when every run it started succeeded: only "
        "failures and problems are printed (cron mails them). Crontab line:\n\n  " + CRONTAB,
        opts=(Opt(("--now",), "now", "act as if it were this ISO date-time [default: now]", metavar="ISO"),
              Opt(("--dry-run",), "dry_run", "say what would run now, and why; run nothing"),
              Opt(("-v", "--verbose"), "verbose", "print the progress of every run, not only of failed ones"),
              Opt(("--notify",), "notify_url", "send what breaks scheduling (a pipeline file that stopped "
                  "validating) to this Apprise URL, once per content of the file", metavar="URL", env="PIPE_NOTIFY"),
              JSON),
        examples=(CRONTAB + "   (crontab)", "pipe tick --dry-run", "pipe tick --now 2026-11-05T00:01",
                  "pipe tick --notify 'mailto://user:pass@mail.example.com?to=ops@example.com'"),
    ),
    Command(
        "backfill", "backfill", "run every interval of a date range",
        "Run every interval that starts from --start to --end, oldest first, skipping those "
        "that already succeeded unless --rerun.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline (it must have a schedule)", complete="pipeline"),),
        opts=(Opt(("--start",), "start", "first date (inclusive); required", metavar="D"),
              Opt(("--end",), "end", "last date (inclusive); required", metavar="D"),
              Opt(("--rerun",), "rerun", "also rerun intervals that already succeeded"),
              JSON),
        examples=("pipe backfill weather --start 2026-11-01 --end 2026-11-07",),
    ),
    Command(
        "serve", "pipeline_cli.web:serve", "serve the web UI: pipelines, runs, graphs, live logs",
        "Serve the web UI over the state folder: the pipelines, a pipeline's grid of runs, a run's "
        "tasks with its graph and timeline, each attempt's log, all updated live. Binds 127.0.0.1 "
        "unless --host; any other address needs a token. Needs the web extra: "
        "pip install 'pipe-cli[web]'.",
        opts=(Opt(("--host",), "host", "address to listen on; beyond loopback a token is required",
                  metavar="HOST", default="127.0.0.1"),
              Opt(("--port",), "port", "port to listen on (0: any free port)", metavar="PORT", type=int,
                  default=8080),
              Opt(("--token",), "token", "require this token (Authorization: Bearer, or the sign-in form)",
                  metavar="TOKEN", env="PIPE_SERVE_TOKEN"),
              Opt(("--actions",), "actions", "allow triggering and resuming runs from the pages")),
        examples=("pipe serve", "PIPE_SERVE_TOKEN=s3cret pipe serve --host 0.0.0.0 --actions"),
    ),
    Command(
        "notify test", "pipeline_cli.notify:test_command", "send a test message to a pipeline's notify targets",
        "Send a test message to every target of the pipeline's `notify:` block (and run its "
        "`run:` command once), and say per target whether it was delivered; exit 1 when one "
        "was not. Apprise URLs need the notify extra: pip install 'pipe-cli[notify]'.",
        args=(Arg("PIPELINE", "pipeline", "the pipeline", complete="pipeline"),),
        examples=("pipe notify test weather",),
    ),
    Command(
        "schema", "schema", "print the JSON Schema of pipeline files",
        "Print the JSON Schema of pipeline files (for editors: yaml-language-server).",
        examples=("pipe schema > .pipe-schema.json   (then `# yaml-language-server: $schema=../.pipe-schema.json`)",),
    ),
    Command(
        "completion", "completion", "print a shell completion script",
        "Print a completion script for bash, zsh or fish: commands, options, pipeline names, "
        "task ids and run ids. The script calls `pipe completion --words W1 --words W2 ...` "
        "with the words typed so far (the last one being typed), which prints the candidates, one a line.",
        args=(Arg("SHELL", "shell", "bash, zsh or fish", required=False, choices=("bash", "zsh", "fish")),),
        opts=(Opt(("--words",), "words", "a word typed so far, once per word (what the scripts call): print "
                  "what may complete the last one", metavar="WORD", repeat=True),),
        examples=('eval "$(pipe completion bash)"   (in ~/.bashrc)',
                  "pipe completion fish > ~/.config/fish/completions/pipe.fish"),
    ),
]

REQUIRED_OPTS = {"backfill": ("start", "end")}


def _with_executor() -> None:
    """Adds the EXECUTOR options to the commands that run tasks (once, at import)."""
    if not EXECUTOR:
        return
    for i, c in enumerate(COMMANDS):
        if c.name in ("run", "resume", "tick", "backfill"):
            COMMANDS[i] = Command(c.name, c.handler, c.summary, c.description, c.args, c.opts + EXECUTOR, c.examples)


_with_executor()


class ArgError(Exception):
    """Bad command line: printed with a pointer to --help, exit code 2."""

    def __init__(self, message: str, command: Command | None = None):
        super().__init__(message)
        self.command = command


class Parsed:
    def __init__(self, command: Command | None):
        self.command = command
        self.values: dict = {}            # dest -> value, for the command
        self.globals: dict = {}           # dest -> value, global options
        self.help = False
        self.version = False


def find_command(words: list[str]) -> tuple[Command | None, int]:
    """The command named by the leading words (the longest match), and how many words it took."""
    best, taken = None, 0
    for c in COMMANDS:
        parts = c.name.split()
        if words[:len(parts)] == parts and len(parts) > taken:
            best, taken = c, len(parts)
    return best, taken


def _opt_index(opts) -> dict[str, Opt]:
    return {n: o for o in opts for n in o.names}


def _convert(opt: Opt, value: str, command: Command | None):
    if opt.choices and value not in opt.choices:
        raise ArgError(f"{opt.names[-1]} {value!r}: expected one of {', '.join(opt.choices)}", command)
    if opt.type is int:
        try:
            return int(value)
        except ValueError:
            raise ArgError(f"{opt.names[-1]} {value!r}: expected a whole number", command) from None
    return value


def parse(argv: list[str]) -> Parsed:
    """argv (without the program name) -> Parsed; raises ArgError."""
    globals_ = _opt_index(GLOBAL)
    result = Parsed(None)
    i = 0
    # Global options before the command, then the command's words.
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in globals_:
            i = _take(globals_[name], argv, i, eq, value, result.globals, None)
            continue
        if arg.startswith("-") and arg != "-":
            raise ArgError(f"unknown option {arg} (before the command); see pipe --help")
        break
    command, taken = find_command(argv[i:])
    if command is None:
        if i < len(argv):
            return _unknown_command(argv[i], result)
        result.version = bool(result.globals.pop("version", False))
        result.help = not result.version
        return result
    result.command = command
    i += taken
    local = _opt_index(command.opts)
    positional: list[str] = []
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional.extend(argv[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            name, eq, value = arg.partition("=")
            opt = local.get(name) or globals_.get(name)
            if opt is None:
                raise ArgError(f"unknown option {name}{_did_you_mean(name, list(local) + list(globals_))}", command)
            target = result.globals if name in globals_ and name not in local else result.values
            i = _take(opt, argv, i, eq, value, target, command)
            continue
        positional.append(arg)
        i += 1
    result.help = bool(result.globals.pop("help", False))
    result.version = bool(result.globals.pop("version", False))
    if result.help or result.version:
        return result
    _positionals(command, positional, result.values)
    for opt in command.opts:
        if opt.dest not in result.values:
            result.values[opt.dest] = ([] if opt.repeat else False if opt.metavar is None else opt.default)
    for dest in REQUIRED_OPTS.get(command.name, ()):
        if result.values.get(dest) is None:
            opt = next(o for o in command.opts if o.dest == dest)
            raise ArgError(f"missing option {opt.names[-1]} {opt.metavar}", command)
    _environment(command.opts, result.values, given=set())
    return result


def _take(opt: Opt, argv: list[str], i: int, eq: str, value: str, target: dict, command) -> int:
    if opt.metavar is None:
        if eq:
            raise ArgError(f"{opt.names[-1]} takes no value", command)
        target[opt.dest] = True
        return i + 1
    if not eq:
        if i + 1 >= len(argv):
            raise ArgError(f"{opt.names[-1]} needs a value ({opt.metavar})", command)
        value = argv[i + 1]
        i += 1
    value = _convert(opt, value, command)
    if opt.repeat:
        target.setdefault(opt.dest, []).append(value)
    elif opt.dest in target:
        raise ArgError(f"{opt.names[-1]} given twice", command)
    else:
        target[opt.dest] = value
    return i + 1


def _positionals(command: Command, positional: list[str], values: dict) -> None:
    args = list(command.args)
    for n, a in enumerate(args):
        if a.many:
            values[a.dest] = positional
            if a.required and not positional:
                raise ArgError(f"missing {a.name}", command)
            positional = []
            break
        if positional:
            value = positional.pop(0)
            if a.choices and value not in a.choices:
                raise ArgError(f"{a.name} {value!r}: expected one of {', '.join(a.choices)}", command)
            values[a.dest] = value
        elif a.required:
            raise ArgError(f"missing {a.name}", command)
        else:
            values[a.dest] = None
    if positional:
        raise ArgError(f"unexpected argument {positional[0]!r}", command)


def _environment(opts, values: dict, given: set) -> None:
    for opt in opts:
        if opt.env and values.get(opt.dest) in (None, False, []) and os.environ.get(opt.env):
            values[opt.dest] = _convert(opt, os.environ[opt.env], None)


def _unknown_command(word: str, result: Parsed) -> Parsed:
    subs = [c.name.split(None, 1)[1] for c in COMMANDS if c.name.startswith(word + " ")]
    if subs:
        raise ArgError(f"{word}: expected a subcommand: {', '.join(subs)} (e.g. pipe {word} {subs[0]} --help)")
    names = sorted({c.name.split()[0] for c in COMMANDS})
    raise ArgError(f"unknown command {word!r}{_did_you_mean(word, names)}; commands: {', '.join(names)}")


def _did_you_mean(word: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# --- help --------------------------------------------------------------------------------------

def _opt_label(o: Opt) -> str:
    return ", ".join(o.names) + (f" {o.metavar}" if o.metavar else "")


def _rows(rows: list[tuple[str, str]], width: int = 78) -> list[str]:
    import textwrap

    col = min(max((len(a) for a, _ in rows), default=0) + 4, 28)
    out = []
    for left, text in rows:
        body = textwrap.wrap(text, max(20, width - col)) or [""]
        if len(left) + 2 >= col:
            out.append(f"  {left}")
            out.extend(" " * col + line for line in body)
        else:
            out.append(f"  {left}".ljust(col) + body[0])
            out.extend(" " * col + line for line in body[1:])
    return out


def _opt_help(o: Opt) -> str:
    text = o.help
    if o.choices:
        text += f" ({'|'.join(o.choices)})"
    if o.default not in (None, False, [], ()) and "[default" not in text:
        text += f" [default: {o.default}]"
    if o.env:
        text += f" [env {o.env}]"
    return text


def usage(command: Command | None) -> str:
    if command is None:
        return f"usage: {PROG} [global options] COMMAND [arguments] [options]"
    parts = [PROG, command.name]
    for a in command.args:
        name = a.name + ("..." if a.many else "")
        parts.append(name if a.required else f"[{name}]")
    for o in command.opts:
        label = o.names[-1] + (f" {o.metavar}" if o.metavar else "")
        required = o.dest in REQUIRED_OPTS.get(command.name, ())
        parts.append(label if required else f"[{label}]" + ("..." if o.repeat else ""))
    import textwrap

    return "\n".join(textwrap.wrap("usage: " + " ".join(parts), 78, subsequent_indent=" " * 8,
                                   break_on_hyphens=False))


def help_text(command: Command | None) -> str:
    import textwrap

    from . import __version__

    lines = [usage(command), ""]
    if command is None:
        lines += textwrap.wrap(f"pipe {__version__}: run data pipelines declared in YAML on one machine: a DAG of "
                               "tasks, cron schedules with Airflow's data intervals, and a file-based state log.", 78)
        lines += ["", "commands:"]
        lines += _rows([(c.name, c.summary) for c in COMMANDS])
        lines += ["", "global options (before or after the command):"]
        lines += _rows([(_opt_label(o), _opt_help(o)) for o in GLOBAL])
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
    for para in command.description.split("\n\n"):
        if para.startswith("  "):
            lines.append(para)
        else:
            lines += textwrap.wrap(para, 78)
        lines.append("")
    if command.args:
        lines.append("arguments:")
        lines += _rows([(a.name, a.help + (f" ({'|'.join(a.choices)})" if a.choices else "")) for a in command.args])
        lines.append("")
    if command.opts:
        lines.append("options:")
        lines += _rows([(_opt_label(o), _opt_help(o)) for o in command.opts])
        lines.append("")
    lines.append("global options:")
    lines += _rows([(_opt_label(o), _opt_help(o)) for o in GLOBAL])
    if command.examples:
        lines += ["", "examples:"] + [f"  {e}" for e in command.examples]
    return "\n".join(lines) + "\n"


# --- running -----------------------------------------------------------------------------------

def handler_of(command: Command):
    module, _, function = command.handler.rpartition(":")
    if module:
        import importlib

        return getattr(importlib.import_module(module), function)
    from . import commands

    return getattr(commands, function)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if sys.stdout is None and "--json" not in argv:
        # stdout was closed (`pipe run >&-`): what would be shown goes nowhere, the command
        # still does its work and exits with its own code (--json refuses: commands.runs).
        sys.stdout = open(os.devnull, "w")
    try:
        parsed = parse(argv)
    except ArgError as e:
        hint = f"{PROG} {e.command.name} --help" if e.command else f"{PROG} --help"
        sys.stderr.write(f"error: {e}\n  see: {hint}\n")
        sys.exit(2)
    if parsed.version:
        from . import __version__

        sys.stdout.write(f"pipe {__version__}\n")
        sys.exit(0)
    if parsed.help or parsed.command is None:
        sys.stdout.write(help_text(parsed.command))
        sys.exit(0)
    _environment(GLOBAL, parsed.globals, set())
    from . import commands

    code = commands.execute(parsed.command, handler_of(parsed.command), parsed.globals, parsed.values)
    sys.exit(code)


if __name__ == "__main__":
    main()
