"""The attempt builder of one run: its template context and environment, built once, and
each attempt of a task rendered once into what it needs (its AttemptSpec, and the paths
of Make's up-to-date rule when the task has `generates`).
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import templates
from ..attempt import AttemptSpec, display_argv, shell_argv
from ..envfile import read_dotenv
from ..errors import UsageError
from ..model import Pipeline, Task
from ..schedule import Interval
from ..redact import Redactor


@dataclass(frozen=True)
class AttemptContext:
    """One attempt's template context and the environment it adds, made once and used for
    everything of the attempt that is rendered (its command, `sources`, `generates`)."""

    task: Task
    tid: str                  # the task's id, or its instance's (`fetch[2]`)
    attempt: int
    output_path: str
    context: dict
    added: dict[str, str]


class AttemptBuilder:
    """The template context and environment of one run (its secrets checked, its dotenv
    file read, the pipeline's `env` rendered), and each attempt built from them."""

    def __init__(self, pipeline: Pipeline, run_id: str, interval: Interval, params: dict[str, Any]):
        self.pipeline = pipeline
        self.run_id = run_id
        base = dict(os.environ)
        added: dict[str, str] = {}
        if pipeline.dotenv:
            for k, v in read_dotenv(Path(pipeline.folder) / pipeline.dotenv).items():
                if k not in base:          # the real environment wins over the file
                    base[k] = added[k] = v
        missing = [s for s in pipeline.secrets if s not in base]
        if missing:
            raise UsageError(f"secret {missing[0]} is not set (pipeline {pipeline.name!r} lists it under "
                             f"`secrets:`; set it in the environment{' or in ' + pipeline.dotenv if pipeline.dotenv else ''})")
        for s in pipeline.secrets:
            added[s] = base[s]             # named secrets travel with the attempt (remote workers)
        self.secret_values = tuple(base[s] for s in pipeline.secrets if base[s])
        self.redactor = Redactor(self.secret_values)
        start = interval.start
        self.context: dict[str, Any] = {
            "ds": start.strftime("%Y-%m-%d"), "ds_nodash": start.strftime("%Y%m%d"), "ts": start.isoformat(),
            "logical_date": start, "data_interval_start": start, "data_interval_end": interval.end,
            "run_id": run_id, "pipeline": pipeline.name, "params": params,
        }
        self.outputs: dict[str, dict] = {}     # task id -> {"outputs": ...}: what `tasks.X.outputs` reads
        self.context["tasks"] = self.outputs
        run_env = {
            "PIPE_PIPELINE": pipeline.name, "PIPE_RUN_ID": run_id, "PIPE_DS": self.context["ds"],
            "PIPE_LOGICAL_DATE": start.isoformat(), "PIPE_DATA_INTERVAL_START": start.isoformat(),
            "PIPE_DATA_INTERVAL_END": interval.end.isoformat(),
        }
        for k, v in params.items():
            run_env[f"PIPE_PARAM_{k.upper()}"] = v if isinstance(v, str) else json.dumps(v)
        ctx = dict(self.context, env=base)
        for k, v in pipeline.env.items():
            run_env[k] = templates.render(v, ctx)
        self.env = {**base, **run_env}          # what templates see as `env`
        self.added = {**added, **run_env}       # what an attempt adds to its machine's environment
        self.workdir = self._dir(pipeline.workdir, dict(self.context, env=self.env))

    def _dir(self, text: str | None, ctx: dict) -> str:
        if text is None:
            return self.pipeline.folder
        return os.path.normpath(os.path.join(self.pipeline.folder, templates.render(text, ctx)))

    def attempt_context(self, task: Task, attempt: int, output_path: str,
                        instance: tuple[int, Any] | None = None) -> AttemptContext:
        """The template context of an attempt, and the environment it adds (a task's `env`
        is rendered here: a template that cannot render raises templates.TemplateError).
        `instance`: (index, item) of a foreach task's instance."""
        ctx = dict(self.context, task=task.id, attempt=attempt)
        ctx["env"] = self.env
        added = dict(self.added)
        tid = task.id
        if instance is not None:
            index, item = instance
            tid = f"{task.id}[{index}]"
            ctx["item"], ctx["item_index"] = item, index
            added["PIPE_ITEM"] = item if isinstance(item, str) else json.dumps(item, default=str)
            added["PIPE_ITEM_INDEX"] = str(index)
        if task.env:
            for k, v in task.env.items():
                added[k] = templates.render(v, ctx)
        added["PIPE_TASK"] = task.id
        added["PIPE_ATTEMPT"] = str(attempt)
        added["PIPE_OUTPUT"] = output_path
        ctx["env"] = {**self.env, **added} if task.env or instance is not None else \
            dict(self.env, PIPE_TASK=task.id, PIPE_ATTEMPT=str(attempt), PIPE_OUTPUT=output_path)
        return AttemptContext(task, tid, attempt, output_path, ctx, added)

    def up_to_date(self, actx: AttemptContext) -> bool:
        """Make's rule on the task's rendered `sources` and `generates` (one that cannot
        render: not up to date, so the task runs and says what is wrong)."""
        try:
            sources = self._paths(actx.task.sources, actx.context)
            generates = self._paths(actx.task.generates, actx.context)
        except templates.TemplateError:
            return False
        return up_to_date(sources, generates)

    def spec(self, actx: AttemptContext, log_path: str, priority: float = 0.0) -> AttemptSpec:
        """The attempt, ready for any executor (raises templates.TemplateError, UsageError)."""
        return self._spec(actx.task, actx.tid, actx.attempt, actx.context, actx.added, actx.output_path, log_path,
                          priority)

    def _spec(self, task: Task, tid: str, attempt: int, ctx: dict, added: dict[str, str], output_path: str,
              log_path: str, priority: float) -> AttemptSpec:
        cwd = self._dir(task.workdir, ctx) if task.workdir is not None else self.workdir
        python_call = None
        if task.python is not None:
            kwargs = {k: templates.render_value(v, ctx) for k, v in task.with_.items()}
            python_call = {"entry": task.python, "folder": self.pipeline.folder, "kwargs": kwargs,
                           "result": output_path + ".json",
                           "context": {k: (v.isoformat() if isinstance(v, datetime) else v)
                                       for k, v in ctx.items() if k != "env"}}
            argv: tuple[str, ...] = ("python", "-m", "pipeline_cli.python_task")
            shown = f"python {task.python}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        elif isinstance(task.run, str):
            shown = templates.render(task.run, ctx, shell=True)
            argv = tuple(shell_argv(shown, task.shell or self.pipeline.shell))
        else:
            argv = tuple(templates.render(a, ctx) for a in task.run)
            shown = display_argv(argv)
        return AttemptSpec(
            key=f"{self.pipeline.name}/{self.run_id}/{tid}/{attempt}", pipeline=self.pipeline.name,
            run_id=self.run_id, task=tid, attempt=attempt, argv=argv, env=added, cwd=cwd,
            output_path=output_path, log_path=log_path, display=shown, python_call=python_call,
            timeout=task.timeout or None, secrets=self.secret_values, resources=dict(task.resources or {}),
            local_only=task.executor == "local", priority=priority)

    def _paths(self, patterns, ctx: dict) -> list[str]:
        """`sources` or `generates`, rendered; relative paths start at the pipeline's folder."""
        return [os.path.join(self.pipeline.folder, templates.render(p, ctx)) for p in patterns]


def up_to_date(sources: list[str], generates: list[str]) -> bool:
    """Make's rule: every generated path exists and is newer than every source."""
    if not generates:
        return False

    def mtimes(patterns: list[str]) -> list[float] | None:
        found = []
        for p in patterns:
            matches = glob.glob(p) if glob.has_magic(p) else ([p] if os.path.exists(p) else [])
            if not matches:
                return None
            found.extend(os.stat(m).st_mtime for m in matches)
        return found
    made = mtimes(generates)
    if made is None:
        return False
    if not sources:
        return True
    used = mtimes(sources)
    if used is None:
        return False     # a missing source: run the task, and let it say what is wrong
    return min(made) >= max(used)
