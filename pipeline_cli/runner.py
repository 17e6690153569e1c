"""The run loop: the machine says what is ready, the executor runs it, each decision becomes
an event (written, then applied to the run's view by the reducer every reader uses), and the
reporter shows it.

    machine (machine.py) -> executor (executors/) -> events (state/events.py) -> reporter
"""
from __future__ import annotations

import gc
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import templates
from .context import RunContext, Window, check_params, up_to_date, window_for
from .dag import Dag
from .errors import EXIT_FAILED, UsageError
from .reporter import NullReporter, Reporter
from .executors.base import KILL_GRACE, AttemptSpec, Executor
from .machine import BAD_STATES, OK_STATES, Change, RunMachine
from .model import (CANCELLED, MANUAL, PENDING, RETRYING, RUN_FAILED, RUN_INTERRUPTED, RUN_RUNNING,
                    RUN_SUCCEEDED, RUNNING, SKIPPED, SUCCEEDED, Pipeline, Task)
from .state import EventLog, RunView, StateDir, TaskView, apply, me, now_utc
from .state import events as ev
from .state.layout import events_file, log_file, output_file
from .state.watcher import Watch


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


class _SafeReporter:
    """A reporter whose output cannot stop the run: when stdout goes away (`pipe run | head`,
    a closed terminal), reporting stops and the run goes on to its end, recorded as usual."""

    def __init__(self, inner: Reporter):
        self.inner: Reporter | None = inner
        self.lost_output = False

    def _call(self, name: str, *args: Any) -> None:
        hook = getattr(self.inner, name, None)
        if hook is None:
            return
        try:
            hook(*args)
        except OSError:
            self.inner = None
            self.lost_output = True
            try:     # later writes (and the flush at exit) go nowhere instead of failing
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
            except OSError:
                pass

    def __getattr__(self, name: str):
        return lambda *args: self._call(name, *args)


class Run:
    """One execution of a run: a new run, or a resumed one continuing its own event file."""

    def __init__(self, pipeline: Pipeline, state: StateDir, *, reporter: Reporter | None = None,
                 run_id: str, run_dir: Path, window: Window, params: dict[str, Any], selected: set[str],
                 kind: str = MANUAL, concurrency: int | None = None, fail_fast: bool = False,
                 force: bool = False, kept: dict[str, TaskView] | None = None,
                 executor: Executor | None = None):
        self.pipeline, self.state = pipeline, state
        self.reporter = _SafeReporter(reporter) if reporter else NullReporter()
        self.run_id, self.dir, self.window, self.params = run_id, run_dir, window, params
        self.dag = Dag(pipeline)
        self.selected = selected
        self.kind = kind
        self.executor = executor
        self.concurrency = concurrency or pipeline.concurrency
        self.fail_fast, self.force = fail_fast, force
        self.kept = kept or {}
        self.ctx = RunContext(pipeline, run_id, window, params)
        self.view = RunView(run_id=run_id, pipeline=pipeline.name, dir=run_dir)
        self.interrupted = False
        self.began = False                                  # its first event is written
        self.signal_name: str | None = None
        self.kill_now = False
        self.earlier: dict[str, TaskView] | None = None    # outputs of earlier runs, read on a first skip
        self.keys: dict[str, str] = {}                      # running attempt key -> task id
        self.durations: dict[str, float] = {}

    # -- events ---------------------------------------------------------------------
    def _event(self, name: str, **fields: Any) -> None:
        record = self.log.append(name, **fields)
        apply(self.view, record)

    def _record(self, changes: list[Change]) -> None:
        for c in changes:
            if c.state == SUCCEEDED:
                self.ctx.tasks_outputs[c.task] = {"outputs": c.fields.get("outputs") or {}}
                self.durations[c.task] = c.fields.get("duration") or 0.0
            elif c.state == SKIPPED and "outputs" in c.fields:
                self.ctx.tasks_outputs[c.task] = {"outputs": c.fields["outputs"]}
            fields = {k: v for k, v in c.fields.items() if v is not None}
            self._event(ev.TASK, task=c.task, state=c.state, **fields)
            self.reporter.task_changed(self.view, self.view.tasks[c.task])

    def dry_run(self) -> Plan:
        plan = Plan(self.pipeline.name, self.view)
        # No events are written, so the view is told what the run would be (the plan shows it).
        self.view.logical_date = self.window.start.isoformat()
        self.view.interval_start, self.view.interval_end = self.window.start.isoformat(), self.window.end.isoformat()
        self.view.params = self.params
        self.view.selected = [t for t in self.pipeline.tasks if t in self.selected]
        for tid in self.view.selected:
            self.view.tasks[tid] = TaskView(tid)
        self.ctx.context["tasks"] = _Placeholders()
        for tid in self.dag.order():
            if tid not in self.selected:
                continue
            task = self.pipeline.tasks[tid]
            try:
                spec = self.ctx.attempt_spec(task, 1, "$PIPE_OUTPUT", "")
                command, cwd = spec.display, spec.cwd
                skip = (not self.force and bool(task.generates)
                        and up_to_date(self.ctx.paths(task, 1, "sources"), self.ctx.paths(task, 1, "generates")))
            except templates.TemplateError as e:
                command, cwd, skip = f"<cannot render: {e.message}>", self.ctx.workdir, False
            plan.steps.append(self.ctx.redactor.value({
                "task": tid, "deps": list(task.deps), "command": command, "cwd": cwd,
                "kind": "python" if task.python else ("argv" if isinstance(task.run, tuple) else "shell"),
                "trigger": task.trigger, "retries": task.retries, "timeout": task.timeout,
                "up_to_date": skip}))
        return plan

    # -- the run ----------------------------------------------------------------------
    def execute(self, resumed: bool = False, earlier: RunView | None = None) -> RunView:
        # What exists now (the pipeline, its graph, the views) lives as long as the run:
        # the cyclic collector need not walk it again at each collection of the loop's
        # short-lived garbage (a tenth of a 10,000-task run went to that).
        gc.freeze()
        self.log = EventLog(events_file(self.dir), self.ctx.redactor.value if self.ctx.redactor else None)
        if self.executor is None:
            from .executors import make_executor

            self.executor = make_executor()
        executor = self.executor
        watch: Watch | None = None
        try:
            previous_handlers = self._install_signals()
            try:
                # Before the first event: what can never run (a resource no worker offers, a
                # worker that cannot see the file) refuses the run, and nothing is recorded.
                executor.open(self.wake_r)
                self._check_executor()
                self.began = True
                if resumed:
                    self._replay_earlier(earlier)
                    self._event(ev.RUN_RESUMED, tasks=sorted(self.selected), executor=executor.name, **me())
                    self._record_leftovers(earlier)
                else:
                    self._start_events()
                # Before the first task: if this pipe is killed, the watcher stops its tasks.
                watch = Watch(events_file(self.dir), KILL_GRACE)
                self.reporter.run_started(self.view)
                self._loop()
            finally:
                executor.close(hard=self.interrupted)
                if watch is not None:
                    watch.done()          # every attempt has ended and been reaped
                self._restore_signals(previous_handlers)
            self._finish()
        finally:
            if watch is not None:
                watch.release()
            self.log.close()
            gc.unfreeze()
        self.state.save_estimates(self.pipeline.name, self.durations)
        self._after_run()
        self.reporter.run_finished(self.view)
        return self.view

    def _start_events(self) -> None:
        recorded = [t for t in self.pipeline.tasks if t in self.selected or t in self.kept]
        self._event(ev.RUN_STARTED, format=ev.EVENT_FORMAT, run_id=self.run_id, pipeline=self.pipeline.name,
                    file=self.pipeline.path, digest=self.pipeline.digest, kind=self.kind,
                    logical_date=self.window.start.isoformat(), interval_start=self.window.start.isoformat(),
                    interval_end=self.window.end.isoformat(), params=self.params, tasks=recorded,
                    kept=[t for t in recorded if t in self.kept], executor=self.executor.name, **me())
        # Tasks left out by --only/--from whose earlier outputs this run uses: recorded as
        # skipped (not run here, so never a success of this run, and not among its tasks or
        # counts), with the run they come from, so that a replay (status, resume) uses the
        # same outputs.
        for tid, t in self.kept.items():
            self.ctx.tasks_outputs[tid] = {"outputs": t.outputs}
            self._event(ev.TASK, task=tid, state=SKIPPED, attempt=0, kept_from=t.kept_from,
                        reason=f"not in this run (--only/--from): outputs kept from run {t.kept_from}",
                        outputs=t.outputs)

    def _replay_earlier(self, earlier: RunView) -> None:
        """A resumed run goes on from its own events: its view, and the outputs of kept tasks."""
        self.view = earlier
        for tid, t in earlier.tasks.items():
            if tid not in self.selected and t.state in OK_STATES:
                self.ctx.tasks_outputs[tid] = {"outputs": t.outputs}

    def _record_leftovers(self, earlier: RunView) -> None:
        """A task the dead pipe left running that this resume does not rerun (--from) was
        stopped before the resume: recorded as cancelled, so the file says what the view does."""
        for tid, t in earlier.tasks.items():
            if tid not in self.selected and t.finished is None and t.state in (RUNNING, RETRYING, CANCELLED):
                self._event(ev.TASK, task=tid, state=CANCELLED, attempt=t.attempt,
                            reason=t.reason if t.state == CANCELLED else "interrupted: pipe stopped")

    def _finish(self) -> None:
        m = self.machine
        states = [self.view.tasks[t].state for t in self.view.selected if t in self.view.tasks]
        if self.interrupted:
            state = RUN_INTERRUPTED
        elif any(s in BAD_STATES or s in (PENDING, RETRYING, RUNNING, CANCELLED) for s in states):
            state = RUN_FAILED
        else:
            state = RUN_SUCCEEDED
        extra: dict[str, Any] = {"counts": self.view.counts()}
        if m.stop_reason:
            extra["reason"] = m.stop_reason
        if m.first_failure:
            extra["first_failure"] = m.first_failure
        self._event(ev.RUN_FINISHED, state=state, **extra)

    def _after_run(self) -> None:
        """After the final event is on disk: what follows a run (notifications)."""
        if self.pipeline.notify is not None:
            from . import notify

            notify.after_run(self.pipeline, self.view, self.state, self.kind)

    # -- signals ------------------------------------------------------------------------
    def _install_signals(self):
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        previous = {}
        try:
            previous["wakeup"] = signal.set_wakeup_fd(self.wake_w)
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:       # not the main thread: no signal handling
            previous = {}
        return previous

    def _restore_signals(self, previous) -> None:
        for sig, handler in previous.items():
            if sig == "wakeup":
                signal.set_wakeup_fd(handler)
            else:
                signal.signal(sig, handler)
        os.close(self.wake_r)
        os.close(self.wake_w)

    def _on_signal(self, signum, frame) -> None:
        if self.interrupted:
            self.kill_now = True          # a second signal: no more grace
        self.interrupted = True
        self.signal_name = signal.Signals(signum).name

    # -- the loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        tasks = self.pipeline.tasks
        rank = self.dag.priorities(self.state.estimates(self.pipeline.name))
        outside = {tid: t.state for tid, t in self.view.tasks.items() if tid not in self.selected}
        tries = {tid: self.view.tasks[tid].attempt for tid in self.selected if tid in self.view.tasks}
        m = self.machine = RunMachine(tasks, self.dag.downstream, self.selected, rank, outside, tries,
                                      self.fail_fast)
        executor = self.executor
        self._record(m.start())
        stopping = False
        while True:
            if not stopping and (self.interrupted or m.stop_reason):
                stopping = True
                why = f"interrupted by {self.signal_name}" if self.interrupted else m.stop_reason
                if self.interrupted:
                    self.reporter.stopping(self.view, self.signal_name)
                self._record(m.stop(why))
                cancel_many = getattr(executor, "cancel_many", None)
                if cancel_many is not None:      # all at once: nothing waiting starts meanwhile
                    cancel_many(list(self.keys), why)
                else:
                    for key in list(self.keys):
                        executor.cancel(key, why)
            if self.kill_now:
                executor.kill_all()
                self.kill_now = False
            m.release_retries(time.monotonic())
            limit = self.concurrency or executor.capacity()     # Dask: follows the workers as they come and go
            while len(self.keys) < limit and (tid := m.take_ready()) is not None:
                self._launch(tid, rank[tid])
                if self.interrupted or m.stop_reason:
                    break
            if m.over() and not self.keys:
                break
            nxt = m.next_retry()
            timeout = None if nxt is None else max(0.0, nxt - time.monotonic())
            ended = executor.wait(timeout)
            for key, worker in executor.placed():
                tid = self.keys.get(key)
                if tid is not None and self.view.tasks[tid].state == RUNNING:
                    # Recorded, not reported again: the task's `running` line was printed at its start.
                    self._event(ev.TASK, task=tid, state=RUNNING, attempt=m.attempts[tid], worker=worker)
            for key, outcome in ended:
                tid = self.keys.pop(key, None)
                if tid is not None:
                    self._record(m.finished(tid, outcome, time.monotonic()))

    def _check_executor(self) -> None:
        previews = []
        for tid in self.selected:
            task = self.pipeline.tasks[tid]
            if task.resources or task.executor:
                previews.append(AttemptSpec(key=f"check/{tid}", pipeline=self.pipeline.name, run_id=self.run_id,
                                            task=tid, attempt=0, argv=(), env={}, cwd=self.pipeline.folder,
                                            output_path="", log_path="", display="",
                                            resources=dict(task.resources or {}),
                                            local_only=task.executor == "local"))
        self.executor.check(previews, self.pipeline.path)

    def _launch(self, tid: str, rank: tuple) -> None:
        task = self.pipeline.tasks[tid]
        m = self.machine
        if m.tries[tid] == 0 and task.generates and not self.force and self._fresh(task, m.attempts[tid] + 1):
            # Downstream templates may read its outputs: those of its last success.
            if self.earlier is None:
                self.earlier = _outputs_from_earlier(self.pipeline, self.state, self.window, set(self.pipeline.tasks))
            previous = self.earlier.get(tid)
            self._record(m.not_run(tid, SKIPPED, reason="up to date", outputs=previous.outputs if previous else {}))
            return
        attempt = m.attempts[tid] + 1
        try:
            spec = self.ctx.attempt_spec(task, attempt, str(output_file(self.dir, tid, attempt)),
                                         str(log_file(self.dir, tid, attempt)), priority=-rank[0])
        except (templates.TemplateError, UsageError) as e:
            m.attempts[tid] = attempt
            self._record(m.not_run(tid, "failed", reason=str(getattr(e, "message", e))))
            return
        change = m.started(tid)
        started = self.executor.submit(spec)
        self.keys[spec.key] = tid
        change.fields.update(worker=started.worker, pgid=started.pgid, pgid_start=started.pgid_start)
        self._record([change])

    def _fresh(self, task: Task, attempt: int) -> bool:
        try:
            return up_to_date(self.ctx.paths(task, attempt, "sources"), self.ctx.paths(task, attempt, "generates"))
        except templates.TemplateError:
            return False


def new_run(pipeline: Pipeline, state: StateDir, *, reporter: Reporter | None = None,
            date: datetime | None = None, params: dict[str, str] | None = None,
            only: list[str] | None = None, from_: list[str] | None = None, force: bool = False,
            concurrency: int | None = None, fail_fast: bool = False, kind: str = MANUAL,
            window: Window | None = None, now: datetime | None = None, claim: bool | None = None,
            dry_run: bool = False, executor: Executor | None = None) -> RunView | Plan:
    """Start and finish a new run (or, with dry_run, return its plan and write nothing)."""
    now = now or now_utc()
    merged = check_params(pipeline, params or {}, "give it with" if kind == MANUAL else
                          "a scheduled run cannot give them; declare a default")
    dag = Dag(pipeline)
    selected = dag.select(only, from_)
    window = window or window_for(pipeline, date, now)
    if dry_run:
        run = Run(pipeline, state, run_id="dry-run", run_dir=Path("."), window=window, params=merged,
                  selected=selected, kind=kind, concurrency=concurrency, force=force)
        return run.dry_run()
    kept = _outputs_from_earlier(pipeline, state, window, set(pipeline.tasks) - selected) if len(selected) < len(pipeline.tasks) else {}
    run_id, run_dir = state.new_run(pipeline.name, kind)
    lock = state.run_lock(run_dir)
    lock.acquire(wait=False)      # held while it runs: a reader sees a run starting, not a dead one
    try:
        try:
            run = Run(pipeline, state, reporter=reporter, run_id=run_id, run_dir=run_dir, window=window,
                      params=merged, selected=selected, kind=kind, concurrency=concurrency, fail_fast=fail_fast,
                      force=force, kept=kept, executor=executor)
        except BaseException:
            _discard(run_dir)
            raise
        if claim if claim is not None else (date is not None and pipeline.schedule):
            state.claim(pipeline.name, start=window.start.astimezone(timezone.utc).isoformat(),
                        end=window.end.astimezone(timezone.utc).isoformat(), run_id=run_id, kind=kind)
        try:
            return run.execute()
        except BaseException:
            if not run.began:
                _discard(run_dir)
            raise
    finally:
        lock.release()


def _discard(run_dir: Path) -> None:
    """A run that never began (a secret not set, a cluster that refuses it): no empty run left."""
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)


def _outputs_from_earlier(pipeline: Pipeline, state: StateDir, window: Window, tasks: set[str]) -> dict[str, TaskView]:
    """For --only/--from: the outputs of the tasks left out, from the latest run of the same
    logical date in which each succeeded (so templates that use them still render)."""
    kept: dict[str, TaskView] = {}
    logical = window.start.isoformat()
    for run in reversed(state.runs(pipeline.name, limit=50)):
        if pipeline.schedule and run.logical_date != logical:
            continue     # without a schedule every run has its own time: the latest outputs count
        for tid, t in run.tasks.items():
            if tid in tasks and tid not in kept and t.state in OK_STATES:
                kept[tid] = TaskView(tid, state=t.state, attempt=0, outputs=t.outputs,
                                     kept_from=t.kept_from or run.run_id)
    return kept


class RunBusy(UsageError):
    """Another pipe is running or resuming the run (or resumed it while this command was
    starting): this command does nothing and exits 1, as `flock -n` does."""

    exit_code = EXIT_FAILED


def resume(pipeline: Pipeline, state: StateDir, run_id: str | None, *, reporter: Reporter | None = None,
           from_: list[str] | None = None, concurrency: int | None = None, fail_fast: bool = False,
           executor: Executor | None = None, since: float | None = None) -> RunView:
    """Rerun a run's failed, upstream_failed, cancelled and unstarted tasks (with --from: T and
    everything downstream of it), in the same run, keeping the others and their outputs.

    The run's lock is held from deciding what to rerun to the end of the rerun, so of
    several resumes at once one reruns and the others raise RunBusy. `since` (when the
    command started): a resume that began after it is one of those too, even if it has
    ended by the time this one holds the lock: the command does not rerun what it reran."""
    old = state.run(pipeline.name, run_id)
    lock = state.run_lock(old.dir)
    if old.state == RUN_RUNNING or not lock.acquire(wait=False):
        raise RunBusy(_busy(pipeline, old, lock.holder()))
    try:
        old = state.run(pipeline.name, old.run_id)     # as it is now that we hold its lock
        if old.state == RUN_RUNNING:
            raise RunBusy(_busy(pipeline, old, None))
        if since is not None and old.resumed and datetime.fromisoformat(old.resumed).timestamp() > since:
            raise RunBusy(f"run {old.run_id} was resumed by another pipe (pid {old.pid}) while this one was "
                          f"starting; it is {old.state} now, and this resume does nothing "
                          f"(see it with: pipe status {pipeline.name} --run {old.run_id})")
        dag = Dag(pipeline)
        known = [t for t in old.selected if t in pipeline.tasks]
        if from_:
            rerun = dag.descendants(dag.check_ids(from_, "--from"))
        else:
            rerun = {t for t in known if old.tasks.get(t, TaskView(t)).state not in OK_STATES}
        if not rerun:
            raise UsageError(_nothing_to_resume(pipeline, state, old, latest=run_id in (None, "latest")))
        _stop_leftovers(old)
        window = Window(datetime.fromisoformat(old.interval_start), datetime.fromisoformat(old.interval_end))
        run = Run(pipeline, state, reporter=reporter, run_id=old.run_id, run_dir=old.dir, window=window,
                  params=old.params, selected=rerun, kind=old.kind, concurrency=concurrency, fail_fast=fail_fast,
                  executor=executor)
        return run.execute(resumed=True, earlier=old)
    finally:
        lock.release()


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


def _stop_leftovers(old: RunView) -> None:
    """Before the run goes on, what is left of its earlier attempts (its `pipe` was killed and
    an attempt's process group lives on) is stopped, so that an attempt never runs twice at
    once and nothing of the dead execution runs beside the resumed one."""
    from .state.groups import stop_groups

    stop_groups([(t.pgid, t.pgid_start) for t in old.tasks.values() if t.pgid], KILL_GRACE)
