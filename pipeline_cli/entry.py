"""The `pipe` console script (pyproject's [project.scripts]): cli.main, which parses argv
with pipe's own table-driven parser and imports only what the command needs."""
from __future__ import annotations


def main() -> None:
    from .cli import main as cli_main

    cli_main()
