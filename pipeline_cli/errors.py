"""Errors the core raises. A task's failure is not an error: it is an outcome (see executor)."""
from __future__ import annotations

from dataclasses import dataclass

# Exit codes of every command (SPEC section 3).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130

# A command's result says how it went (results.py: ok, failed, invalid, interrupted);
# this is the one place that turns that into an exit code.
EXIT_CODES = {"ok": EXIT_OK, "failed": EXIT_FAILED, "invalid": EXIT_INVALID, "interrupted": EXIT_INTERRUPTED}


def exit_code_of(result) -> int:
    """The exit code of a command's result (an int is already one)."""
    if isinstance(result, int):
        return result
    return EXIT_CODES[result.outcome]


@dataclass(frozen=True)
class Problem:
    """One located problem in a file: rendered as `file:line:column: message`."""

    file: str
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"


class PipeError(Exception):
    """Any error caused by what the user gave pipe. Exit code 2."""

    exit_code = EXIT_INVALID

    def lines(self) -> list[str]:
        return [str(self)]


class SpecError(PipeError):
    """A pipeline file is invalid: holds every problem found in it, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class UsageError(PipeError):
    """Bad arguments or a name that does not resolve (unknown pipeline, task, run)."""


def install_hint(extra: str) -> str:
    """How to install one of pipe's extras (web, dask, notify), said both ways: from the
    package index, and in a checkout of pipe's source, where the first one fails."""
    return f"pip install 'pipe-cli[{extra}]' (in a checkout of pipe: pip install -e '.[{extra}]')"



def did_you_mean(word: str, known) -> str:
    """"; did you mean 'x'?" for the known name closest to `word`, or "" when none is close:
    the one wording of the hint beside a name that is not known."""
    import difflib

    close = difflib.get_close_matches(word, [str(k) for k in known], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
