"""The run state machine: pure rules, no processes, no files, no clock of its own.

Given the tasks of a run, their trigger rules and the outcomes of attempts, it says which
tasks are ready (in critical-path order), which are decided without running (skipped,
upstream_failed), what a finished attempt means (succeeded, retrying after a delay, failed,
cancelled) and when the run is over. Every decision is a `Change`; the runner writes each
as an event and applies it to the run's view with the same reducer every reader uses.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import attempt as outcome_kinds
from ..attempt import Outcome
from ..model import (CANCELLED, FAILED, PENDING, RETRYING, RUNNING, SKIPPED, SUCCEEDED, UPSTREAM_FAILED,
                    Task)

OK_STATES = (SUCCEEDED, SKIPPED)
BAD_STATES = (FAILED, UPSTREAM_FAILED)
MAX_RETRY_DELAY = 365 * 24 * 3600.0      # = spec.MAX_DURATION: no wait is longer than the longest duration


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
        if self.stop_reason or not self._ready:
            return None
        _, tid = heapq.heappop(self._ready)
        return tid

    def started(self, tid: str) -> Change:
        self.attempts[tid] += 1
        self.tries[tid] += 1
        self.state[tid] = RUNNING
        self.running.add(tid)
        return Change(tid, RUNNING, {"attempt": self.attempts[tid]})

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
                heapq.heappush(self._ready, (self.rank[tid], tid))

    def next_retry(self) -> float | None:
        return self._retry_at[0][0] if self._retry_at and not self.stop_reason else None

    # -- outcomes -------------------------------------------------------------------------
    def finished(self, tid: str, outcome: Outcome, now: float) -> list[Change]:
        """An attempt ended: succeeded, retrying after the task's delay, failed or cancelled."""
        self.running.discard(tid)
        task = self.tasks[tid]
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
        else:
            self._finish(tid, FAILED, fields, changes)
        return changes

    def stop(self, reason: str) -> list[Change]:
        """Stop the run (Ctrl-C, SIGTERM, --fail-fast): nothing new starts; a task waiting for
        its retry is cancelled (running ones are cancelled by the executor, then reported)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        changes = []
        for _, tid in self._retry_at:
            self.state[tid] = CANCELLED
            changes.append(Change(tid, CANCELLED, {"attempt": self.attempts[tid], "reason": reason}))
        self._retry_at.clear()
        self._ready.clear()
        return changes

    def over(self) -> bool:
        """Nothing runs and nothing more can start."""
        if self.running:
            return False
        return bool(self.stop_reason) or (not self._ready and not self._retry_at)

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
            heapq.heappush(self._ready, (self.rank[tid], tid))
        elif trigger in ("one_failed", "all_failed"):
            self._finish(tid, SKIPPED, {"reason": f"trigger {trigger} not met"}, changes)
        else:
            failed = [d for d, s in zip(deps, states) if s in BAD_STATES]
            self._finish(tid, UPSTREAM_FAILED,
                         {"reason": f"upstream failed: {', '.join(failed) or 'none succeeded'}"}, changes)

    def _finish(self, tid: str, state: str, fields: dict[str, Any], changes: list[Change]) -> None:
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
