"""The hooks the run loop calls as a run goes (run_started, task_changed, stopping,
run_finished); render/progress.py implements them for people and machines. Not to be confused with
state/events.py, the events written to a run's log."""
from __future__ import annotations

from typing import Protocol

from .state import RunView, TaskView


class Reporter(Protocol):
    def run_started(self, run: RunView) -> None: ...

    def task_changed(self, run: RunView, task: TaskView) -> None: ...

    def stopping(self, run: RunView, signal_name: str) -> None: ...

    def run_finished(self, run: RunView) -> None: ...


class NullReporter:
    def run_started(self, run: RunView) -> None:
        pass

    def task_changed(self, run: RunView, task: TaskView) -> None:
        pass

    def stopping(self, run: RunView, signal_name: str) -> None:
        pass

    def run_finished(self, run: RunView) -> None:
        pass
