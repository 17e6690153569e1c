"""Run hooks: what subscribes to a run as it goes. The run loop calls four hooks
(run_started, task_changed, stopping, run_finished) on every subscriber in order; the
terminal and plain-text reporters (render/progress.py), notifications (notify/) and the
duration estimates below are subscribers. The core knows none of them.

Not to be confused with state/events.py, the events written to a run's log: a hook is
called after its event is on disk.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Protocol

from ..model import SUCCEEDED

if TYPE_CHECKING:
    from ..state import RunView, StateDir, TaskView


class RunHook(Protocol):
    """Any of the four methods; a subscriber leaves out those it has no use for."""

    def run_started(self, run: RunView) -> None: ...

    def task_changed(self, run: RunView, task: TaskView) -> None: ...

    def stopping(self, run: RunView, signal_name: str | None) -> None: ...

    def run_finished(self, run: RunView) -> None: ...


class Hooks:
    """The subscribers of one run. One whose output went away (OSError: `pipe run | head`,
    a closed terminal) is dropped, and the run goes on to its end, recorded as usual."""

    def __init__(self, subscribers: Iterable[object | None] = ()):
        self.subscribers = [s for s in subscribers if s is not None]

    def _call(self, name: str, *args) -> None:
        for s in list(self.subscribers):
            hook = getattr(s, name, None)
            if hook is None:
                continue
            try:
                hook(*args)
            except OSError:
                self.subscribers.remove(s)

    def run_started(self, run: RunView) -> None:
        self._call("run_started", run)

    def task_changed(self, run: RunView, task: TaskView) -> None:
        self._call("task_changed", run, task)

    def stopping(self, run: RunView, signal_name: str | None) -> None:
        self._call("stopping", run, signal_name)

    def run_finished(self, run: RunView) -> None:
        self._call("run_finished", run)


class DurationEstimates:
    """The durations of the tasks that succeeded in this execution, saved as the pipeline's
    estimates when the run ends (the critical-path order of the next run reads them)."""

    def __init__(self, state: StateDir, pipeline: str):
        self.state, self.pipeline = state, pipeline
        self.durations: dict[str, float] = {}

    def task_changed(self, run: RunView, task: TaskView) -> None:
        if task.state == SUCCEEDED and "[" not in task.id:      # a foreach task counts whole, not per instance
            self.durations[task.id] = task.duration or 0.0

    def run_finished(self, run: RunView) -> None:
        self.state.save_estimates(self.pipeline, self.durations)
