"""A person marks a task of a finished run succeeded or failed, with a reason (the web UI's
*Mark succeeded* / *Mark failed*). Recorded as a `task_marked` event in the run's history:
the task shows the new state and who set it and why; the run's own state is what its run
decided and stays. `pipe resume` then goes on from there: a task marked failed is rerun, one
marked succeeded is not (its downstream that was held back is)."""
from __future__ import annotations

from ..errors import UsageError
from .project import Globals

MARKS = ("succeeded", "failed")


def mark_task(g: Globals, pipeline: str, run_id: str, task: str, state: str, reason: str, by: str) -> str:
    """Record the mark; returns what was done, in words. UsageError for what cannot be marked."""
    from ..state import EventLog
    from ..state.events import TASK_MARKED

    store = g.state
    if state not in MARKS:
        raise UsageError(f"mark: {state!r}: a task can be marked {' or '.join(MARKS)}")
    reason = " ".join((reason or "").split())
    if not reason:
        raise UsageError("mark: say why (a reason is kept in the run's history)")
    if len(reason) > 500:
        raise UsageError(f"mark: the reason is {len(reason)} characters; keep it to 500")
    view = store.run(pipeline, run_id)
    if task not in view.tasks:
        raise UsageError(f"run {view.run_id} has no task {task!r}")
    lock = store.run_lock(view.dir)
    if view.state == "running" or not lock.acquire(wait=False):
        raise UsageError(f"run {view.run_id} is running: a task can be marked once the run has finished")
    try:
        view = store.run(pipeline, view.run_id)          # as it is now that we hold its lock
        if view.state == "running":
            raise UsageError(f"run {view.run_id} is running: a task can be marked once the run has finished")
        was = view.tasks[task].state
        if was == state:
            raise UsageError(f"task {task} of run {view.run_id} is {state} already")
        log = EventLog(store.layout.events(view.dir))
        try:
            log.append(TASK_MARKED, task=task, state=state, reason=reason, by=by, was=was)
        finally:
            log.close()
    finally:
        lock.release()
    return f"task {task} of run {view.run_id} marked {state} (was {was}): {reason}"
