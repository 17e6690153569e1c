"""Runs left `waiting` by tick (SPEC 10): whether a later tick should resume one now, that
is whether one of its waiting sensors holds or has waited its `timeout`. Read-only: the
resume itself (under the run's lock) checks again and goes on."""
from __future__ import annotations

from datetime import datetime

from .. import sensors, templates
from ..errors import UsageError
from ..model import WAITING, Pipeline
from ..schedule import Interval
from ..state.events import instance_of


def sensors_ready(pipeline: Pipeline, run, now: datetime) -> bool:
    """Whether tick should resume the waiting run `run` (a RunView) at `now`."""
    import os

    from .attempts import AttemptBuilder

    waiting = [t for t in run.tasks.values() if t.state == WAITING]
    if not waiting:
        return True             # nothing waits any more (an older pipe's file?): let the resume say
    try:
        interval = Interval(datetime.fromisoformat(run.interval_start), datetime.fromisoformat(run.interval_end))
        builder = AttemptBuilder(pipeline, run.run_id, interval, run.params)
    except (UsageError, TypeError, ValueError, templates.TemplateError):
        return True             # what stops the run is said by the resume
    for t in waiting:
        found = instance_of(t.id)
        task = pipeline.tasks.get(found[0] if found else t.id)
        if task is None or task.wait is None:
            return True         # the file changed under the run: the resume decides
        if task.timeout and t.started and \
                (now - datetime.fromisoformat(t.started)).total_seconds() >= task.timeout:
            return True         # it has waited its timeout: the resume fails it
        try:
            actx = builder.attempt_context(task, t.attempt or 1, "")
            wait = {k: templates.render(v, actx.context, shell=k == "command") if isinstance(v, str) else v
                    for k, v in task.wait.items()}
        except (templates.TemplateError, UsageError):
            return True
        if sensors.holds(wait, pipeline.folder, {**os.environ, **actx.added}, interval.end, pipeline.timezone, now):
            return True
    return False
