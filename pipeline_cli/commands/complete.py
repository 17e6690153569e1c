"""`pipe completion bash|zsh|fish`, and the names and ids that complete: pipeline names,
task ids and run ids, read from a project's folders. The command line's own parser (Click's
completion, cli/) decides what is being completed; these functions only say the values."""
from __future__ import annotations

from ..errors import UsageError
from .project import Globals
from .results import TextResult


def completion(g: Globals, shell: str | None = None, words: list[str] | None = None) -> TextResult:
    """The script for `shell`, or (--words W1 W2 ...) what completes the last word."""
    from click.shell_completion import ShellComplete, get_completion_class

    from .. import cli

    if words:
        items = ShellComplete(cli.root(), {}, cli.PROG, cli.COMPLETE_VAR).get_completions(words[:-1], words[-1])
        return TextResult("".join(f"{item.value}\n" for item in items if item.type == "plain"))
    if shell is None:
        raise UsageError("completion: name a shell: bash, zsh or fish")
    script = get_completion_class(shell)(cli.root(), {}, cli.PROG, cli.COMPLETE_VAR).source()
    return TextResult(script if script.endswith("\n") else script + "\n")


def pipeline_names(g: Globals, incomplete: str) -> list[str]:
    from ..spec import discover

    return sorted({p.stem for p in discover(g.pipelines_dir) if p.stem.startswith(incomplete)})


def task_ids(g: Globals, pipeline: str | None, incomplete: str, many: bool = False) -> list[str]:
    """The pipeline's task ids; `many`: the last of a comma-separated list (`--only a,b`)."""
    if not pipeline:
        return []
    from .runs import load

    p, _ = load(g, pipeline, write_cache=False)
    done, _, partial = incomplete.rpartition(",") if many else ("", "", incomplete)
    head = done + "," if done else ""
    return [head + t for t in p.tasks if t.startswith(partial)]


def run_ids(g: Globals, pipeline: str | None, incomplete: str, latest: bool = False) -> list[str]:
    """The pipeline's runs, newest first (and `latest`, for resume)."""
    if not pipeline:
        return []
    from .reading import pipeline_name

    name, g = pipeline_name(g, pipeline)
    ids = (["latest"] if latest else []) + list(reversed(g.state.run_ids(name)))
    return [r for r in ids if r.startswith(incomplete)]
