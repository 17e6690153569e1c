"""The `pipe` console script (pyproject's [project.scripts]) and `python -m pipeline_cli`:
cli.main, the Typer application, which imports only what the command needs."""
from __future__ import annotations


def main() -> None:
    from .cli import main as cli_main

    cli_main()
