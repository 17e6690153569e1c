"""`pipe completion bash|zsh|fish`: a script that asks `pipe completion --words ...` for
candidates, so pipeline names, task ids and run ids complete as well as commands and options."""
from __future__ import annotations

from ..errors import UsageError
from .project import Globals
from .results import TextResult

BASH = r'''# pipe completion for bash: eval "$(pipe completion bash)" (e.g. in ~/.bashrc)
_pipe_complete() {
    local IFS=$'\n' w
    local -a args=()
    for w in "${COMP_WORDS[@]:1:COMP_CWORD}"; do args+=(--words "$w"); done
    COMPREPLY=($(pipe completion "${args[@]}" 2>/dev/null))
}
complete -o default -F _pipe_complete pipe
'''
ZSH = r'''#compdef pipe
# pipe completion for zsh: eval "$(pipe completion zsh)" (after compinit), or save it as _pipe in $fpath
_pipe() {
    local w
    local -a args candidates
    for w in "${(@)words[2,CURRENT]}"; do args+=(--words "$w"); done
    candidates=("${(@f)$(pipe completion "${(@)args}" 2>/dev/null)}")
    compadd -a candidates
}
compdef _pipe pipe
'''
FISH = r'''# pipe completion for fish: pipe completion fish > ~/.config/fish/completions/pipe.fish
function __pipe_complete
    set -l args
    for w in (commandline -opc)[2..-1]
        set -a args --words $w
    end
    set -l current (commandline -ct)
    pipe completion $args --words "$current" 2>/dev/null
end
complete -c pipe -f -a '(__pipe_complete)'
'''
SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def completion(g: Globals, shell: str | None = None, words: list[str] | None = None) -> TextResult:
    if words:          # `pipe completion --words W1 --words W2 ...`: the last word is being typed
        return TextResult("".join(c + "\n" for c in candidates(g, words[:-1], words[-1])))
    if shell is None:
        raise UsageError("completion: name a shell: bash, zsh or fish")
    return TextResult(SCRIPTS[shell])


def candidates(g: Globals, typed: list[str], current: str) -> list[str]:
    """What may come next after the words `typed` (without `pipe`), starting with `current`."""
    from .. import cli

    globals_ = {n: o for o in cli.GLOBAL for n in o.names}
    words: list[str] = []
    folders: dict[str, str] = {}
    i = 0
    while i < len(typed):          # global options before the command: the folders they name count
        w = typed[i]
        name, eq, value = w.partition("=")
        if name in globals_:
            opt = globals_[name]
            if opt.metavar and not eq and i + 1 < len(typed):
                value = typed[i + 1]
            if opt.metavar:
                folders[opt.dest] = value
            i += 2 if opt.metavar and not eq else 1
            continue
        words = typed[i:]
        break
    for k, w in enumerate(words[:-1]):   # and after it
        name, eq, value = w.partition("=")
        if name in globals_ and globals_[name].metavar:
            folders[globals_[name].dest] = value if eq else words[k + 1]
    if folders:
        g = Globals.make(folders.get("pipelines_dir"), folders.get("state_dir"))
    command, taken = cli.find_command(words)
    if command is None:
        if len(words) > 0 and any(c.name.startswith(" ".join(words) + " ") for c in cli.COMMANDS):
            prefix = " ".join(words) + " "     # the second word of a two-word command
            return sorted({c.name[len(prefix):].split()[0] for c in cli.COMMANDS
                           if c.name.startswith(prefix) and c.name[len(prefix):].startswith(current)})
        if current.startswith("-"):
            return [n for o in cli.GLOBAL for n in o.names if n.startswith(current)]
        return sorted({c.name.split()[0] for c in cli.COMMANDS if c.name.startswith(current)})
    rest = words[taken:]
    opts = {n: o for o in command.opts for n in o.names}
    opts.update({n: o for o in cli.GLOBAL for n in o.names if n not in opts})
    # The value of an option?
    if rest and rest[-1] in opts and opts[rest[-1]].metavar:
        return _values(g, opts[rest[-1]].complete, opts[rest[-1]].choices, rest, command, current)
    if current.startswith("-"):
        return sorted(n for n in opts if n.startswith(current) and n.startswith("--") or n == current)
    positional, skip = [], False
    for w in rest:
        if skip:
            skip = False
            continue
        if w.startswith("-"):
            o = opts.get(w.split("=", 1)[0])
            skip = bool(o and o.metavar and "=" not in w)
            continue
        positional.append(w)
    args = list(command.args)
    if not args:
        return []
    arg = args[min(len(positional), len(args) - 1)] if (len(positional) < len(args) or args[-1].many) else None
    if arg is None:
        return []
    return _values(g, arg.complete, arg.choices, rest, command, current)


def _values(g: Globals, kind: str | None, choices, rest: list[str], command, current: str) -> list[str]:
    if choices:
        return [c for c in choices if c.startswith(current)]
    try:
        if kind == "pipeline":
            return _pipelines(g, current)
        if kind in ("task", "tasks"):
            pipeline = _pipeline_arg(rest)
            if not pipeline:
                return []
            from .runs import load

            p, _ = load(g, pipeline)
            done, _, partial = current.rpartition(",") if kind == "tasks" else ("", "", current)
            head = done + "," if done else ""
            return [head + t for t in p.tasks if t.startswith(partial)]
        if kind == "run":
            pipeline = _pipeline_arg(rest)
            if not pipeline:
                return []
            from .reading import pipeline_name

            name, g2 = pipeline_name(g, pipeline)
            ids = list(reversed(g2.state.run_ids(name)))
            if command.name == "resume":
                ids = ["latest"] + ids
            return [r for r in ids if r.startswith(current)]
    except Exception:      # completion never fails loudly: an invalid file completes nothing
        return []
    return []


def _pipeline_arg(rest: list[str]) -> str | None:
    """The first positional word: option values (`--run ID`, `--pipelines-dir DIR`) skipped."""
    from .. import cli

    takes_value = {n for c in cli.COMMANDS for o in c.opts + cli.GLOBAL for n in o.names if o.metavar}
    skip = False
    for w in rest:
        if skip:
            skip = False
        elif w.startswith("-"):
            skip = w in takes_value
        else:
            return w
    return None


def _pipelines(g: Globals, current: str) -> list[str]:
    from ..spec import discover

    names = []
    for p in discover(g.pipelines_dir):
        if p.stem.startswith(current):
            names.append(p.stem)
    return sorted(set(names))
