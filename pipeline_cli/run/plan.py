"""A dry run: what a run would do, each task with its command rendered; nothing is written."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import templates
from ..dag import Dag
from ..state import RunView, TaskView
from .attempts import AttemptBuilder
from ..fanout import NotAList, items_of
from .request import RunRequest


class _Placeholders(dict):
    """Upstream outputs in a dry run: shown as <task.outputs.key>, since nothing ran."""

    def __missing__(self, task_id: str):
        return {"outputs": _Outputs(task_id)}


class _Outputs(dict):
    def __init__(self, task_id: str):
        super().__init__()
        self.task_id = task_id

    def __missing__(self, key: str) -> str:
        return f"<{self.task_id}.outputs.{key}>"


@dataclass
class Plan:
    """What a dry run shows: each task with its command rendered."""

    pipeline: str
    run: RunView
    steps: list[dict] = field(default_factory=list)


def plan(request: RunRequest) -> Plan:
    pipeline = request.pipeline
    builder = AttemptBuilder(pipeline, "dry-run", request.interval, request.params)
    view = RunView(run_id="dry-run", pipeline=pipeline.name, dir=Path("."))
    # No events are written, so the view is told what the run would be (the plan shows it).
    view.logical_date = view.interval_start = request.interval.start.isoformat()
    view.interval_end = request.interval.end.isoformat()
    view.params = request.params
    view.selected = [t for t in pipeline.tasks if t in request.selected]
    for tid in view.selected:
        view.tasks[tid] = TaskView(tid)
    builder.context["tasks"] = _Placeholders()
    result = Plan(pipeline.name, view)
    for tid in Dag(pipeline).order():
        if tid not in request.selected:
            continue
        task = pipeline.tasks[tid]
        fan, instance = _fan_out(task, builder)
        try:
            actx = builder.attempt_context(task, 1, "$PIPE_OUTPUT", instance)
            spec = builder.spec(actx, "")
            command, cwd = spec.display, spec.cwd
            skip = not request.limits.force and bool(task.generates) and builder.up_to_date(actx)
        except templates.TemplateError as e:
            command, cwd, skip = f"<cannot render: {e.message}>", builder.workdir, False
        result.steps.append(builder.redactor.value({
            "task": tid, "deps": list(task.deps), "command": command, "cwd": cwd,
            "kind": "python" if task.python else ("argv" if isinstance(task.run, tuple) else "shell"),
            "trigger": task.trigger, "retries": task.retries, "timeout": task.timeout,
            "up_to_date": skip, **({"foreach": fan} if fan is not None else {})}))
    return result


def _fan_out(task, builder: AttemptBuilder) -> tuple[dict | None, tuple | None]:
    """A foreach task in a dry run: its items when they are known before the run (a list, a
    param), or which upstream tasks must run first; and the instance its command is shown for."""
    if task.foreach is None:
        return None, None
    uses = sorted(templates.analyse(task.foreach).outputs) if isinstance(task.foreach, str) and \
        templates.is_template(task.foreach) else []
    if uses:
        return {"items": None, "known_after": uses}, (0, "<item>")
    try:
        items = items_of(task.foreach, builder.attempt_context(task, 0, "").context)
    except (templates.TemplateError, NotAList) as e:
        return {"items": None, "problem": str(getattr(e, "message", e))}, (0, "<item>")
    return {"items": len(items), "first": items[:5]}, ((0, items[0]) if items else None)
