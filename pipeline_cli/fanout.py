"""Fan-out (SPEC 11): the items of a `foreach` task, and the ids of its instances.

A foreach value is a list; a string that is a JSON array; a template that gives either
(rendered in the task's context once its upstream tasks ran); or a mapping of lists, a
matrix: every combination, each item a mapping, the last key varying fastest. At most
MAX_ITEMS items. Each item becomes an instance `task[i]` of the task.
"""
from __future__ import annotations

import itertools
import json
from typing import Any, Mapping

from . import templates

MAX_ITEMS = 10_000


class NotAList(ValueError):
    """A foreach value that gives no list of items: the message says what it gave."""


def instance_id(task: str, index: int) -> str:
    return f"{task}[{index}]"


def items_of(value: Any, context: Mapping[str, Any] | None = None, where: str = "foreach") -> list:
    """The items of a foreach value: templates rendered in `context` (raises
    templates.TemplateError), then read as a list (raises NotAList, saying what it got)."""
    if isinstance(value, str) and templates.is_template(value):
        value = templates.evaluate(value, context or {})
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise NotAList(f"{where} gave {_shown(value)}, which is not a list (nor a JSON array)") from None
    if isinstance(value, Mapping):
        return _matrix(value, where)
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise NotAList(f"{where} gave {_shown(value)}, which is not a list")
    _bounded(len(value), where)
    return value


def _matrix(value: Mapping, where: str) -> list[dict]:
    keys = list(value)
    lists = []
    for k in keys:
        v = value[k]
        if isinstance(v, str) and not templates.is_template(v):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        if not isinstance(v, list):
            raise NotAList(f"{where}.{k} gave {_shown(v)}, which is not a list (a matrix is a mapping of lists)")
        lists.append(v)
    n = 1
    for v in lists:
        n *= len(v)
    _bounded(n, where)
    return [dict(zip(keys, combo)) for combo in itertools.product(*lists)]


def _bounded(n: int, where: str) -> None:
    if n > MAX_ITEMS:
        raise NotAList(f"{where} gave {n:,} items; a task fans out over at most {MAX_ITEMS:,}")


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


# A foreach task's instances, counted in this order: what goes on first, what waits last.
COUNT_ORDER = ("running", "waiting", "retrying", "failed", "upstream_failed", "cancelled", "succeeded", "skipped",
               "pending")


def counts_text(task) -> str:
    """A foreach task's (TaskView's) instances by state: `3 running, 497 pending`."""
    counts = task.instance_counts()
    return ", ".join(f"{counts[s]} {s}" for s in COUNT_ORDER if counts.get(s))


def instances_text(task) -> str:
    """`500 instances: 3 running, 497 pending`, and what the task's reason adds to it (a
    failure's reason, `1 of 4 instances failed: fetch[2]`, adds the instances it names)."""
    said = counts_text(task)
    text = f"{task.items} instance{'s' if task.items != 1 else ''}" + (f": {said}" if said else "")
    if task.reason and " instances " in task.reason:
        return f"{text}; {task.reason.split(': ', 1)[-1]}"
    return text + (f"; {task.reason}" if task.reason else "")
