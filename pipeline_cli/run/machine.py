"""The run state machine: pure rules, no processes, no files, no clock of its own.

Given the tasks of a run, their trigger rules and the outcomes of attempts, it says which
tasks are ready (in critical-path order), which are decided without running (skipped,
upstream_failed), what a finished attempt means (succeeded, retrying after a delay, failed,
cancelled) and when the run is over. Every decision is a `Change`; the run loop writes each
as an event and applies it to the run's view with the same reducer every reader uses.

A foreach task (SPEC 11) is expanded once it is ready (`expand`): each item becomes an
instance `task[i]`, scheduled like a task of its own (its attempts, retries; at most
`max_parallel` at once), and the task itself is finished by its instances: failed when
one failed, cancelled when one was cancelled, else succeeded, with the list of their
outputs in item order.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import attempt as outcome_kinds
from ..attempt import Outcome
from ..model import (CANCELLED, FAILED, PENDING, RETRYING, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED, WAITING,
                    Task)

OK_STATES = (SUCCEEDED, SKIPPED)
BAD_STATES = (FAILED, UPSTREAM_FAILED)
MAX_RETRY_DELAY = 365 * 24 * 3600.0      # = spec.MAX_DURATION: no wait is longer than the longest duration


@dataclass
class _Fan:
    """The instances of one expanded foreach task."""

    n: int
    max_parallel: int | None
    unsettled: int
    running: int = 0
    held: list = field(default_factory=list)           # ready, waiting for a max_parallel slot
    states: dict = field(default_factory=dict)         # index -> final state
    outputs: dict = field(default_factory=dict)        # index -> outputs


@dataclass
class Change:
    """A task's new state, with the fields its event carries."""

    task: str
    state: str
    fields: dict[str, Any] = field(default_factory=dict)


class RunMachine:
    def __init__(self, tasks: Mapping[str, Task], downstream: Mapping[str, list[str]], selected: set[str],
                 rank: Mapping[str, tuple], outside: Mapping[str, str] | None = None,
                 tries: Mapping[str, int] | None = None, fail_fast: bool = False):
        """`outside`: states of tasks not in this run that it still depends on (kept from an
        earlier run, or --only/--from); any other task outside the run counts as done.
        `tries`: attempts already made (a resumed run numbers on from them)."""
        self.tasks, self.downstream, self.selected = tasks, downstream, selected
        self.rank = rank
        self.state: dict[str, str] = dict(outside or {})
        for tid in selected:
            self.state[tid] = PENDING
        self.attempts: dict[str, int] = {t: (tries or {}).get(t, 0) for t in selected}
        self.tries: dict[str, int] = {t: 0 for t in selected}       # attempts made in this execution
        self.fail_fast = fail_fast
        self.stop_reason: str | None = None
        self.first_failure: str | None = None
        self._waiting: dict[str, int] = {}
        self._ready: list[tuple[tuple, str]] = []
        self._retry_at: list[tuple[float, str]] = []
        self.running: set[str] = set()
        self.fans: dict[str, _Fan] = {}
        self._blocked: list[str] = []      # taken, but waiting for something outside the run (a pool slot)
        self.parent_of: dict[str, str] = {}             # instance id -> its foreach task

    # -- start --------------------------------------------------------------------------
    def start(self) -> list[Change]:
        """Seed the run: tasks whose dependencies inside the run are all done settle now."""
        changes: list[Change] = []
        for tid in self.tasks:
            if tid in self.selected:
                inside = [d for d in self.tasks[tid].deps if d in self.selected]
                if inside:
                    self._waiting[tid] = len(inside)
        for tid in self.tasks:
            if tid in self.selected and tid not in self._waiting:
                self._settle(tid, changes)
        return changes

    # -- what to run ----------------------------------------------------------------------
    def take_ready(self) -> str | None:
        """The ready task with the longest remaining path, or None. It is about to start."""
        while self._ready and not self.stop_reason:
            _, tid = heapq.heappop(self._ready)
            fan = self.fans.get(self.parent_of.get(tid, ""))
            if fan is not None and fan.max_parallel is not None and fan.running >= fan.max_parallel:
                fan.held.append(tid)        # its task has max_parallel instances running
                continue
            return tid
        return None

    def started(self, tid: str) -> Change:
        self.attempts[tid] += 1
        self.tries[tid] += 1
        self.state[tid] = RUNNING
        self.running.add(tid)
        if tid in self.parent_of:
            self.fans[self.parent_of[tid]].running += 1
        return Change(tid, RUNNING, {"attempt": self.attempts[tid]})

    def wait_started(self, tid: str, again: bool = False) -> Change:
        """A sensor begins to wait (`again`: it goes on with the attempt an earlier execution
        of the run began). It holds no slot; it ends through `finished` like an attempt."""
        if not again or self.attempts[tid] == 0:
            self.attempts[tid] += 1
        self.tries[tid] += 1
        self.state[tid] = WAITING
        self.running.add(tid)
        return Change(tid, WAITING, {"attempt": self.attempts[tid]})

    def only_waiting(self, sensors) -> bool:
        """Nothing can move but the waiting sensors: no attempt, nothing ready or retrying."""
        return (not self._ready and not self._retry_at and not self._blocked and bool(self.running)
                and all(t in sensors or t in self.fans for t in self.running))

    def block(self, tid: str) -> None:
        """A task just taken cannot start yet for want of something outside the run (a slot
        of its pool): it waits, and is ready again at the next `unblock`."""
        self._blocked.append(tid)

    def unblock(self) -> None:
        for tid in self._blocked:
            heapq.heappush(self._ready, (self.rank_of(tid), tid))
        self._blocked.clear()

    def waiting_outside(self) -> bool:
        return bool(self._blocked) and not self.stop_reason

    def expand(self, tid: str, n: int, done: Mapping[int, dict] | None = None,
               tries: Mapping[int, int] | None = None) -> list[Change]:
        """The ready foreach task `tid` has `n` items: its instances `tid[0]` ... become ready
        (but those in `done`, which succeeded in an earlier execution of the run: their
        outputs); `tries`: attempts already made of each. No item: the task is skipped."""
        from ..fanout import instance_id

        changes: list[Change] = []
        if n == 0:
            self._finish(tid, SKIPPED, {"reason": "foreach: no items", "outputs": []}, changes)
            return changes
        fan = self.fans[tid] = _Fan(n, self.tasks[tid].max_parallel, n)
        self.state[tid] = RUNNING
        self.running.add(tid)
        changes.append(Change(tid, RUNNING, {"attempt": 0, "items": n}))
        rank = self.rank[tid]
        for i in range(n):
            inst = instance_id(tid, i)
            self.parent_of[inst] = tid
            self.attempts[inst] = (tries or {}).get(i, 0)
            self.tries[inst] = 0
            if done and i in done:
                self.state[inst] = SUCCEEDED
                fan.states[i], fan.outputs[i] = SUCCEEDED, done[i]
                fan.unsettled -= 1
            else:
                self.state[inst] = PENDING
                heapq.heappush(self._ready, ((*rank, i), inst))
        if fan.unsettled == 0:
            self._finish_fan(tid, changes)
        return changes

    def not_run(self, tid: str, state: str, **fields: Any) -> list[Change]:
        """A ready task decided without an attempt (up to date: skipped; a template that cannot
        render: failed)."""
        changes: list[Change] = []
        self._finish(tid, state, fields, changes)
        return changes

    def cannot_start(self, tid: str, reason: str) -> list[Change]:
        """A ready task whose attempt cannot be made (a template that cannot render): that
        attempt failed, without a process, and is not retried."""
        self.attempts[tid] += 1
        return self.not_run(tid, FAILED, reason=reason)

    def release_retries(self, now: float) -> None:
        """Retries whose delay is over become ready."""
        while self._retry_at and self._retry_at[0][0] <= now:
            _, tid = heapq.heappop(self._retry_at)
            if not self.stop_reason:
                heapq.heappush(self._ready, (self.rank_of(tid), tid))

    def next_retry(self) -> float | None:
        return self._retry_at[0][0] if self._retry_at and not self.stop_reason else None

    # -- outcomes -------------------------------------------------------------------------
    def finished(self, tid: str, outcome: Outcome, now: float) -> list[Change]:
        """An attempt ended: succeeded, retrying after the task's delay, failed or cancelled."""
        self.running.discard(tid)
        task = self.tasks[self.parent_of.get(tid, tid)]
        fields: dict[str, Any] = {"attempt": self.attempts[tid], "duration": outcome.duration,
                                  "worker": outcome.worker}
        changes: list[Change] = []
        if outcome.ok:
            fields.update(exit_code=0, outputs=outcome.outputs)
            self._finish(tid, SUCCEEDED, fields, changes)
            return changes
        fields.update(reason=outcome.reason, exit_code=outcome.exit_code)
        if outcome.kind == outcome_kinds.CANCELLED:
            self._finish(tid, CANCELLED, fields, changes)
        elif self.tries[tid] <= task.retries and not self.stop_reason:
            delay = min(task.retry_delay * (task.retry_backoff ** (self.tries[tid] - 1)), MAX_RETRY_DELAY)
            fields["retry_in"] = round(delay, 3)
            self.state[tid] = RETRYING
            heapq.heappush(self._retry_at, (now + delay, tid))
            changes.append(Change(tid, RETRYING, fields))
            self._slot_freed(tid)
        else:
            self._finish(tid, FAILED, fields, changes)
        return changes

    def stop(self, reason: str) -> list[Change]:
        """Stop the run (Ctrl-C, SIGTERM, --fail-fast): nothing new starts; a task waiting for
        its retry is cancelled (running ones are cancelled by the executor, then reported)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        changes: list[Change] = []
        waiting = [tid for _, tid in self._retry_at]
        self._retry_at.clear()
        self._ready.clear()
        self._blocked.clear()
        for fan in self.fans.values():
            fan.held.clear()
        for tid in waiting:
            self._finish(tid, CANCELLED, {"attempt": self.attempts[tid], "reason": reason}, changes)
        return changes

    def close(self) -> list[Change]:
        """At the end of a stopped run: a foreach task whose instances did not all run is
        cancelled (its instances that never started stay pending)."""
        changes: list[Change] = []
        for tid, fan in self.fans.items():
            if self.state.get(tid) == RUNNING and not any(self.parent_of.get(r) == tid for r in self.running):
                self.running.discard(tid)
                done = sum(1 for st in fan.states.values() if st in OK_STATES)
                self._finish(tid, CANCELLED, {"reason": f"{self.stop_reason or 'stopped'}: {done} of {fan.n} "
                                                        "instances done", "attempt": 0}, changes)
        return changes

    def over(self) -> bool:
        """Nothing runs and nothing more can start."""
        if any(t not in self.fans for t in self.running):
            return False
        if self.running and not self.stop_reason:
            return False          # an expanded foreach task whose instances are not all done
        return bool(self.stop_reason) or (not self._ready and not self._retry_at and not self._blocked)

    # -- the rules --------------------------------------------------------------------------
    def _dep_state(self, dep: str) -> str:
        return self.state.get(dep, SUCCEEDED)     # outside the run and not kept: taken as done

    def _settle(self, tid: str, changes: list[Change]) -> None:
        """All of tid's dependencies are finished: make it ready, or decide it by its trigger."""
        deps = self.tasks[tid].deps
        states = [self._dep_state(d) for d in deps]
        trigger = self.tasks[tid].trigger
        any_ok = any(s in OK_STATES for s in states)
        any_bad = any(s in BAD_STATES for s in states)
        if not states or trigger == "all_done" \
                or (trigger in ("all_success", "none_failed") and not any_bad) \
                or (trigger == "one_failed" and any_bad) \
                or (trigger == "all_failed" and all(s in BAD_STATES for s in states)) \
                or (trigger == "one_success" and any_ok):
            heapq.heappush(self._ready, (self.rank_of(tid), tid))
        elif trigger in ("one_failed", "all_failed"):
            self._finish(tid, SKIPPED, {"reason": f"trigger {trigger} not met"}, changes)
        else:
            failed = [d for d, s in zip(deps, states) if s in BAD_STATES]
            self._finish(tid, UPSTREAM_FAILED,
                         {"reason": f"upstream failed: {', '.join(failed) or 'none succeeded'}"}, changes)

    def rank_of(self, tid: str) -> tuple:
        """The rank of a task or instance among ready ones (an instance: its task's, then its index)."""
        parent = self.parent_of.get(tid)
        if parent is None:
            return self.rank[tid]
        return (*self.rank[parent], int(tid[len(parent) + 1:-1]))

    def _slot_freed(self, inst: str) -> None:
        """An instance's attempt ended: one held back by max_parallel may start."""
        fan = self.fans.get(self.parent_of.get(inst, ""))
        if fan is None:
            return
        fan.running -= 1
        if fan.held and not self.stop_reason:
            held = fan.held.pop(0)
            heapq.heappush(self._ready, (self.rank_of(held), held))

    def _finish_instance(self, inst: str, state: str, fields: dict[str, Any], changes: list[Change]) -> None:
        parent = self.parent_of[inst]
        fan = self.fans[parent]
        was_running = self.state.get(inst) == RUNNING
        self.state[inst] = state
        fields.setdefault("attempt", self.attempts.get(inst, 0))
        changes.append(Change(inst, state, fields))
        if was_running:
            self._slot_freed(inst)
        if state == FAILED and self.fail_fast and not self.stop_reason:
            self.stop_reason = f"--fail-fast: {inst} failed"
        index = int(inst[len(parent) + 1:-1])
        fan.states[index] = state
        fan.outputs[index] = fields.get("outputs") or {}
        fan.unsettled -= 1
        if fan.unsettled == 0:
            self._finish_fan(parent, changes)

    def _finish_fan(self, tid: str, changes: list[Change]) -> None:
        """Every instance has its final state: so has the task."""
        from ..fanout import instance_id

        fan = self.fans[tid]
        self.running.discard(tid)
        failed = [instance_id(tid, i) for i in sorted(fan.states) if fan.states[i] in BAD_STATES]
        cancelled = [i for i in sorted(fan.states) if fan.states[i] == CANCELLED]
        if failed:
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
            state, fields = FAILED, {"reason": f"{len(failed)} of {fan.n} instances failed: {shown}"}
        elif cancelled:
            state, fields = CANCELLED, {"reason": f"{len(cancelled)} of {fan.n} instances cancelled"}
        else:
            state, fields = SUCCEEDED, {}
        # Downstream (an all_done task too) reads the list, in item order; {} for an instance without.
        fields["outputs"] = [fan.outputs.get(i, {}) for i in range(fan.n)]
        fields["attempt"] = 0
        self._finish(tid, state, fields, changes)

    def _finish(self, tid: str, state: str, fields: dict[str, Any], changes: list[Change]) -> None:
        if tid in self.parent_of:
            self._finish_instance(tid, state, fields, changes)
            return
        self.state[tid] = state
        fields.setdefault("attempt", self.attempts.get(tid, 0))
        changes.append(Change(tid, state, fields))
        if state == FAILED:
            if self.first_failure is None:
                self.first_failure = tid
            if self.fail_fast and not self.stop_reason:
                self.stop_reason = f"--fail-fast: {tid} failed"
        for child in self.downstream.get(tid, ()):
            if child in self._waiting:
                self._waiting[child] -= 1
                if self._waiting[child] == 0:
                    del self._waiting[child]
                    if not self.stop_reason:
                        self._settle(child, changes)
