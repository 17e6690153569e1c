"""After a run: called once the run's `run_finished` event is on disk; decides which events
it fires (under the lock of notify.json), builds their messages, delivers them and records
one `notify` event per delivery in the run's log."""
from __future__ import annotations

from datetime import datetime, timezone

from ..model import MANUAL, RUN_FAILED, RUN_INTERRUPTED, RUN_SUCCEEDED, Pipeline
from .command import command_env
from .decide import RETRY, decide, remember_failure
from .deliver import Message, Result, deliver, record, warn, warn_failures
from .memory import locked_memory
from .message import run_message
from .targets import environment, redactor_for, render_targets


def after_run(pipeline: Pipeline, view, state, kind: str) -> list[Result]:
    """Notify about a run whose final event is on disk. Never raises; never takes more
    than 30 s; the caller's outcome and exit code are the run's, whatever happens here."""
    n = pipeline.notify
    if n is None or view.state not in (RUN_SUCCEEDED, RUN_FAILED, RUN_INTERRUPTED):
        return []
    if kind == MANUAL and not n.manual:
        return []
    try:
        return _after_run(pipeline, view, state)
    except KeyboardInterrupt:
        warn(f"{pipeline.name}: notifications of run {view.run_id} cancelled (interrupted)")
    except Exception as e:      # notifying must never change the run's outcome
        try:
            env = environment(pipeline)
            text = redactor_for(pipeline, env).text(f"{type(e).__name__}: {e}")
        except Exception:
            text = type(e).__name__
        warn(f"{pipeline.name}: notifications of run {view.run_id} failed: {text}")
    return []


def _after_run(pipeline: Pipeline, view, state) -> list[Result]:
    n = pipeline.notify
    retried = RETRY in n.when and _retried(view)
    with locked_memory(state.layout.notify_memory(pipeline.name)) as memory:
        was = dict(memory)
        events = decide(n, memory, view.state, retried)
        if view.state != RUN_SUCCEEDED:
            remember_failure(memory, was, view.run_id, view.logical_date, _interval_key(view))
    if not events:
        return []
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, view.params or {})
    messages = []
    for when in events:
        title, body = run_message(when, pipeline, view, state.root, redactor, was)
        messages.append(Message(when, title, body, command_env(env, view, when, title)))
    results = deliver(pipeline, messages, targets, redactor, n.timeout, log_dir=state.layout.notify_dir(view.dir))
    record(state.layout.events(view.dir), redactor, results)
    warn_failures(pipeline.name, results, f" of run {view.run_id}")
    return results


def _retried(view) -> bool:
    """Whether a task of the run's latest (re)start was retried."""
    from ..state import read_events
    from ..state.layout import events_file

    events, _ = read_events(events_file(view.dir))
    latest = 0
    for i, e in enumerate(events):
        if e.get("event") in ("run_started", "run_resumed"):
            latest = i
    return any(e.get("event") == "task" and e.get("state") == "retrying" for e in events[latest:])


def _interval_key(view) -> str | None:
    try:
        return datetime.fromisoformat(view.interval_start).astimezone(timezone.utc).isoformat()
    except (TypeError, ValueError):
        return None
