"""Deadlines: an interval not succeeded `deadline` after its end is late. `pipe tick` reports
it once (`check_deadline`; never one whose failure was already reported); `pipe list` asks
the same question read-only (`late`)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from ..model import RUN_SUCCEEDED, Pipeline
from .command import command_env
from .decide import DEADLINE, remember_interval
from .deliver import Message, Result, deliver, record, warn, warn_failures
from .memory import locked_memory, read_memory
from .message import deadline_message
from .targets import environment, render_targets


def late(pipeline: Pipeline, state, now: datetime, memory: dict | None = None) -> dict | None:
    """The latest interval whose deadline has passed by `now` and that has not succeeded, or
    None. Deadlines are watched from the first tick that saw the block (its `deadline_from`);
    before any tick, from the pipeline's first scheduled run."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return None
    deadline = timedelta(seconds=n.deadline)
    interval = _schedule(pipeline).latest_complete(now - deadline)
    if interval is None:
        return None
    memory = memory if memory is not None else read_memory(state.layout.notify_memory(pipeline.name))
    ledger = state.ledger(pipeline.name)
    watched_from = memory.get("deadline_from") or (ledger[0].get("time") if ledger else None)
    due_at = interval.end + deadline
    if watched_from is None or due_at < datetime.fromisoformat(watched_from):
        return None
    key = interval.key
    runs = _runs_of_interval(pipeline.name, state, ledger, key)
    if any(r.state == RUN_SUCCEEDED for r in runs):
        return None
    last = runs[-1] if runs else None
    return {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat(),
            "deadline": due_at.isoformat(), "key": key,
            "run_id": last.run_id if last else None, "state": last.state if last else None}


def _schedule(pipeline: Pipeline):
    from ..schedule import Schedule

    return Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)


def _runs_of_interval(name: str, state, ledger: list, key: str) -> list:
    """The runs of the ledger whose interval is `key` (UTC start), in ledger order; a run
    that cannot be read is left out."""
    runs = []
    for entry in ledger:
        try:
            same = datetime.fromisoformat(entry["start"]).astimezone(timezone.utc).isoformat() == key
        except ValueError:
            same = False
        if same:
            try:
                runs.append(state.run(name, entry["run_id"]))
            except Exception:
                continue
    return runs


def next_check(pipeline: Pipeline, now: datetime) -> datetime | None:
    """The next moment a deadline of this pipeline passes (tick's "nothing due" cache ends there)."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return None
    deadline = timedelta(seconds=n.deadline)
    return _schedule(pipeline).interval_for(now - deadline).end + deadline


def check_deadline(pipeline: Pipeline, state, now: datetime) -> list[Result]:
    """For `pipe tick`: report a late interval once (never one whose failure was reported)."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return []
    try:
        return _check_deadline(pipeline, state, now)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        warn(f"{pipeline.name}: the deadline check failed: {type(e).__name__}: {e}")
        return []


def _check_deadline(pipeline: Pipeline, state, now: datetime) -> list[Result]:
    from ..state import makedirs

    info = _newly_late(pipeline, state, now)
    if info is None:
        return []
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, dict(pipeline.params))
    title, body = deadline_message(pipeline, info, now, state.root)
    view = state.run(pipeline.name, info["run_id"]) if info["run_id"] else None
    title = redactor.text(title)
    message = Message(DEADLINE, title, redactor.text(body), _command_env(env, pipeline, info, view, title))
    layout = state.layout
    log_dir = layout.notify_dir(view.dir if view else makedirs(layout.pipeline_dir(pipeline.name)))
    results = deliver(pipeline, [message], targets, redactor, pipeline.notify.timeout, log_dir=log_dir)
    events = layout.events(view.dir) if view else layout.notify_log(pipeline.name)
    record(events, redactor, results, interval_start=info["interval_start"])
    warn_failures(pipeline.name, results)
    return results


def _newly_late(pipeline: Pipeline, state, now: datetime) -> dict | None:
    """The late interval not reported yet (now remembered as reported), or None. The first
    call for a pipeline is where its deadlines are watched from."""
    with locked_memory(state.layout.notify_memory(pipeline.name)) as memory:
        memory.setdefault("deadline_from", now.astimezone(timezone.utc).isoformat())
        info = late(pipeline, state, now, memory)
        if info is None or info["key"] in memory.get("known", {}):
            return None
        remember_interval(memory, info["key"], DEADLINE)
    return info


def _command_env(env: dict[str, str], pipeline: Pipeline, info: dict, view, title: str) -> dict[str, str]:
    """The `run:` command's environment for a late interval: its run's, or, when it has none,
    the interval's (PIPE_RUN_STATE `none`)."""
    shown = view or SimpleNamespace(pipeline=pipeline.name, run_id="", state="late", kind="scheduled", tasks={},
                                    logical_date=info["interval_start"], interval_start=info["interval_start"],
                                    interval_end=info["interval_end"], params=dict(pipeline.params), dir=None)
    out = command_env(env, shown, DEADLINE, title)
    out["PIPE_RUN_STATE"] = info["state"] or "none"
    return out
