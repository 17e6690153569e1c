"""The run loop: ready tasks -> executor -> state log -> reporter.

Tasks start as soon as their dependencies allow, at most `concurrency` at once; among
ready tasks the one with the longest remaining path to the end of the DAG goes first.
The loop sleeps in one select() on the tasks' pidfds, their output pipes (when secrets
are masked) and a signal wake-up pipe, with a timeout at the nearest deadline.
"""
from __future__ import annotations

import glob
import gc
import heapq
import json
import os
import selectors
import signal
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import templates
from .dag import Dag
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from .events import NullReporter, Reporter
from .executor import Attempt, Invocation, display_argv, python_argv, shell_argv, signal_group
from .model import (FAILED, MANUAL, PENDING, RETRYING, RUN_FAILED, RUN_INTERRUPTED, RUN_RUNNING,
                    RUN_SUCCEEDED, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED, Pipeline, Task)
from .secrets import Redactor
from .state import EventLog, RunView, StateDir, TaskView, iso, me, now_utc

_OK = (SUCCEEDED, SKIPPED)
_BAD = (FAILED, UPSTREAM_FAILED)


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
    return Window(interval.start, interval.end)


def read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[7:].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def check_params(pipeline: Pipeline, given: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(pipeline.params))
    if unknown:
        declared = ", ".join(sorted(pipeline.params)) or "none"
        raise UsageError(f"-p {unknown[0]}: not a parameter of pipeline {pipeline.name!r} (declared: {declared})")
    return {**pipeline.params, **given}


class RunContext:
    """The template context and environment of one run, and each task attempt's invocation."""

    def __init__(self, pipeline: Pipeline, run_id: str, window: Window, params: dict[str, Any]):
        self.pipeline = pipeline
        base = dict(os.environ)
        if pipeline.dotenv:
            for k, v in read_dotenv(Path(pipeline.folder) / pipeline.dotenv).items():
                base.setdefault(k, v)     # the real environment wins over the file
        missing = [s for s in pipeline.secrets if s not in base]
        if missing:
            raise UsageError(f"secret {missing[0]} is not set (pipeline {pipeline.name!r} lists it under "
                             f"`secrets:`; set it in the environment{' or in ' + pipeline.dotenv if pipeline.dotenv else ''})")
        self.redactor = Redactor(base[s] for s in pipeline.secrets)
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
        self.env = {**base, **run_env}
        self.workdir = self._dir(pipeline.workdir, dict(self.context, env=self.env))

    def _dir(self, text: str | None, ctx: dict) -> str:
        if text is None:
            return self.pipeline.folder
        return os.path.normpath(os.path.join(self.pipeline.folder, templates.render(text, ctx)))

    def task_context(self, task: Task, attempt: int, output_path: str) -> tuple[dict, dict[str, str]]:
        ctx = dict(self.context, task=task.id, attempt=attempt, env=self.env)
        env = dict(self.env)
        for k, v in task.env.items():
            env[k] = templates.render(v, ctx)
        env["PIPE_TASK"] = task.id
        env["PIPE_ATTEMPT"] = str(attempt)
        env["PIPE_OUTPUT"] = output_path
        ctx["env"] = env
        return ctx, env

    def invocation(self, task: Task, attempt: int, output_path: str) -> Invocation:
        ctx, env = self.task_context(task, attempt, output_path)
        cwd = self._dir(task.workdir, ctx) if task.workdir is not None else self.workdir
        if task.python is not None:
            kwargs = {k: templates.render_value(v, ctx) for k, v in task.with_.items()}
            call = {"entry": task.python, "folder": self.pipeline.folder, "kwargs": kwargs,
                    "result": output_path + ".json",
                    "context": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in ctx.items()}}
            shown = f"python {task.python}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
            return Invocation(python_argv(), env, cwd, shown, call)
        if isinstance(task.run, str):
            command = templates.render(task.run, ctx, shell=True)
            return Invocation(shell_argv(command, task.shell), env, cwd, command)
        argv = [templates.render(a, ctx) for a in task.run]
        return Invocation(argv, env, cwd, display_argv(argv))

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

    def _call(self, name: str, *args: Any) -> None:
        if self.inner is None:
            return
        try:
            getattr(self.inner, name)(*args)
        except OSError:
            self.inner = None
            try:     # later writes (and the flush at exit) go nowhere instead of failing
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
            except OSError:
                pass

    def run_started(self, run: RunView) -> None:
        self._call("run_started", run)

    def task_changed(self, run: RunView, task: TaskView) -> None:
        self._call("task_changed", run, task)

    def run_finished(self, run: RunView) -> None:
        self._call("run_finished", run)


class Run:
    """One execution of a run: a new run, or a resumed one continuing its own event file."""

    def __init__(self, pipeline: Pipeline, state: StateDir, *, reporter: Reporter | None = None,
                 run_id: str, run_dir: Path, window: Window, params: dict[str, Any], selected: set[str],
                 kind: str = MANUAL, concurrency: int | None = None, fail_fast: bool = False,
                 force: bool = False, kept: dict[str, TaskView] | None = None):
        self.pipeline, self.state = pipeline, state
        self.reporter = _SafeReporter(reporter) if reporter else NullReporter()
        self.run_id, self.dir, self.window, self.params = run_id, run_dir, window, params
        self.dag = Dag(pipeline)
        self.selected = selected
        self.kind = kind
        self.concurrency = concurrency or pipeline.concurrency or os.cpu_count() or 1
        self.fail_fast, self.force = fail_fast, force
        self.kept = kept or {}
        self.ctx = RunContext(pipeline, run_id, window, params)
        self.view = RunView(run_id=run_id, pipeline=pipeline.name, dir=run_dir, kind=kind,
                            file=pipeline.path, logical_date=window.start.isoformat(),
                            interval_start=window.start.isoformat(), interval_end=window.end.isoformat(),
                            params=params)
        for tid, t in self.kept.items():
            self.view.tasks[tid] = t
            if t.state in _OK:
                self.ctx.tasks_outputs[tid] = {"outputs": t.outputs}
        order = list(pipeline.tasks)
        for tid in order:
            if tid in selected:
                previous = self.kept.get(tid)
                self.view.tasks[tid] = TaskView(tid, attempt=previous.attempt if previous else 0)
        self.view.selected = [t for t in order if t in selected or t in self.kept]
        self.stop_reason: str | None = None
        self.interrupted = False
        self.earlier: dict[str, TaskView] | None = None    # outputs of earlier runs, read on a first skip

    # -- events ---------------------------------------------------------------------
    def _emit(self, task: TaskView, **extra: Any) -> None:
        if self.ctx.redactor:
            # The view is what reporters and --json print: masked (templates use ctx.tasks_outputs).
            task.reason = self.ctx.redactor.value(task.reason)
            task.outputs = self.ctx.redactor.value(task.outputs)
        fields = {"task": task.id, "state": task.state, "attempt": task.attempt}
        fields.update({k: v for k, v in extra.items() if v is not None})
        self.log.append("task", **fields)
        self.reporter.task_changed(self.view, task)

    def dry_run(self) -> Plan:
        plan = Plan(self.pipeline.name, self.view)
        self.ctx.context["tasks"] = _Placeholders()
        for tid in self.dag.order():
            if tid not in self.selected:
                continue
            task = self.pipeline.tasks[tid]
            try:
                inv = self.ctx.invocation(task, 1, "$PIPE_OUTPUT")
                command, cwd = inv.display, inv.cwd
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

    # -- the loop -------------------------------------------------------------------
    def execute(self, resumed: bool = False) -> RunView:
        # What exists now (the pipeline, its graph, the views) lives as long as the run:
        # the cyclic collector need not walk it again at each collection of the loop's
        # short-lived garbage (a tenth of a 10,000-task run went to that).
        gc.freeze()
        redact = self.ctx.redactor.value if self.ctx.redactor else None
        self.log = EventLog(self.dir / "events.jsonl", redact)
        started = now_utc()
        if resumed:
            self.log.append("run_resumed", tasks=sorted(self.selected), **me())
        else:
            self.log.append("run_started", format=1, run_id=self.run_id, pipeline=self.pipeline.name,
                            file=self.pipeline.path, digest=self.pipeline.digest, kind=self.kind,
                            logical_date=self.view.logical_date, interval_start=self.view.interval_start,
                            interval_end=self.view.interval_end, params=self.params,
                            tasks=self.view.selected, **me())
            # Tasks left out by --only/--from whose earlier outputs this run uses: recorded, so
            # that a replay (status, resume) sees them as the run did, not as unstarted.
            for tid, t in self.kept.items():
                t.reason = t.reason or "not in this run: outputs kept from an earlier run"
                self.log.append("task", task=tid, state=t.state, attempt=t.attempt, reason=t.reason,
                                outputs=t.outputs)
        self.view.started = self.view.started or iso(started)
        self.reporter.run_started(self.view)
        previous_handlers = self._install_signals()
        try:
            self._loop()
        finally:
            self._restore_signals(previous_handlers)
        tasks = self.view.tasks.values()
        if self.interrupted:
            self.view.state = RUN_INTERRUPTED
        elif any(t.state in _BAD for t in tasks) or any(t.state in (PENDING, RETRYING) for t in tasks):
            self.view.state = RUN_FAILED
        else:
            self.view.state = RUN_SUCCEEDED
        counts: dict[str, int] = {}
        for t in tasks:
            counts[t.state] = counts.get(t.state, 0) + 1
        self.view.finished = iso(now_utc())
        self.log.append("run_finished", state=self.view.state, counts=counts,
                        **({"reason": self.stop_reason} if self.stop_reason else {}))
        self.log.close()
        self.state.save_estimates(self.pipeline.name, self.durations)
        self.reporter.run_finished(self.view)
        return self.view

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
            # A second signal: no more grace.
            for a in self.running.values():
                signal_group(a.pid, signal.SIGKILL)
        self.interrupted = True
        self.stop_reason = f"interrupted by {signal.Signals(signum).name}"

    def _loop(self) -> None:
        tasks = self.pipeline.tasks
        rank = self.dag.priorities(self.state.estimates(self.pipeline.name))
        self.durations: dict[str, float] = {}
        self.running: dict[str, Attempt] = {}
        self.tries: dict[str, int] = {}
        waiting: dict[str, int] = {}
        ready: list[tuple[tuple[float, float, int], str]] = []
        retry_at: list[tuple[float, str]] = []
        groups: list[int] = []
        sel = selectors.DefaultSelector()
        sel.register(self.wake_r, selectors.EVENT_READ, None)
        use_pidfd = hasattr(os, "pidfd_open")

        def dep_state(d: str) -> str:
            t = self.view.tasks.get(d)
            if d in self.selected or t is not None:
                return t.state if t is not None else PENDING
            return SUCCEEDED     # outside this run (--only, --from): taken as done

        def settle(tid: str) -> None:
            """All of tid's dependencies are finished: run it, or decide it without running."""
            states = [dep_state(d) for d in tasks[tid].deps]
            trigger = tasks[tid].trigger
            any_ok = any(s in _OK for s in states)
            any_bad = any(s in _BAD for s in states)
            if trigger == "all_done" or (trigger in ("all_success", "none_failed") and not any_bad) \
                    or (trigger == "one_failed" and any_bad) \
                    or (trigger == "all_failed" and all(s in _BAD for s in states) and states) \
                    or (trigger == "one_success" and any_ok) or not states:
                heapq.heappush(ready, (rank[tid], tid))
            elif trigger in ("one_failed", "all_failed"):
                finish(tid, SKIPPED, reason=f"trigger {trigger} not met")
            else:
                failed = [d for d, s in zip(tasks[tid].deps, states) if s in _BAD]
                finish(tid, UPSTREAM_FAILED, reason=f"upstream failed: {', '.join(failed) or 'none succeeded'}")

        def finish(tid: str, state: str, **extra: Any) -> None:
            view = self.view.tasks[tid]
            view.state = state
            view.reason = extra.get("reason")
            if "duration" in extra:
                view.duration = extra["duration"]
            if "exit_code" in extra:
                view.exit_code = extra["exit_code"]
            if "outputs" in extra:
                view.outputs = extra["outputs"]
                self.ctx.tasks_outputs[tid] = {"outputs": view.outputs}
            view.finished = iso(now_utc())
            self._emit(view, **extra)
            if state == FAILED and self.fail_fast and not self.stop_reason:
                self.stop_reason = f"--fail-fast: {tid} failed"
            for child in self.dag.downstream[tid]:
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0 and not self.stop_reason:
                        del waiting[child]
                        settle(child)

        def launch(tid: str) -> None:
            task = tasks[tid]
            view = self.view.tasks[tid]
            view.attempt += 1
            self.tries[tid] = self.tries.get(tid, 0) + 1
            first = self.tries[tid] == 1
            if first and task.generates and not self.force:
                try:
                    fresh = up_to_date(self.ctx.paths(task, view.attempt, "sources"),
                                       self.ctx.paths(task, view.attempt, "generates"))
                except templates.TemplateError:
                    fresh = False
                if fresh:
                    view.attempt -= 1
                    # Downstream templates may read its outputs: those of its last success.
                    if self.earlier is None:
                        self.earlier = _outputs_from_earlier(self.pipeline, self.state, self.window, set(tasks))
                    previous = self.earlier.get(tid)
                    finish(tid, SKIPPED, reason="up to date", outputs=previous.outputs if previous else {})
                    return
            name = f"{tid}.{view.attempt}"
            out_path = self.dir / "outputs" / name
            try:
                inv = self.ctx.invocation(task, view.attempt, str(out_path))
            except (templates.TemplateError, UsageError) as e:
                finish(tid, FAILED, reason=str(getattr(e, "message", e)))
                return
            attempt = Attempt(tid, view.attempt, self.dir / "logs" / f"{name}.log", out_path, task.timeout)
            view.state, view.started, view.finished, view.duration, view.reason = RUNNING, iso(now_utc()), None, None, None
            self._emit(view)
            attempt.start(inv, self.ctx.redactor)
            self.running[tid] = attempt
            if attempt.pid:
                groups.append(attempt.pid)
            if attempt.pidfd >= 0:
                sel.register(attempt.pidfd, selectors.EVENT_READ, tid)
            if attempt.pipe_fd >= 0:
                sel.register(attempt.pipe_fd, selectors.EVENT_READ, ("pipe", tid))

        def reap(tid: str) -> None:
            attempt = self.running.pop(tid)
            for fd in (attempt.pidfd, attempt.pipe_fd):
                if fd >= 0:
                    sel.unregister(fd)
            outcome = attempt.finish()
            task = tasks[tid]
            view = self.view.tasks[tid]
            if outcome.ok:
                self.durations[tid] = outcome.duration
                finish(tid, SUCCEEDED, duration=outcome.duration, exit_code=0, outputs=outcome.outputs)
            elif self.tries[tid] <= task.retries and not self.stop_reason and not self.interrupted:
                delay = task.retry_delay * (task.retry_backoff ** (self.tries[tid] - 1))
                view.state, view.reason, view.duration = RETRYING, outcome.reason, outcome.duration
                self._emit(view, reason=outcome.reason, exit_code=outcome.exit_code,
                           duration=outcome.duration, retry_in=round(delay, 3))
                heapq.heappush(retry_at, (time.monotonic() + delay, tid))
            else:
                reason = outcome.reason
                if self.interrupted and attempt.kill_reason:
                    reason = "interrupted"
                finish(tid, FAILED, duration=outcome.duration, exit_code=outcome.exit_code, reason=reason)

        # Seed: tasks whose dependencies inside the run are all done.
        for tid in tasks:
            if tid not in self.selected:
                continue
            inside = [d for d in tasks[tid].deps if d in self.selected]
            if inside:
                waiting[tid] = len(inside)
        for tid in tasks:
            if tid in self.selected and tid not in waiting:
                settle(tid)

        stopping_sent = False
        try:
            while True:
                stopping = self.interrupted or self.stop_reason is not None
                if stopping and not stopping_sent:
                    stopping_sent = True
                    why = "interrupted" if self.interrupted else "stopped by --fail-fast"
                    for a in self.running.values():
                        a.stop(why)
                while not stopping and retry_at and retry_at[0][0] <= time.monotonic():
                    _, tid = heapq.heappop(retry_at)
                    heapq.heappush(ready, (rank[tid], tid))
                while not stopping and ready and len(self.running) < self.concurrency:
                    _, tid = heapq.heappop(ready)
                    launch(tid)
                    stopping = self.interrupted or self.stop_reason is not None
                if not self.running and (stopping or (not ready and not retry_at)):
                    break
                # Wait for something to happen.
                deadlines = [d for d in (a.next_deadline() for a in self.running.values()) if d is not None]
                if retry_at and not stopping:
                    deadlines.append(retry_at[0][0])
                now = time.monotonic()
                timeout = max(0.0, min(deadlines) - now) if deadlines else None
                if not use_pidfd or any(a.pidfd < 0 for a in self.running.values()):
                    # (an attempt that could not start has no pidfd to wake us: poll it)
                    timeout = 0.01 if timeout is None else min(timeout, 0.01)
                done = []
                for key, _ in sel.select(timeout):
                    if key.data is None:
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                    elif isinstance(key.data, tuple):
                        attempt = self.running.get(key.data[1])
                        if attempt is not None and not attempt.pump():
                            sel.unregister(attempt.pipe_fd)
                            os.close(attempt.pipe_fd)
                            attempt.pipe_fd = -1
                            os.write(attempt.log_fd, attempt.stream.close())
                    else:
                        done.append(key.data)
                now = time.monotonic()
                for tid, a in list(self.running.items()):
                    a.on_time(now)
                    if (tid in done or not use_pidfd or a.pidfd < 0) and a.poll():
                        reap(tid)
        finally:
            if self.interrupted:
                for pid in groups:     # anything left of any task of this run
                    signal_group(pid, signal.SIGKILL)
            sel.close()


def new_run(pipeline: Pipeline, state: StateDir, *, reporter: Reporter | None = None,
            date: datetime | None = None, params: dict[str, str] | None = None,
            only: list[str] | None = None, from_: list[str] | None = None, force: bool = False,
            concurrency: int | None = None, fail_fast: bool = False, kind: str = MANUAL,
            window: Window | None = None, now: datetime | None = None, claim: bool | None = None,
            dry_run: bool = False) -> RunView | Plan:
    """Start and finish a new run (or, with dry_run, return its plan and write nothing)."""
    now = now or now_utc()
    merged = check_params(pipeline, params or {})
    dag = Dag(pipeline)
    selected = dag.select(only, from_)
    window = window or window_for(pipeline, date, now)
    if dry_run:
        run = Run(pipeline, state, run_id="dry-run", run_dir=Path("."), window=window, params=merged,
                  selected=selected, kind=kind, concurrency=concurrency, force=force)
        return run.dry_run()
    kept = _outputs_from_earlier(pipeline, state, window, set(pipeline.tasks) - selected) if len(selected) < len(pipeline.tasks) else {}
    run_id, run_dir = state.new_run(pipeline.name, kind)
    run = Run(pipeline, state, reporter=reporter, run_id=run_id, run_dir=run_dir, window=window,
              params=merged, selected=selected, kind=kind, concurrency=concurrency, fail_fast=fail_fast,
              force=force, kept=kept)
    if claim if claim is not None else (date is not None and pipeline.schedule):
        state.claim(pipeline.name, start=window.start.astimezone(timezone.utc).isoformat(),
                    end=window.end.astimezone(timezone.utc).isoformat(), run_id=run_id, kind=kind)
    return run.execute()


def _outputs_from_earlier(pipeline: Pipeline, state: StateDir, window: Window, tasks: set[str]) -> dict[str, TaskView]:
    """For --only/--from: the outputs of the tasks left out, from the latest run of the same
    logical date in which each succeeded (so templates that use them still render)."""
    kept: dict[str, TaskView] = {}
    logical = window.start.isoformat()
    for run in reversed(state.runs(pipeline.name, limit=50)):
        if pipeline.schedule and run.logical_date != logical:
            continue     # without a schedule every run has its own time: the latest outputs count
        for tid, t in run.tasks.items():
            if tid in tasks and tid not in kept and t.state in _OK:
                kept[tid] = TaskView(tid, state=t.state, attempt=0, outputs=t.outputs)
    return kept


def resume(pipeline: Pipeline, state: StateDir, run_id: str | None, *, reporter: Reporter | None = None,
           from_: list[str] | None = None, concurrency: int | None = None, fail_fast: bool = False) -> RunView:
    """Rerun a run's failed, upstream_failed, interrupted and unstarted tasks (with --from: T and
    everything downstream of it), in the same run, keeping the others and their outputs."""
    old = state.run(pipeline.name, run_id)
    if old.state == RUN_RUNNING:
        raise UsageError(f"run {old.run_id} is still running (pid {old.pid}); it can be resumed once it has stopped")
    dag = Dag(pipeline)
    known = [t for t in old.selected if t in pipeline.tasks]
    if from_:
        rerun = dag.descendants(dag.check_ids(from_, "--from"))
    else:
        rerun = {t for t in known if old.tasks.get(t, TaskView(t)).state not in _OK}
    if not rerun:
        raise UsageError(f"run {old.run_id} has nothing to resume: every task succeeded or was skipped "
                         "(use --from TASK to rerun a task and what follows it)")
    kept = {t: v for t, v in old.tasks.items() if t not in rerun and t in pipeline.tasks}
    for t in rerun:
        if t in old.tasks:
            kept.pop(t, None)
    window = Window(datetime.fromisoformat(old.interval_start), datetime.fromisoformat(old.interval_end))
    run = Run(pipeline, state, reporter=reporter, run_id=old.run_id, run_dir=old.dir, window=window,
              params=old.params, selected=rerun, kind=old.kind, concurrency=concurrency, fail_fast=fail_fast,
              kept=kept)
    for t in rerun:
        if t in old.tasks:
            run.view.tasks[t].attempt = old.tasks[t].attempt
    run.view.started = old.started
    return run.execute(resumed=True)


def exit_code(view: RunView) -> int:
    return {RUN_SUCCEEDED: EXIT_OK, RUN_INTERRUPTED: EXIT_INTERRUPTED}.get(view.state, EXIT_FAILED)
