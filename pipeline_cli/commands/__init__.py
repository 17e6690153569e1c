"""The commands: each takes the project's folders (Globals) and typed arguments, and returns a
typed result (results.py) that render.show prints as text, tables or JSON and
errors.exit_code_of turns into the exit code. Only cli.py knows the command line.

Stable names for other layers (the web UI calls them; none imports typer or rich):
  Globals(pipelines_dir, state_dir), Globals.make(pipelines_dir=None, state_dir=None)
  list_pipelines(g) -> ListResult                      # .to_json(): `pipe list --json`
  run_status(g, name, run_id=None) -> StatusResult     # .to_json(): `pipe status NAME --run ID --json`
  pipeline_runs(g, name, limit=10, state=None) -> PipelineRuns
  status(g, pipeline=None, run_id=None, limit=10, state=None) -> StatusResult
  load(g, name) -> (Pipeline, Globals)                 # PIPELINE resolved as the SPEC says
"""
from __future__ import annotations

import sys

from .project import Globals, find_root

# Each command's module is imported when it is first used, so that `pipe tick` with nothing
# due imports neither the reading commands nor render.
_WHERE = {
    "candidates": "complete", "init": "init",
    "graph": "reading", "list_pipelines": "reading", "logs": "reading", "pipeline_runs": "reading",
    "run_status": "reading", "schema": "reading", "status": "reading", "validate": "reading",
    "pipeline_name": "project", "load": "project", "require_pipelines_dir": "project",
    "backfill": "runs", "parse_date": "runs", "parse_params": "runs",
    "resume": "runs", "run": "runs", "split_ids": "runs", "tick": "runs",
    "pause": "operate", "unpause": "operate", "prune": "operate",
}


def __getattr__(name: str):
    import importlib

    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    results = importlib.import_module(".results", __name__)
    if hasattr(results, name):
        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def execute(command, handler, options: dict, values: dict) -> int:
    """Run a command's handler and show its result: the one place where a user error becomes
    its message and exit code 2, and a result becomes its exit code."""
    from ..errors import EXIT_INTERRUPTED, EXIT_INVALID, PipeError, exit_code_of

    json_mode = bool(values.get("json_mode"))
    try:
        if json_mode:
            from .runs import need_stdout

            need_stdout(True)          # nowhere to write the document: say so, do nothing
        g = Globals.make(options.get("pipelines_dir"), options.get("state_dir"))
        result = handler(g, **values)
        if isinstance(result, int):
            return result
    except PipeError as e:
        from .. import render

        render.print_errors(e.lines())
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        from .. import render

        render.stdout_gone()
        return EXIT_INVALID if json_mode else 0
    code = exit_code_of(result)
    if not json_mode and getattr(result, "silent", False):
        return code            # e.g. a tick that found nothing due: not even render is imported
    from .. import render

    try:
        render.show(result, json_mode)
    except (BrokenPipeError, OSError, ValueError, AttributeError) as e:
        # stdout went away: a reader that stopped early (`| head`) loses nothing it asked for,
        # but a JSON document that could not be written is a failure, never exit 0.
        render.stdout_gone()
        if json_mode:
            sys.stderr.write(f"error: could not write the JSON document to stdout ({e})\n")
            return EXIT_INVALID
    return code
