"""The commands that read: validate, graph, list, status, logs, schema."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import call, command
from .params import JSON, WHOLE, Choice, complete_log_task, complete_pipeline, complete_run, pipeline_arg


@command("validate", "check pipeline files",
         "Check pipeline files: a line per file, `ok` or every error with file:line:column.",
         ("pipe validate", "pipe validate weather.yaml umbrella"))
def validate(
    pipelines: Annotated[Optional[list[str]], typer.Argument(
        metavar="PIPELINE", autocompletion=complete_pipeline, show_default=False,
        help="pipelines to check [default: every one in the pipelines folder]")] = None,
    json_mode: JSON = False,
) -> int:
    return call("validate", pipelines=pipelines, json_mode=json_mode)


@command("graph", "show the task graph",
         "Show the task graph: as a tree, or as one Mermaid, Graphviz dot or JSON document.",
         ("pipe graph umbrella", "pipe graph weather --format mermaid",
          "pipe graph weather --format dot | dot -Tsvg > weather.svg"))
def graph(
    pipeline: Annotated[Optional[str], pipeline_arg("the pipeline [default: every pipeline]")]
    = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", click_type=Choice(("tree", "mermaid", "dot",
                                                                                      "json")),
                                     help="output format")] = "tree",
) -> int:
    return call("graph", pipeline=pipeline, fmt=fmt)


@command("list", "list pipelines, schedules, next due time and last run",
         "List the pipelines of the pipelines folder: schedule, next due time, task count, "
         "last run and its state.",
         ("pipe list", "pipe list --json"))
def list_(json_mode: JSON = False) -> int:
    return call("list_pipelines", json_mode=json_mode)


@command("status", "show recent runs and a run's task table",
         "Show a pipeline's recent runs and the task table of its latest run (or of --run); "
         "without PIPELINE, the recent runs of every pipeline.",
         ("pipe status", "pipe status weather --limit 30 --state failed",
          "pipe status weather --run 20261124T060000123Z-scheduled-1a2b --json", "pipe status fan --expand"))
def status(
    pipeline: Annotated[Optional[str], pipeline_arg("the pipeline [default: all]")] = None,
    run_id: Annotated[Optional[str], typer.Option("--run", metavar="RUN_ID", autocompletion=complete_run,
                                                  help="one run's task table")] = None,
    limit: Annotated[int, typer.Option("--limit", metavar="N", click_type=WHOLE,
                                       help="how many recent runs to show")] = 10,
    state: Annotated[Optional[str], typer.Option(
        "--state", metavar="STATE", click_type=Choice(("running", "succeeded", "failed", "interrupted")),
        help="only runs in this state")] = None,
    expand: Annotated[bool, typer.Option("--expand", help="list each instance of a foreach task "
                                                          "(by default: the task, with counts)")] = False,
    json_mode: JSON = False,
) -> int:
    return call("status", pipeline=pipeline, run_id=run_id, limit=limit, state=state, expand=expand,
                json_mode=json_mode)


@command("logs", "print a task attempt's log",
         "Print a task attempt's log (stdout and stderr). Without TASK: the logs of the run's "
         "failed tasks. With -f: follow the attempt's log until the attempt ends.",
         ("pipe logs weather", "pipe logs weather clean --attempt 1", "pipe logs weather fetch -f"))
def logs(
    pipeline: Annotated[str, pipeline_arg("the pipeline")],
    task: Annotated[Optional[str], typer.Argument(
        metavar="TASK", autocompletion=complete_log_task, show_default=False,
        help="the task, or an instance of a foreach task ('fetch[1]') [default: the failed tasks; with -f, "
             "the running one]")] = None,
    run_id: Annotated[Optional[str], typer.Option("--run", metavar="RUN_ID", autocompletion=complete_run,
                                                  help="the run [default: the latest]")] = None,
    attempt: Annotated[Optional[int], typer.Option("--attempt", metavar="N", click_type=WHOLE,
                                                   help="the attempt [default: the latest]")] = None,
    follow: Annotated[bool, typer.Option("-f", "--follow",
                                         help="keep printing what the attempt writes until it ends")] = False,
) -> int:
    return call("logs", pipeline=pipeline, task=task, run_id=run_id, attempt=attempt, follow=follow)


@command("pools", "show the pools and who holds their slots",
         "Show each pool of the project file (pipe.yaml: `pools: {warehouse: 2}`): its size, how many "
         "of its slots are in use now, and by which task of which run, over every pipe on the state "
         "folder. A task waiting for a slot is pending, with the pool in its reason.",
         ("pipe pools", "pipe pools --json"))
def pools(json_mode: JSON = False) -> int:
    return call("pipeline_cli.commands.pools:pools", json_mode=json_mode)


@command("schema", "print the JSON Schema of pipeline files",
         "Print the JSON Schema of pipeline files (for editors: yaml-language-server); with "
         "--project, that of the project file pipe.yaml.",
         ("pipe schema > .pipe-schema.json   (then `# yaml-language-server: $schema=../.pipe-schema.json`)",
          "pipe schema --project > .pipe-project-schema.json"))
def schema(
    project: Annotated[bool, typer.Option("--project", help="the schema of the project file pipe.yaml")] = False,
) -> int:
    return call("schema", project=project)
