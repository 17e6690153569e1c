"""The run loop: the machine says what is ready, the executor runs it, each decision becomes
an event (written, then applied to the run's view by the reducer every reader uses), and
the run's hooks hear of it.

    machine (run/machine.py) -> executor (executors/) -> events (state/events.py) -> hooks
"""
from __future__ import annotations

import gc
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import templates
from .. import sensors
from ..attempt import CANCELLED as CANCELLED_OUTCOME, FAILED as FAILED_OUTCOME, SUCCEEDED as SUCCEEDED_OUTCOME
from ..attempt import AttemptSpec, Outcome
from ..dag import Dag
from ..errors import UsageError
from ..fanout import NotAList, items_of
from ..executors.base import KILL_GRACE, Executor
from ..model import (CANCELLED, PENDING, RETRYING, RUN_FAILED, RUN_INTERRUPTED, RUN_SUCCEEDED, RUN_WAITING,
                     RUNNING, WAITING,
                     SKIPPED, SUCCEEDED)
from ..state import EventLog, RunView, StateDir, TaskView, apply, me
from ..state import events as ev
from ..state.events import instance_of
from ..state.layout import events_file, log_file, output_file
from ..state.watcher import Watch
from .attempts import AttemptBuilder
from .hooks import Hooks
from .machine import BAD_STATES, OK_STATES, Change, RunMachine
from .request import RunRequest


POOL_POLL = 0.2      # seconds between looks at a pool's slots while a task waits for one


@dataclass
class _Waiting:
    """A sensor of this execution: its rendered condition, and when to look again."""

    wait: dict
    env: dict
    every: float
    next_check: float         # time.monotonic()
    deadline: float | None    # time.monotonic() when it has waited `timeout` in all
    began: float              # time.monotonic() its attempt began (an earlier execution's: before ours)
    what: str
    checked: bool = False


class RunLoop:
    """One execution of a run: a new run, or a resumed one continuing its own event file.
    `request` says what runs (for a resume: the tasks it reruns); `kept`: tasks left out by
    --only/--from whose earlier outputs this run uses."""

    def __init__(self, state: StateDir, request: RunRequest, run_id: str, run_dir: Path, executor: Executor,
                 hooks: Hooks, kept: dict[str, TaskView] | None = None, keep_instances: bool = True):
        """`keep_instances`: a resumed foreach task reruns only the instances that did not
        succeed (False, `resume --from`: all of them)."""
        self.state, self.request, self.pipeline = state, request, request.pipeline
        self.run_id, self.dir = run_id, run_dir
        self.executor, self.hooks = executor, hooks
        self.kept = kept or {}
        self.dag = Dag(self.pipeline)
        self.attempts = AttemptBuilder(self.pipeline, run_id, request.interval, request.params)
        self.view = RunView(run_id=run_id, pipeline=self.pipeline.name, dir=run_dir)
        self.began = False                                  # its first event is written
        self.interrupted = False
        self.signal_name: str | None = None
        self.kill_now = False
        self.stopping = False
        self.earlier: dict[str, TaskView] | None = None    # outputs of earlier runs, read on a first skip
        self.keys: dict[str, str] = {}                      # running attempt key -> task id
        self.items: dict[str, list] = {}                    # expanded foreach task -> its items
        self.keep_instances = keep_instances
        self.earlier_instances: dict[str, TaskView] = {}    # a resumed run's foreach tasks, as they were
        self.sensors: dict[str, _Waiting] = {}               # waiting sensors of this execution
        self.earlier_waiting: dict[str, TaskView] = {}      # sensors an earlier execution left waiting
        self.left_waiting = False                           # the run is left `waiting` for a later tick
        self.began_at = time.monotonic()
        self.slots: dict[str, object] = {}                  # running attempt key -> its pool slots (state/pools.Held)
        self.pool_said: set[str] = set()                    # tasks whose wait for a pool slot was recorded

    # -- events ---------------------------------------------------------------------------
    def _event(self, name: str, **fields) -> None:
        apply(self.view, self.log.append(name, **fields))

    def _record(self, changes: list[Change]) -> None:
        outputs = self.attempts.outputs
        for c in changes:
            if c.task in self.items and c.state != RUNNING and "duration" not in c.fields:
                c.fields["duration"] = self._since_started(c.task)      # a foreach task, over
            if (c.state == SUCCEEDED or ("outputs" in c.fields and (c.state == SKIPPED or c.task in self.items))) \
                    and "[" not in c.task:
                outputs[c.task] = {"outputs": c.fields.get("outputs") or {}}
            self._event(ev.TASK, task=c.task, state=c.state, **{k: v for k, v in c.fields.items() if v is not None})
            if c.state == SUCCEEDED and "[" not in c.task and self.pipeline.tasks[c.task].produces:
                self._produced(c.task)
            self.hooks.task_changed(self.view, self.view.task(c.task))

    def _produced(self, tid: str) -> None:
        """The task succeeded: the partition of the run's interval of each asset it produces
        is recorded (after its `succeeded` event: a partition never stands for a failure)."""
        from ..state import assets

        start = self.request.interval.start.astimezone(timezone.utc).isoformat()
        end = self.request.interval.end.astimezone(timezone.utc).isoformat()
        for asset in self.pipeline.tasks[tid].produces:
            assets.record(self.state.layout, asset, start, end, pipeline=self.pipeline.name, task=tid,
                          run_id=self.run_id, by="run", time=ev.iso(ev.now_utc()))

    def _since_started(self, tid: str) -> float | None:
        from datetime import datetime

        started = self.view.tasks[tid].started
        return round((ev.now_utc() - datetime.fromisoformat(started)).total_seconds(), 3) if started else None

    # -- the run ----------------------------------------------------------------------------
    def execute(self, earlier: RunView | None = None) -> RunView:
        """Run it to its end (`earlier`: the view of the run this execution resumes)."""
        # What exists now (the pipeline, its graph, the views) lives as long as the run: the
        # cyclic collector need not walk it again at each collection of the loop's
        # short-lived garbage (a tenth of a 10,000-task run went to that).
        gc.freeze()
        self.log = EventLog(events_file(self.dir), self.attempts.redactor.value)
        watch: Watch | None = None
        try:
            with self._signals():
                try:
                    # Before the first event: what can never run (a resource no worker
                    # offers, a worker that cannot see the file) refuses the run, and
                    # nothing is recorded.
                    self.executor.open(self.wake_r)
                    self._check_executor()
                    self.began = True
                    self._begin(earlier)
                    # Before the first task: if this pipe is killed, the watcher stops its tasks.
                    watch = Watch(events_file(self.dir), KILL_GRACE)
                    self.hooks.run_started(self.view)
                    self._loop()
                finally:
                    self.executor.close(hard=self.interrupted or bool(self.keys))
                    for held in self.slots.values():
                        held.release()
                    self.slots.clear()
                    if watch is not None:
                        watch.done()          # every attempt has ended and been reaped
                    if self.began:
                        self._finish()
        finally:
            if watch is not None:
                watch.release()
            self.log.close()
            gc.unfreeze()
        self.hooks.run_finished(self.view)
        return self.view

    def _begin(self, earlier: RunView | None) -> None:
        if earlier is None:
            self._start_events()
            return
        # A resumed run goes on from its own events: its view, and the outputs of kept tasks.
        self.view = earlier
        for tid, t in earlier.tasks.items():
            if tid not in self.request.selected and t.state in OK_STATES:
                self.attempts.outputs[tid] = {"outputs": t.outputs}
            elif t.items is not None and self.keep_instances:
                self.earlier_instances[tid] = t
            elif t.state == WAITING:
                self.earlier_waiting[tid] = t
        # What is left of the dead execution's attempts (its pipe was killed and an attempt
        # lives on) is stopped first: an attempt never runs twice at once.
        everything = [*earlier.tasks.values(), *(i for t in earlier.tasks.values() for i in t.instances.values())]
        self.executor.stop_leftovers([{"pgid": t.pgid, "pgid_start": t.pgid_start} for t in everything if t.pgid])
        self._event(ev.RUN_RESUMED, tasks=sorted(self.request.selected), executor=self.executor.name, **me())
        # A task the dead pipe left running that this resume does not rerun (--from) was
        # stopped above: recorded as cancelled, so the file says what the view does.
        for tid, t in earlier.tasks.items():
            if tid not in self.request.selected and t.finished is None and t.state in (RUNNING, RETRYING, CANCELLED):
                self._event(ev.TASK, task=tid, state=CANCELLED, attempt=t.attempt,
                            reason=t.reason if t.state == CANCELLED else "interrupted: pipe stopped")

    def _start_events(self) -> None:
        r = self.request
        recorded = [t for t in self.pipeline.tasks if t in r.selected or t in self.kept]
        start, end = r.interval.start.isoformat(), r.interval.end.isoformat()
        self._event(ev.RUN_STARTED, format=ev.EVENT_FORMAT, run_id=self.run_id, pipeline=self.pipeline.name,
                    file=self.pipeline.path, digest=self.pipeline.digest, kind=r.kind, logical_date=start,
                    interval_start=start, interval_end=end, params=r.params, tasks=recorded,
                    kept=[t for t in recorded if t in self.kept], executor=self.executor.name,
                    **({"consumed": list(r.consumed)} if r.consumed else {}), **me())
        # Tasks left out by --only/--from whose earlier outputs this run uses: recorded as
        # skipped (not run here, so never a success of this run, and not among its tasks or
        # counts), with the run they come from, so that a replay (status, resume) uses the
        # same outputs.
        for tid, t in self.kept.items():
            self.attempts.outputs[tid] = {"outputs": t.outputs}
            self._event(ev.TASK, task=tid, state=SKIPPED, attempt=0, kept_from=t.kept_from,
                        reason=f"not in this run (--only/--from): outputs kept from run {t.kept_from}",
                        outputs=t.outputs)

    def _finish(self) -> None:
        m = getattr(self, "machine", None)
        states = [self.view.tasks[t].state for t in self.view.selected if t in self.view.tasks]
        if self.interrupted:
            state = RUN_INTERRUPTED
        elif self.left_waiting:
            state = RUN_WAITING
        elif m is None or any(s in BAD_STATES or s in (PENDING, RETRYING, RUNNING, CANCELLED) for s in states):
            state = RUN_FAILED
        else:
            state = RUN_SUCCEEDED
        extra: dict = {"counts": self.view.counts()}
        if m is not None and m.stop_reason:
            extra["reason"] = m.stop_reason
        if m is not None and m.first_failure:
            extra["first_failure"] = m.first_failure
        self._event(ev.RUN_FINISHED, state=state, **extra)

    # -- signals ----------------------------------------------------------------------------
    @contextmanager
    def _signals(self):
        """SIGINT and SIGTERM stop the run (a second one: no more grace); the wake fd makes
        the executor's wait return at once."""
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        previous = {}
        try:
            previous["wakeup"] = signal.set_wakeup_fd(self.wake_w)
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._on_signal)
        except ValueError:       # not the main thread: no signal handling
            pass
        try:
            yield
        finally:
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

    # -- the loop ---------------------------------------------------------------------------
    def _loop(self) -> None:
        self.rank = self.dag.priorities(self.state.estimates(self.pipeline.name))
        selected = self.request.selected
        outside = {tid: t.state for tid, t in self.view.tasks.items() if tid not in selected}
        tries = {tid: self.view.tasks[tid].attempt for tid in selected if tid in self.view.tasks}
        m = self.machine = RunMachine(self.pipeline.tasks, self.dag.downstream, selected, self.rank, outside,
                                      tries, self.request.limits.fail_fast)
        self._record(m.start())
        while True:
            self._stop_if_asked()
            m.release_retries(time.monotonic())
            self._check_sensors()
            self._launch_ready()
            if self._only_sensors_left():
                self.left_waiting = True     # tick's run: a later tick checks them and resumes it
                return
            if m.over() and not self.keys:
                self._record(m.close())      # a stopped run: its foreach tasks not all run
                return
            self._collect()

    def _stop_if_asked(self) -> None:
        """A signal, or --fail-fast: nothing new starts and every running attempt is
        cancelled (all at once where the executor can: nothing waiting starts meanwhile)."""
        m = self.machine
        if not self.stopping and (self.interrupted or m.stop_reason):
            self.stopping = True
            why = f"interrupted by {self.signal_name}" if self.interrupted else m.stop_reason
            if self.interrupted:
                self.hooks.stopping(self.view, self.signal_name)
            self._record(m.stop(why))
            for tid in list(self.sensors):
                w = self.sensors.pop(tid)
                self._record(m.finished(tid, Outcome(kind=CANCELLED_OUTCOME, reason=why,
                                                     duration=round(time.monotonic() - w.began, 3)), time.monotonic()))
            cancel_many = getattr(self.executor, "cancel_many", None)
            if cancel_many is not None:
                cancel_many(list(self.keys), why)
            else:
                for key in list(self.keys):
                    self.executor.cancel(key, why)
        if self.kill_now:
            self.executor.kill_all()
            self.kill_now = False

    def _launch_ready(self) -> None:
        m = self.machine
        m.unblock()            # tasks that waited for a pool slot try again
        # Read each turn: a Dask cluster's threads follow its workers as they come and go.
        limit = self.request.limits.concurrency or self.pipeline.concurrency or self.executor.capacity()
        while len(self.keys) < limit and (tid := m.take_ready()) is not None:
            self._launch(tid)
            if self.interrupted or m.stop_reason:
                return

    def _collect(self) -> None:
        """Wait for an attempt to end (or the next retry, or a signal), and record what the
        executor learned meanwhile: where attempts run, and how they ended."""
        m = self.machine
        nxt = m.next_retry()
        timeout = None if nxt is None else max(0.0, nxt - time.monotonic())
        if m.waiting_outside():       # a slot another pipe frees wakes nobody here: look again soon
            timeout = POOL_POLL if timeout is None else min(timeout, POOL_POLL)
        if self.sensors:
            soonest = min(min(w.next_check, w.deadline or w.next_check) for w in self.sensors.values())
            until = max(0.0, soonest - time.monotonic())
            timeout = until if timeout is None else min(timeout, until)
        ended = self.executor.wait(timeout)
        for key, worker in self.executor.placed():
            tid = self.keys.get(key)
            if tid is not None and self.view.task(tid).state == RUNNING:
                # Recorded, not reported again: the task's `running` line was printed at its start.
                self._event(ev.TASK, task=tid, state=RUNNING, attempt=m.attempts[tid], worker=worker)
        for key, outcome in ended:
            held = self.slots.pop(key, None)
            if held is not None:
                held.release()
            tid = self.keys.pop(key, None)
            if tid is not None:
                self._record(m.finished(tid, outcome, time.monotonic()))

    def _check_executor(self) -> None:
        previews = [AttemptSpec(key=f"check/{tid}", pipeline=self.pipeline.name, run_id=self.run_id, task=tid,
                                attempt=0, argv=(), env={}, cwd=self.pipeline.folder, output_path="", log_path="",
                                display="", resources=dict(task.resources or {}),
                                local_only=task.executor == "local")
                    for tid in self.request.selected
                    if (task := self.pipeline.tasks[tid]).resources or task.executor]
        self.executor.check(previews, self.pipeline.path)

    def _launch(self, tid: str) -> None:
        """Start the task's next attempt; or decide it without one: skipped (up to date, on
        its first try), failed (a template of it cannot render)."""
        m = self.machine
        found = instance_of(tid)
        if found is not None:
            task, instance = self.pipeline.tasks[found[0]], (found[1], self.items[found[0]][found[1]])
        else:
            task, instance = self.pipeline.tasks[tid], None
            if task.foreach is not None:
                self._expand(tid)
                return
        if task.wait is not None:
            self._start_sensor(tid, task, instance)
            return
        attempt = m.attempts[tid] + 1
        try:
            actx = self.attempts.attempt_context(task, attempt, str(output_file(self.dir, tid, attempt)), instance)
            if m.tries[tid] == 0 and task.generates and not self.request.limits.force \
                    and self.attempts.up_to_date(actx):
                self._skip_up_to_date(tid)
                return
            spec = self.attempts.spec(actx, str(log_file(self.dir, tid, attempt)), priority=-m.rank_of(tid)[0])
        except (templates.TemplateError, UsageError) as e:
            self._record(m.cannot_start(tid, str(getattr(e, "message", e))))
            return
        held = self._take_slots(tid, task) if task.pool else None
        if task.pool and held is None:
            return
        change = m.started(tid)
        started = self.executor.submit(spec)
        self.keys[spec.key] = tid
        if held is not None:
            self.slots[spec.key] = held
        change.fields.update(worker=started.worker, **started.handle)
        self._record([change])

    def _expand(self, tid: str) -> None:
        """A ready foreach task: its items (from its upstream's outputs, a param, a list)
        become its instances; a value that is no list fails the task, saying what it gave."""
        task, m = self.pipeline.tasks[tid], self.machine
        try:
            context = self.attempts.attempt_context(task, 0, "").context
            items = items_of(task.foreach, context, where=f"foreach {_shown(task.foreach)}")
        except (templates.TemplateError, NotAList) as e:
            self._record(m.cannot_start(tid, str(getattr(e, "message", e))))
            return
        self.items[tid] = items
        done: dict[int, dict] = {}
        tries: dict[int, int] = {}
        earlier = self.earlier_instances.get(tid)
        if earlier is not None and earlier.items == len(items):
            for i, inst in earlier.instances.items():
                tries[i] = inst.attempt
                if inst.state in OK_STATES:
                    done[i] = inst.outputs
        changes = m.expand(tid, len(items), done, tries)
        if changes and changes[0].task == tid and changes[0].state == RUNNING:
            changes[0].fields["values"] = items
        self._record(changes)

    # -- sensors ----------------------------------------------------------------------------
    def _now(self) -> datetime:
        """The time `after:` sensors are read against: tick's --now as time goes on, else now."""
        if self.request.now is not None:
            return self.request.now + timedelta(seconds=time.monotonic() - self.began_at)
        return ev.now_utc()

    def _start_sensor(self, tid: str, task, instance) -> None:
        """A ready sensor begins to wait (or goes on waiting, in a resumed run): it holds no
        slot and no process; `_check_sensors` looks at it every `every`."""
        m = self.machine
        earlier = self.earlier_waiting.pop(tid, None)
        attempt = m.attempts[tid] if earlier is not None and m.attempts[tid] else m.attempts[tid] + 1
        try:
            actx = self.attempts.attempt_context(task, attempt, "", instance)
            wait = {k: templates.render(v, actx.context, shell=k == "command") if isinstance(v, str) else v
                    for k, v in task.wait.items()}
        except (templates.TemplateError, UsageError) as e:
            self._record(m.cannot_start(tid, str(getattr(e, "message", e))))
            return
        now = time.monotonic()
        waited = 0.0
        if earlier is not None and earlier.started:
            waited = max(0.0, (ev.now_utc() - datetime.fromisoformat(earlier.started)).total_seconds())
        what = sensors.describe(wait)
        self.sensors[tid] = _Waiting(wait, {**os.environ, **actx.added}, task.every, now,
                                     now + task.timeout - waited if task.timeout else None, now - waited, what)
        change = m.wait_started(tid, again=earlier is not None)
        change.fields["reason"] = f"waiting for {what}"
        self._record([change])

    def _check_sensors(self) -> None:
        """Each sensor whose time has come: holds (succeeded), has waited its `timeout`
        (failed; its retries apply), or is looked at again `every` later."""
        m = self.machine
        for tid, w in list(self.sensors.items()):
            now = time.monotonic()
            if now < w.next_check and (w.deadline is None or now < w.deadline):
                continue
            w.checked = True
            interval_end = self.request.interval.end
            if sensors.holds(w.wait, self.pipeline.folder, w.env, interval_end, self.pipeline.timezone, self._now()):
                del self.sensors[tid]
                self._record(m.finished(tid, Outcome(kind=SUCCEEDED_OUTCOME, duration=round(now - w.began, 3)), now))
            elif w.deadline is not None and now >= w.deadline:
                del self.sensors[tid]
                from ..executors.base import seconds_text

                task = self.pipeline.tasks[instance_of(tid)[0] if instance_of(tid) else tid]
                self._record(m.finished(tid, Outcome(kind=FAILED_OUTCOME, duration=round(now - w.began, 3),
                                                     reason=f"waited {seconds_text(task.timeout)} for {w.what}"), now))
            else:
                w.next_check = now + w.every

    def _only_sensors_left(self) -> bool:
        return (self.request.leave_waiting and bool(self.sensors) and not self.keys and not self.stopping
                and all(w.checked for w in self.sensors.values()) and self.machine.only_waiting(self.sensors))

    def _take_slots(self, tid: str, task):
        """The task's slots of its pool (SPEC 12), or None: it waits, pending, saying why."""
        from ..state import pools

        size = self.pipeline.pools.get(task.pool, 0)
        holder = {"pid": os.getpid(), "pipeline": self.pipeline.name, "run_id": self.run_id, "task": tid,
                  "since": ev.iso(ev.now_utc())}
        held = pools.try_take(self.state.layout, task.pool, size, task.pool_slots, holder)
        if held is not None:
            self.pool_said.discard(tid)
            return held
        self.machine.block(tid)
        if tid not in self.pool_said:
            self.pool_said.add(tid)
            used = len(pools.in_use(self.state.layout, task.pool, size))
            self._record([Change(tid, PENDING, {"attempt": self.machine.attempts[tid],
                                                "reason": f"pool {task.pool}: {used} of {size} in use"})])
        return None

    def _skip_up_to_date(self, tid: str) -> None:
        # Downstream templates may read its outputs: those of its last success.
        if self.earlier is None:
            self.earlier = outputs_from_earlier(self.state, self.request, set(self.pipeline.tasks))
        previous = self.earlier.get(tid)
        self._record(self.machine.not_run(tid, SKIPPED, reason="up to date",
                                          outputs=previous.outputs if previous else {}))


def _shown(value) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def outputs_from_earlier(state: StateDir, request: RunRequest, tasks: set[str]) -> dict[str, TaskView]:
    """For --only/--from: the outputs of the tasks left out, from the latest run of the same
    logical date in which each succeeded (so templates that use them still render)."""
    pipeline = request.pipeline
    kept: dict[str, TaskView] = {}
    logical = request.interval.start.isoformat()
    for run in reversed(state.runs(pipeline.name, limit=50)):
        if pipeline.schedule and run.logical_date != logical:
            continue     # without a schedule every run has its own time: the latest outputs count
        for tid, t in run.tasks.items():
            if tid in tasks and tid not in kept and t.state in OK_STATES:
                kept[tid] = TaskView(tid, state=t.state, attempt=0, outputs=t.outputs,
                                     kept_from=t.kept_from or run.run_id)
    return kept
