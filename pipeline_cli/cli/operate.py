"""The commands that operate many pipelines (SPEC 12): pause, unpause, prune."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import asset_app, call, command
from .params import JSON, WHOLE, pipeline_arg


@command("pause", "stop a pipeline's schedule until unpause",
         "Pause a pipeline's schedule: tick starts nothing for it (runs going on finish), until "
         "`pipe unpause`. `pipe run` still runs it, and says it is paused. Who paused it, when and "
         "why are kept in the state folder and shown by list, status and the web.",
         ("pipe pause weather --reason 'the warehouse is migrating'",))
def pause(
    pipeline: Annotated[str, pipeline_arg("the pipeline")],
    reason: Annotated[Optional[str], typer.Option("--reason", metavar="TEXT", help="why, for whoever looks")] = None,
    json_mode: JSON = False,
) -> int:
    return call("pause", pipeline=pipeline, reason=reason, json_mode=json_mode)


@command("unpause", "resume a paused pipeline's schedule",
         "Unpause a pipeline: the next tick catches up as if its ticks had been there all along "
         "(catchup: true runs every interval it missed, oldest first; catchup: false the latest only).",
         ("pipe unpause weather",))
def unpause(
    pipeline: Annotated[str, pipeline_arg("the pipeline")],
    json_mode: JSON = False,
) -> int:
    return call("unpause", pipeline=pipeline, json_mode=json_mode)


@command("prune", "remove old runs (whole run folders)",
         "Remove whole run folders (events, logs, outputs) of runs older than --older-than or "
         "beyond the newest --keep of their pipeline (without either: the retention of the "
         "project file pipe.yaml), and say what and how many bytes. Never a running or waiting "
         "run, never a pipeline's newest run; the ledger of claimed intervals stays, so tick "
         "never reruns a pruned interval.",
         ("pipe prune --older-than 90d --dry-run", "pipe prune weather --keep 50", "pipe prune"))
def prune(
    pipeline: Annotated[Optional[str], pipeline_arg("only this pipeline [default: every pipeline with history]")]
    = None,
    older_than: Annotated[Optional[str], typer.Option(
        "--older-than", metavar="DURATION", help="remove runs made longer ago than this, e.g. 90d or 12h")] = None,
    keep: Annotated[Optional[int], typer.Option("--keep", metavar="N", click_type=WHOLE,
                                                help="keep the newest N runs of each pipeline")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would be removed; remove nothing")] = False,
    json_mode: JSON = False,
) -> int:
    return call("prune", pipeline=pipeline, older_than=older_than, keep=keep, dry_run=dry_run, json_mode=json_mode)


@command("assets", "show assets, who produces them and their partitions",
         "Show every asset of the pipelines folder (a task's `produces:`, a pipeline's `wait_for:`): "
         "the pipeline and task that produce it, how many partitions are recorded and the latest, "
         "and the pipelines that wait for it; with NAME, each of its partitions (interval, version, "
         "the run that produced it, or who marked it).",
         ("pipe assets", "pipe assets weather_clean --json"))
def assets(
    name: Annotated[Optional[str], typer.Argument(metavar="NAME", show_default=False,
                                                  help="an asset [default: all]")] = None,
    json_mode: JSON = False,
) -> int:
    return call("pipeline_cli.commands.assets:assets", name=name, json_mode=json_mode)


@command("mark", "record a partition made by hand",
         "Record the partition of asset NAME for the producer's interval that --date falls in, as "
         "made by a person (a repair: the data was made outside pipe). Pipelines that wait for it "
         "become due at the next tick.",
         ("pipe asset mark weather_clean --date 2026-11-04",), on=asset_app)
def asset_mark(
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False, help="the asset")],
    date: Annotated[str, typer.Option("--date", metavar="D", help="a date or time inside the partition's interval")],
    json_mode: JSON = False,
) -> int:
    return call("pipeline_cli.commands.assets:mark", name=name, date=date, json_mode=json_mode)
