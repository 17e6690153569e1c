"""The run hook of notifications: whoever starts a run of a pipeline with a `notify:` block
subscribes it (scheduling.run_hooks, for the commands, tick and backfill); the run core
knows nothing of notifying."""
from __future__ import annotations


class NotifyAfterRun:
    """Once the run's final event is on disk: decide, build and deliver its notifications
    (notify/runs.py). Never raises."""

    def __init__(self, pipeline, state):
        self.pipeline, self.state = pipeline, state

    def run_finished(self, run) -> None:
        from .runs import after_run

        after_run(self.pipeline, run, self.state, run.kind)

