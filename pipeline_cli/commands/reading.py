"""The commands that read: validate, graph, list, status, logs, schema. None of them
imports typer or rich: list_pipelines, run_status and pipeline_runs also serve the web UI."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import Problem, SpecError, UsageError
from .project import Globals
from .results import (GraphResult, ListResult, LogsResult, PipelineRuns, StatusResult, TextResult, ValidatedFile,
                      ValidateResult)
from .project import pipeline_name, require_pipelines_dir


def validate(g: Globals, pipelines: list[str] | None = None, json_mode: bool = False) -> ValidateResult:
    from .. import spec

    if pipelines:
        paths = [spec.resolve(name, g.pipelines_dir) for name in pipelines]
    else:
        require_pipelines_dir(g)
        paths = spec.discover(g.pipelines_dir)
        if not paths:
            raise UsageError(f"no pipeline files (*.yaml, *.yml) in {g.pipelines_dir}/ (`pipe init` writes one)")
    files = []
    from ..spec.project import load_project, project_file, root_of

    projects = ({project_file(root_of(g.pipelines_dir) or g.root)} if not pipelines
                else {project_file(root_of(p.parent)) for p in paths})
    for path in sorted(p for p in projects if p is not None):
        try:
            load_project(path)
            files.append(ValidatedFile(str(path), "(project file)", 0))
        except SpecError as e:
            files.append(ValidatedFile(str(path), problems=list(e.problems)))
    for path in paths:
        try:
            p = spec.load(path, project=False)
            pooled = _pool_problems(p, path) + _asset_problems(p, path)
            if pooled:
                raise SpecError(pooled)
            files.append(ValidatedFile(str(path), p.name, len(p.tasks), warnings=list(p.warnings)))
        except SpecError as e:
            files.append(ValidatedFile(str(path), problems=list(e.problems)))
    return ValidateResult(files)


def _asset_problems(p, path) -> list:
    """The assets of a pipeline against the other files of its folder (producers, cycles)."""
    if not p.wait_for and not any(t.produces for t in p.tasks.values()):
        return []
    from ..assets import folder_problems

    return [Problem(str(path), x.line, x.column, x.message)
            for x in folder_problems(Path(p.folder), only={str(Path(p.path).resolve())})]


def _pool_problems(p, path) -> list:
    """The pools of a pipeline's tasks against its project file (a broken project file is
    said on its own, above)."""
    if not any(t.pool is not None for t in p.tasks.values()):
        return []
    from ..spec.load import pool_problems
    from ..spec.project import for_folder

    try:
        project = for_folder(Path(p.folder))
    except SpecError:
        return []
    return pool_problems(p, dict(project.pools) if project else {}, project.path if project else None, str(path))


def graph(g: Globals, pipeline: str | None = None, fmt: str = "tree") -> GraphResult:
    from .. import spec

    if fmt not in ("tree", "mermaid", "dot", "json"):
        raise UsageError(f"--format {fmt!r}: expected tree, mermaid, dot or json")
    if pipeline:
        paths = [spec.resolve(pipeline, g.pipelines_dir)]
    else:
        require_pipelines_dir(g)
        paths = spec.discover(g.pipelines_dir)
    if not paths:
        raise UsageError(f"no pipeline files (*.yaml, *.yml) in {g.pipelines_dir}/")
    problems, pipelines = [], []
    for path in paths:
        try:
            pipelines.append(spec.load(path))
        except SpecError as e:
            problems.extend(e.problems)
    if problems:
        raise SpecError(problems)
    return GraphResult(pipelines, fmt, single=bool(pipeline))


def list_pipelines(g: Globals, json_mode: bool = False) -> ListResult:
    """Every pipeline file of the pipelines folder: schedule, next due (as tick reckons it),
    last run. The document of `pipe list --json` and of GET /api/pipelines."""
    from .. import spec
    from ..state import now_utc

    require_pipelines_dir(g)
    rows, problems = [], []
    now = now_utc()
    store = g.state
    for path in spec.discover(g.pipelines_dir):
        try:
            p = spec.load(path)
        except SpecError as e:
            problems.extend(e.lines())
            rows.append({"name": path.stem, "file": str(path), "valid": False, "tasks": 0})
            continue
        row = {"name": p.name, "file": str(path), "valid": True, "description": p.description,
               "schedule": p.schedule, "timezone": p.timezone, "tasks": len(p.tasks)}
        if p.schedule:
            from ..schedule import describe_cron
            from ..scheduling import due

            row["schedule_words"] = f"{describe_cron(p.schedule)} ({p.timezone})"
            plan = due(p, store, now)          # as tick reckons it
            row["next_due"] = plan.next_due.isoformat() if plan.next_due else None
            row["overdue"] = plan.overdue(now)      # next_due has passed and tick has not run it
            if plan.waiting_for:                    # wait_for: ended intervals whose partitions are missing
                from ..assets import describe_missing

                row["waiting_for"] = [{"interval_start": i.start.isoformat(), "missing": describe_missing(m)}
                                      for i, m in plan.waiting_for]
                row["overdue"] = False
            if p.end_date is not None:
                from ..scheduling import ended

                row["end_date"] = p.end_date.isoformat()
                row["ended"] = ended(p, now) and plan.next_due is None    # nothing can become due again
            if getattr(p, "notify", None) is not None and p.notify.deadline is not None:
                from ..notify import late

                info = late(p, store, now)      # an interval not succeeded by its deadline
                row["late"] = info is not None
                if info is not None:
                    row["late_interval"] = info["interval_start"]
        from ..state.pause import paused

        row["paused"] = paused(store.layout, p.name)       # who, when, why; None: not paused
        if row["paused"] is not None and "overdue" in row:
            row["overdue"] = False         # held back on purpose, not late
        last = store.latest(p.name)
        if last is not None:
            row.update(last_run=last.run_id, last_state=last.state, last_started=last.started)
        rows.append(row)
    return ListResult(rows, problems)


def pipeline_runs(g: Globals, name: str, limit: int | None = 10, state: str | None = None) -> PipelineRuns:
    """A pipeline's latest `limit` runs (in `state` only, if given), newest first."""
    store = g.state
    if state is None:
        runs = store.runs(name, limit=limit)
    else:
        runs = [r for r in store.runs(name) if r.state == state]
        runs = runs[-limit:] if limit else runs
    from ..state.pause import paused

    return PipelineRuns(name, list(reversed(runs)), paused=paused(store.layout, name))


def run_status(g: Globals, name: str, run_id: str | None = None) -> StatusResult:
    """One run (None or 'latest': the latest) of the pipeline named `name`, as `pipe status NAME
    --run RUN_ID --json` shows it; state.NotFound (exit 2, HTTP 404) if there is none."""
    from ..state.pause import paused

    run = g.state.run(name, run_id)
    _mark_stale(g, run)
    return StatusResult([PipelineRuns(name, [run], paused=paused(g.state.layout, name))], run, str(g.state_dir))


def _mark_stale(g: Globals, run) -> None:
    """A run that read asset partitions produced again since is stale (SPEC 10)."""
    if run is not None and run.consumed:
        from ..assets import stale

        run.stale = stale(run, g.state.layout)


def status(g: Globals, pipeline: str | None = None, run_id: str | None = None, limit: int = 10,
           state: str | None = None, expand: bool = False, json_mode: bool = False) -> StatusResult:
    result = _status(g, pipeline, run_id, limit, state)
    result.expand = expand
    _mark_stale(g, result.run)
    return result


def _status(g: Globals, pipeline: str | None, run_id: str | None, limit: int, state: str | None) -> StatusResult:
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    if pipeline is None:
        if run_id:
            raise UsageError("--run needs a PIPELINE")
        return StatusResult([pipeline_runs(g, n, limit, state) for n in g.state.pipelines()], None,
                            str(g.state_dir), state)
    name, g = pipeline_name(g, pipeline)
    if run_id is not None:
        return run_status(g, name, run_id)
    runs = pipeline_runs(g, name, limit, state)
    # The task table of the latest run (of the latest run in that state, with --state).
    latest = g.state.latest(name) if state is None else (runs.runs[0] if runs.runs else None)
    return StatusResult([runs], latest, str(g.state_dir), state)


def logs(g: Globals, pipeline: str, task: str | None = None, run_id: str | None = None, attempt: int | None = None,
         follow: bool = False) -> LogsResult:
    from ..model import FAILED, RETRYING, RUNNING

    name, g = pipeline_name(g, pipeline)
    store = g.state
    run = store.run(name, run_id)
    if task is None:
        wanted = (RUNNING, RETRYING) if follow else (FAILED,)
        chosen = [t for t in _with_instances(run.tasks.values()) if t.state in wanted and t.items is None]
        if not chosen:
            what = "running" if follow else "failed"
            hint = ""
            if not follow and run_id in (None, "latest"):
                found = store.unfinished_before(name, run)
                if found is not None:
                    hint = (f"; run {found[0].run_id} has failed or unfinished tasks: "
                            f"pipe logs {pipeline} --run {found[0].run_id}")
            sys.stderr.write(f"run {run.run_id} has no {what} tasks; name a TASK to see its log "
                             f"(tasks: {', '.join(run.tasks)}){hint}\n")
            return LogsResult(run.run_id)
        if follow and len(chosen) > 1:
            raise UsageError(f"run {run.run_id} has {len(chosen)} running tasks; name the one to follow: "
                             + ", ".join(t.id for t in chosen))
    else:
        pending = run.state == RUNNING and task in run.selected       # it may start yet
        if (task not in run.tasks or not run.tasks[task].attempt) and attempt is None and not pending:
            other = store.latest_attempt_elsewhere(name, task, not_in=run.run_id)
            if other is not None:     # it did not run in this run: its log is in another one
                what = f"the latest run ({run.run_id})" if run_id in (None, "latest") else f"run {run.run_id}"
                raise UsageError(f"{what} did not run {task}; its latest attempt is in run {other}: "
                                 f"pipe logs {pipeline} {task} --run {other}")
        found = run.task(task)
        if found is None:
            from ..errors import did_you_mean

            raise UsageError(f"run {run.run_id} has no task {task!r}" + did_you_mean(task, run.tasks))
        chosen = [found]
        if found.items is not None:       # a foreach task: the logs are its instances'
            chosen = [i for _, i in sorted(found.instances.items()) if i.state in (FAILED, RUNNING, RETRYING)]
            if not chosen or attempt is not None:
                raise UsageError(f"{task} is a foreach task of {found.items} instances; name one: "
                                 f"pipe logs {pipeline} '{task}[0]' (up to '{task}[{max(found.items - 1, 0)}]')")
    out = sys.stdout.buffer
    result = LogsResult(run.run_id)
    for t in chosen:
        n = attempt or t.attempt
        if not n:
            raise UsageError(f"task {t.id!r} has not run in run {run.run_id} (state: {t.state})")
        if len(chosen) > 1 or (task is None and not follow):
            out.write(f"==> {t.id} attempt {n} ({t.state}) <==\n".encode())
        written = _copy_log(store, name, run.run_id, t.id, n, out, follow)
        out.flush()
        if written == 0:
            sys.stderr.write(f"(the log of task {t.id} attempt {n} is empty)\n")
        result.shown.append((t.id, n))
    return result


def _with_instances(tasks):
    for t in tasks:
        yield t
        yield from (i for _, i in sorted(t.instances.items()))


def _copy_log(store, name: str, run_id: str, task: str, attempt: int, out, follow: bool) -> int:
    """Write the attempt's log; with follow, go on until the attempt has ended. Returns the bytes written."""
    from ..state import NotFound

    offset = 0
    while True:
        try:
            data, offset = store.log(name, run_id, task, attempt, offset)
        except NotFound:
            if not follow or _ended(store, name, run_id, task, attempt):
                if offset == 0 and not follow:
                    raise
                return offset
            data = b""
        if data:
            out.write(data)
            out.flush()
            continue
        if not follow:
            return offset
        if _ended(store, name, run_id, task, attempt):
            data, offset2 = store.log(name, run_id, task, attempt, offset) if store.log_path(
                name, run_id, task, attempt).exists() else (b"", offset)
            out.write(data)
            return offset2
        time.sleep(0.2)


def _ended(store, name: str, run_id: str, task: str, attempt: int) -> bool:
    from ..model import RUNNING

    view = store.run(name, run_id)
    t = view.tasks.get(task)
    if view.state != "running" or t is None:
        return True
    if t.attempt != attempt:
        return t.attempt > attempt          # a later attempt began; an earlier one: not started yet
    return t.state != RUNNING


def schema(g: Globals | None = None, project: bool = False) -> TextResult:
    if project:
        from ..spec.project import SCHEMA_FILE as PROJECT_SCHEMA

        return TextResult(PROJECT_SCHEMA.read_text(encoding="utf-8"))
    from ..spec import SCHEMA_FILE

    return TextResult(SCHEMA_FILE.read_text(encoding="utf-8"))
