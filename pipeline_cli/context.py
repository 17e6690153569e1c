"""The context of one run: its data interval (Window), its params and environment, the
template context its tasks see, and each attempt turned into an AttemptSpec (a value any
executor can start). Also Make's up-to-date rule for `sources`/`generates`.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from . import templates
from .errors import UsageError
from .executors.base import AttemptSpec, display_argv
from .executors.process import shell_argv
from .model import Pipeline, Task
from .secrets import Redactor


@dataclass
class Window:
    """The data interval of a run (start == end for a pipeline without a schedule)."""

    start: datetime
    end: datetime


def window_for(pipeline: Pipeline, date: datetime | None, now: datetime) -> Window:
    """`--date D`: the interval starting at the latest cron time at or before D; no date:
    the latest complete interval (the current time if the pipeline has no schedule)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(pipeline.timezone)
    if not pipeline.schedule:
        at = (date or now).astimezone(tz)
        return Window(at, at)
    from .schedule import Schedule

    sched = Schedule(pipeline.schedule, pipeline.timezone)
    interval = sched.interval_for(date) if date is not None else sched.latest_complete(now)
    if interval is None:        # @once has no interval before it ran: a run now, as an unscheduled one
        at = now.astimezone(tz)
        return Window(at, at)
    return Window(interval.start, interval.end)


def read_dotenv(path: Path) -> dict[str, str]:
    """A .env file's values, as python-dotenv (and docker compose) read them: comments,
    `export`, quotes, escapes and multi-line quoted values. A missing file is no values."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the dotenv file: {e}") from None


def check_params(pipeline: Pipeline, given: dict[str, str], how: str = "give it with") -> dict[str, Any]:
    """The run's params: the declared defaults with `-p` over them. A name not declared, or
    a param declared with no value (`city:`) and not given, is a UsageError; `how` says how
    to give it (a person's run: with -p; a scheduled run or a backfill cannot)."""
    unknown = sorted(set(given) - set(pipeline.params))
    if unknown:
        declared = ", ".join(sorted(pipeline.params)) or "none"
        raise UsageError(f"-p {unknown[0]}: not a parameter of pipeline {pipeline.name!r} (declared: {declared})")
    merged = {**pipeline.params, **given}
    missing = [k for k, v in merged.items() if v is None]
    if missing:
        flags = " ".join(f"-p {k}=..." for k in missing)
        raise UsageError(f"pipeline {pipeline.name!r} needs {'a value' if len(missing) == 1 else 'values'} for "
                         f"param{'s' if len(missing) > 1 else ''} {', '.join(missing)} (declared without a "
                         f"default): {how} {flags}")
    return merged


class RunContext:
    """The template context and environment of one run, and each attempt's AttemptSpec."""

    def __init__(self, pipeline: Pipeline, run_id: str, window: Window, params: dict[str, Any]):
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
        start = window.start
        self.context: dict[str, Any] = {
            "ds": start.strftime("%Y-%m-%d"), "ds_nodash": start.strftime("%Y%m%d"), "ts": start.isoformat(),
            "logical_date": start, "data_interval_start": start, "data_interval_end": window.end,
            "run_id": run_id, "pipeline": pipeline.name, "params": params,
        }
        self.tasks_outputs: dict[str, dict] = {}
        self.context["tasks"] = self.tasks_outputs
        run_env = {
            "PIPE_PIPELINE": pipeline.name, "PIPE_RUN_ID": run_id, "PIPE_DS": self.context["ds"],
            "PIPE_LOGICAL_DATE": start.isoformat(), "PIPE_DATA_INTERVAL_START": start.isoformat(),
            "PIPE_DATA_INTERVAL_END": window.end.isoformat(),
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

    def task_context(self, task: Task, attempt: int, output_path: str) -> tuple[dict, dict[str, str]]:
        """The template context of an attempt, and the environment it adds."""
        ctx = dict(self.context, task=task.id, attempt=attempt)
        ctx["env"] = self.env
        added = dict(self.added)
        if task.env:
            for k, v in task.env.items():
                added[k] = templates.render(v, ctx)
        added["PIPE_TASK"] = task.id
        added["PIPE_ATTEMPT"] = str(attempt)
        added["PIPE_OUTPUT"] = output_path
        ctx["env"] = {**self.env, **added} if task.env else dict(self.env, PIPE_TASK=task.id,
                                                                   PIPE_ATTEMPT=str(attempt), PIPE_OUTPUT=output_path)
        return ctx, added

    def attempt_spec(self, task: Task, attempt: int, output_path: str, log_path: str,
                     priority: float = 0.0) -> AttemptSpec:
        ctx, added = self.task_context(task, attempt, output_path)
        cwd = self._dir(task.workdir, ctx) if task.workdir is not None else self.workdir
        python_call = None
        if task.python is not None:
            kwargs = {k: templates.render_value(v, ctx) for k, v in task.with_.items()}
            python_call = {"entry": task.python, "folder": self.pipeline.folder, "kwargs": kwargs,
                           "result": output_path + ".json",
                           "context": {k: (v.isoformat() if isinstance(v, datetime) else v)
                                       for k, v in ctx.items() if k != "env"}}
            argv: tuple[str, ...] = ("python", "-m", "pipeline_cli.pytask")
            shown = f"python {task.python}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        elif isinstance(task.run, str):
            shown = templates.render(task.run, ctx, shell=True)
            argv = tuple(shell_argv(shown, task.shell or self.pipeline.shell))
        else:
            argv = tuple(templates.render(a, ctx) for a in task.run)
            shown = display_argv(argv)
        return AttemptSpec(
            key=f"{self.pipeline.name}/{self.run_id}/{task.id}/{attempt}", pipeline=self.pipeline.name,
            run_id=self.run_id, task=task.id, attempt=attempt, argv=argv, env=added, cwd=cwd,
            output_path=output_path, log_path=log_path, display=shown, python_call=python_call,
            timeout=task.timeout or None, secrets=self.secret_values, resources=dict(task.resources or {}),
            local_only=task.executor == "local", priority=priority)

    def paths(self, task: Task, attempt: int, field_: str) -> list[str]:
        """`sources` or `generates`, rendered; relative paths start at the pipeline's folder."""
        ctx, _ = self.task_context(task, attempt, "")
        return [os.path.join(self.pipeline.folder, templates.render(p, ctx)) for p in getattr(task, field_)]


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
