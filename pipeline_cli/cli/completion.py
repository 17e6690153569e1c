"""`pipe completion bash|zsh|fish`: Click's own completion script for the command line, and
(--words) what completes the last word; the values come from commands/complete.py."""
from __future__ import annotations

from ..commands.project import Globals
from ..commands.results import TextResult
from ..errors import UsageError


def completion(g: Globals, shell: str | None = None, words: list[str] | None = None) -> TextResult:
    """The script for `shell`, or (--words W1 W2 ...) what completes the last word."""
    from click.shell_completion import ShellComplete, get_completion_class

    from . import COMPLETE_VAR, PROG, root

    if words:
        items = ShellComplete(root(), {}, PROG, COMPLETE_VAR).get_completions(words[:-1], words[-1])
        return TextResult("".join(f"{item.value}\n" for item in items if item.type == "plain"))
    if shell is None:
        raise UsageError("completion: name a shell: bash, zsh or fish")
    script = get_completion_class(shell)(root(), {}, PROG, COMPLETE_VAR).source()
    return TextResult(script if script.endswith("\n") else script + "\n")
