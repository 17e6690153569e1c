"""The commands that operate many pipelines (SPEC 12): pause, unpause, prune."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import call, command
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
