"""Step 4: the model, built from a document that passed the schema and the checks. Pure:
no problem is looked for here, and nothing here can fail on a checked document (a value of
the wrong type, which the checks would have refused, falls back to its default)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..model import Notify, Pipeline, Task
from .values import (MAX_NOTIFY_TIMEOUT, as_str_map, defaults_of, deps_of, file_digest, merged_task,
                     parse_duration, tasks_of, timezone_of, whole)


def build(file: str, data: bytes, doc: dict, warnings: tuple = ()) -> Pipeline:
    from ..schedule import parse_instant

    stem = Path(file).stem
    tz = timezone_of(doc)
    schedule = doc.get("schedule") if isinstance(doc.get("schedule"), str) else None
    start_date = parse_instant(doc["start_date"], tz) if isinstance(doc.get("start_date"), str) else None
    end_date = parse_instant(doc["end_date"], tz) if isinstance(doc.get("end_date"), str) else None
    raw_catchup = doc.get("catchup", False)
    catchup: bool | float = False
    if isinstance(raw_catchup, bool):
        catchup = raw_catchup
    elif isinstance(raw_catchup, str):
        catchup = _duration(raw_catchup) or False
    params = doc.get("params") if isinstance(doc.get("params"), dict) else {}
    default_shell = tuple(doc["shell"]) if isinstance(doc.get("shell"), list) else None
    raw_tasks = tasks_of(doc)
    deps = deps_of(raw_tasks)
    defaults = defaults_of(doc)
    tasks = {tid: _task(tid, merged_task(defaults, t), deps.get(tid, []), default_shell)
             for tid, t in raw_tasks.items()}
    secrets = doc.get("secrets") if isinstance(doc.get("secrets"), list) else []
    concurrency = whole(doc.get("concurrency"), 1)
    max_active = whole(doc.get("max_active_runs", 1), 1)
    resolved = Path(file).resolve()
    return Pipeline(
        name=doc["name"] if isinstance(doc.get("name"), str) else stem,
        path=str(resolved), folder=str(resolved.parent), tasks=tasks,
        description=_str(doc.get("description")) or "",
        schedule=schedule, timezone=tz, start_date=start_date, end_date=end_date, catchup=catchup,
        max_active_runs=max_active if max_active is not None else 1, concurrency=concurrency,
        params=params, env=as_str_map(doc.get("env")), dotenv=_str(doc.get("dotenv")),
        secrets=tuple(s for s in secrets if isinstance(s, str)), workdir=_str(doc.get("workdir")),
        shell=default_shell, digest=file_digest(data), warnings=tuple(warnings),
        notify=_notify(doc["notify"]) if isinstance(doc.get("notify"), dict) else None,
        wait_for=_strings(doc.get("wait_for")),
        wait_timeout=_duration(doc["wait_timeout"]) if "wait_timeout" in doc else None,
    )


def _task(tid: str, m: dict, deps: list[str], default_shell: tuple | None) -> Task:
    run = m.get("run")
    if isinstance(run, list):
        run = tuple(str(a) for a in run)
    elif not isinstance(run, str):
        run = None
    retries = whole(m.get("retries", 0), 0)
    backoff = m.get("retry_backoff", 1)
    resources = m.get("resources") if isinstance(m.get("resources"), dict) else {}
    return Task(
        id=tid, run=run, python=_str(m.get("python")),
        with_=m.get("with") if isinstance(m.get("with"), dict) else {},
        deps=tuple(deps), retries=retries if retries is not None else 0,
        retry_delay=(_duration(m["retry_delay"]) or 0.0) if "retry_delay" in m else 0.0,
        retry_backoff=float(backoff) if isinstance(backoff, (int, float)) and not isinstance(backoff, bool) else 1.0,
        timeout=_duration(m["timeout"]) if "timeout" in m else None,
        env=as_str_map(m.get("env")),
        trigger=m.get("trigger") if isinstance(m.get("trigger"), str) else "all_success",
        sources=_strings(m.get("sources")), generates=_strings(m.get("generates")),
        shell=tuple(m["shell"]) if isinstance(m.get("shell"), list) else default_shell,
        workdir=_str(m.get("workdir")), description=_str(m.get("description")) or "",
        executor="local" if m.get("executor") == "local" else None,
        resources={str(k): float(v) for k, v in resources.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)},
        foreach=m.get("foreach"), max_parallel=whole(m.get("max_parallel"), 1),
        pool=_str(m.get("pool")), pool_slots=whole(m.get("pool_slots"), 1) or 1,
        wait=dict(m["wait"]) if isinstance(m.get("wait"), dict) else None,
        every=(_duration(m["every"]) or 60.0) if "every" in m else 60.0,
        produces=_strings(m.get("produces")),
    )


def _notify(raw: dict) -> Notify:
    to = raw.get("to", [])
    to = [to] if isinstance(to, str) else [u for u in to if isinstance(u, str)] if isinstance(to, list) else []
    run = raw.get("run")
    run = tuple(str(a) for a in run) if isinstance(run, list) else run if isinstance(run, str) else None
    when = raw.get("when")
    timeout = _duration(raw["timeout"]) if "timeout" in raw else None
    return Notify(
        to=tuple(to),
        when=tuple(w for w in when if isinstance(w, str)) if isinstance(when, list) else Notify.when,
        deadline=_duration(raw["deadline"]) if "deadline" in raw else None, run=run,
        repeat=raw.get("repeat") is True, manual=raw.get("manual") is True,
        timeout=min(timeout, MAX_NOTIFY_TIMEOUT) if timeout is not None else Notify.timeout,
    )


def _duration(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(s) for s in value) if isinstance(value, list) else ()
