"""Carrying out a request: a new run (its folder, its lock, its claim in the ledger), or a
resume of a run (under its lock, from deciding what to rerun to the end of the rerun)."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from ..dag import Dag
from ..errors import EXIT_FAILED, UsageError
from ..executors.base import Executor
from ..model import RUN_RUNNING, Pipeline
from ..schedule import Interval
from ..state import RunView, StateDir, TaskView, me
from .hooks import DurationEstimates, Hooks
from .loop import RunLoop, outputs_from_earlier
from .machine import OK_STATES
from .plan import Plan, plan
from .request import ResumeRequest, RunRequest


def new_run(state: StateDir, request: RunRequest, hooks: Iterable[object] = (),
            executor: Executor | None = None) -> RunView | Plan:
    """Start and finish a new run (a dry run: return its plan, and write nothing)."""
    if request.dry_run:
        return plan(request)
    pipeline = request.pipeline
    kept = outputs_from_earlier(state, request, set(pipeline.tasks) - request.selected) if request.partial else {}
    run_id, run_dir = state.new_run(pipeline.name, request.kind)
    lock = state.run_lock(run_dir)
    lock.acquire(wait=False)      # held while it runs: a reader sees a run starting, not a dead one
    try:
        try:
            loop = RunLoop(state, request, run_id, run_dir, executor or _default_executor(),
                           _hooks(state, pipeline, hooks), kept)
        except BaseException:
            _discard(run_dir)
            raise
        if request.claim:
            state.claim(pipeline.name, start=request.interval.start.astimezone(timezone.utc).isoformat(),
                        end=request.interval.end.astimezone(timezone.utc).isoformat(), run_id=run_id,
                        kind=request.kind)
        try:
            return loop.execute()
        except BaseException:
            if not loop.began:
                _discard(run_dir)
            raise
    finally:
        lock.release()


class RunBusy(UsageError):
    """Another pipe is running or resuming the run (or resumed it while this command was
    starting): this command does nothing and exits 1, as `flock -n` does."""

    exit_code = EXIT_FAILED


def resume(state: StateDir, request: ResumeRequest, hooks: Iterable[object] = (),
           executor: Executor | None = None) -> RunView:
    """Rerun a run's failed, upstream_failed, cancelled and unstarted tasks (with --from: T and
    everything downstream of it), in the same run, keeping the others and their outputs.

    The run's lock is held from deciding what to rerun to the end of the rerun, so of
    several resumes at once one reruns and the others raise RunBusy (see ResumeRequest.since)."""
    pipeline = request.pipeline
    old = state.run(pipeline.name, request.run_id)
    lock = state.run_lock(old.dir)
    if old.state == RUN_RUNNING or not lock.acquire(wait=False):
        raise RunBusy(_busy(pipeline, old, lock.holder()))
    try:
        old = state.run(pipeline.name, old.run_id)     # as it is now that we hold its lock
        _check_not_taken(pipeline, old, request.since)
        rerun = _to_rerun(pipeline, old, request.from_)
        if not rerun:
            raise UsageError(_nothing_to_resume(pipeline, state, old, latest=request.run_id is None))
        again = RunRequest(pipeline, Interval(datetime.fromisoformat(old.interval_start),
                                              datetime.fromisoformat(old.interval_end)),
                           old.params, frozenset(rerun), old.kind, request.limits,
                           leave_waiting=request.leave_waiting, now=request.now)
        loop = RunLoop(state, again, old.run_id, old.dir, executor or _default_executor(),
                       _hooks(state, pipeline, hooks), keep_instances=not request.from_)
        return loop.execute(earlier=old)
    finally:
        lock.release()


def _hooks(state: StateDir, pipeline: Pipeline, hooks: Iterable[object]) -> Hooks:
    return Hooks([DurationEstimates(state, pipeline.name), *hooks])


def _default_executor() -> Executor:
    from ..executors import make_executor

    return make_executor()


def _discard(run_dir: Path) -> None:
    """A run that never began (a secret not set, a cluster that refuses it): no empty run left."""
    shutil.rmtree(run_dir, ignore_errors=True)


def _check_not_taken(pipeline: Pipeline, old: RunView, since: float | None) -> None:
    if old.state == RUN_RUNNING:
        raise RunBusy(_busy(pipeline, old, None))
    if since is not None and old.resumed and datetime.fromisoformat(old.resumed).timestamp() > since:
        raise RunBusy(f"run {old.run_id} was resumed by another pipe (pid {old.pid}) while this one was "
                      f"starting; it is {old.state} now, and this resume does nothing "
                      f"(see it with: pipe status {pipeline.name} --run {old.run_id})")


def _to_rerun(pipeline: Pipeline, old: RunView, from_: tuple[str, ...]) -> set[str]:
    dag = Dag(pipeline)
    if from_:
        return dag.descendants(dag.check_ids(list(from_), "--from"))
    known = [t for t in old.selected if t in pipeline.tasks]
    return {t for t in known if old.tasks.get(t, TaskView(t)).state not in OK_STATES}


def _busy(pipeline: Pipeline, old: RunView, holder: int | None) -> str:
    """Why the run cannot be resumed now: its own pipe still runs it, or another resume holds it."""
    where = f" on {old.host}" if old.host and old.host != me()["host"] else ""
    see = f"(see it with: pipe status {pipeline.name} --run {old.run_id})"
    if old.state == RUN_RUNNING and not old.resumed:
        return (f"run {old.run_id} is still running{where} (pid {old.pid or holder}); it can be resumed once it "
                f"has stopped {see}")
    # Resumed and running, or its pipe is gone and the lock is held: a resume has it.
    pid = old.pid if old.state == RUN_RUNNING else (holder if holder != old.pid else None)
    by = f" (pid {pid})" if pid else ""
    return f"run {old.run_id} is being resumed by another pipe{where}{by}; this resume does nothing {see}"


def _nothing_to_resume(pipeline: Pipeline, state: StateDir, old: RunView, latest: bool) -> str:
    what = f"the latest run {old.run_id}" if latest else f"run {old.run_id}"
    text = (f"nothing to resume in {what}: every task of it succeeded or was skipped "
            "(use --from TASK to rerun a task and what follows it)")
    if latest:
        found = state.unfinished_before(pipeline.name, old)
        if found is not None:
            earlier, tasks = found
            shown = ", ".join(tasks[:5]) + (f" and {len(tasks) - 5} more" if len(tasks) > 5 else "")
            text += (f"; run {earlier.run_id} ({earlier.state}) has tasks to resume ({shown}): "
                     f"pipe resume {pipeline.name} {earlier.run_id}")
    return text
