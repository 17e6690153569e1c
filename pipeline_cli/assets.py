"""Assets between pipelines (SPEC 10): who produces what, and which partitions an interval of
a `wait_for` pipeline still waits for.

A partition is an asset for one data interval of its producer's own schedule. An interval of
a consumer is due (besides having ended) once every partition, of every asset it waits for,
whose interval overlaps it has been produced: a weekly run needs the 7 daily partitions of a
daily asset; a daily run needs the weekly partition that covers it. Partitions before the
producer's start_date do not exist and are not waited for.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .model import Pipeline
from .schedule import Interval

MAX_PARTITIONS = 10_000      # partitions one interval may need (a yearly run of a minutely asset is refused)


def producers(folder: Path, cache: Path | None = None) -> dict[str, list[tuple[Pipeline, str]]]:
    """Each asset of the pipelines folder -> the (pipeline, task) that produce it. Files that do
    not load are left out (validation says what is wrong with them)."""
    from . import spec
    from .errors import SpecError

    found: dict[str, list[tuple[Pipeline, str]]] = {}
    for path in spec.discover(Path(folder)):
        try:
            p = spec.load(path, cache=cache, project=False)
        except SpecError:
            continue
        for tid, t in p.tasks.items():
            for asset in t.produces:
                found.setdefault(asset, []).append((p, tid))
    return found


def needed(producer: Pipeline, interval: Interval) -> list[Interval]:
    """The producer's partitions whose interval overlaps `interval` (a producer without a
    schedule: the one partition of the interval itself)."""
    if not producer.schedule:
        return [interval]
    from .schedule import Schedule

    sched = Schedule(producer.schedule, producer.timezone, producer.start_date)
    start, end = _utc(interval.start), _utc(interval.end)
    if end <= start:
        end = start
    out: list[Interval] = []
    p = sched.interval_for(interval.start)
    while _utc(p.start) < end or (not out and _utc(p.start) <= start):
        if _utc(p.end) > start and (producer.start_date is None or _utc(p.start) >= _utc(producer.start_date)):
            out.append(p)
        p = sched.interval_at(p.end)
        if len(out) > MAX_PARTITIONS:
            break
    return out


def missing(pipeline: Pipeline, interval: Interval, layout, found: dict) -> list[tuple[str, str]]:
    """What `interval` of `pipeline` (a wait_for pipeline) still waits for: (asset, partition
    start) pairs, oldest first; an asset that nothing produces is missing whole (start '*')."""
    from .state import assets

    out: list[tuple[str, str]] = []
    for asset in pipeline.wait_for:
        makers = found.get(asset) or []
        if not makers:
            out.append((asset, "*"))
            continue
        have = assets.partitions(layout, asset)
        for part in needed(makers[0][0], interval):
            key = _utc(part.start).isoformat()
            if key not in have:
                out.append((asset, key))
    return out


def consumed(pipeline: Pipeline, interval: Interval, layout, found: dict) -> list[dict]:
    """The partitions a run of `interval` reads (its wait_for assets' overlapping partitions,
    as produced now): {asset, start, version, run_id} each, for its first event."""
    from .state import assets

    out = []
    for asset in pipeline.wait_for:
        makers = found.get(asset) or []
        if not makers:
            continue
        have = assets.partitions(layout, asset)
        for part in needed(makers[0][0], interval):
            p = have.get(_utc(part.start).isoformat())
            if p is not None:
                out.append({"asset": asset, "start": p.start, "version": p.version, "run_id": p.run_id})
    return out


def consumed_now(pipeline: Pipeline, interval: Interval, state) -> tuple:
    """What a run of `interval` of a wait_for pipeline would read now (for its request)."""
    if not pipeline.wait_for:
        return ()
    found = producers(Path(pipeline.folder), state.layout.spec_cache)
    return tuple(consumed(pipeline, interval, state.layout, found))


def stale(run, layout) -> list[dict]:
    """The partitions a run consumed that have been produced again since (a newer version):
    the run is `stale`, its results made from older data."""
    from .state import assets

    out, seen = [], {}
    for c in run.consumed:
        asset = c.get("asset")
        if not isinstance(asset, str):
            continue
        if asset not in seen:
            try:
                seen[asset] = assets.partitions(layout, asset)
            except Exception:
                seen[asset] = {}
        now = seen[asset].get(c.get("start"))
        if now is not None and isinstance(c.get("version"), int) and now.version > c["version"]:
            out.append({**c, "now": now.version})
    return out


def describe_missing(missing_: list[tuple[str, str]], limit: int = 3) -> str:
    """`weather_clean 2026-11-04, 2026-11-05 (and 2 more)`, per asset."""
    by: dict[str, list[str]] = {}
    for asset, start in missing_:
        by.setdefault(asset, []).append(start)
    parts = []
    for asset, starts in by.items():
        if starts == ["*"]:
            parts.append(f"{asset} (which no pipeline of the folder produces)")
            continue
        shown = ", ".join(s[:10] if s.endswith("T00:00:00+00:00") else s for s in starts[:limit])
        more = f" (and {len(starts) - limit} more)" if len(starts) > limit else ""
        parts.append(f"{asset} {shown}{more}")
    return "; ".join(parts)


def _utc(t: datetime) -> datetime:
    return t.astimezone(timezone.utc)


def folder_problems(folder: Path, only: set[str] | None = None, cache: Path | None = None) -> list:
    """What is wrong with the assets of a pipelines folder, each at file:line:column: a
    `wait_for` asset that no pipeline produces, an asset with two producers, a cycle of
    pipelines through assets (shown as its path). `only`: the files (resolved paths) whose
    problems are wanted (a file validated alone is still checked against its folder)."""
    import graphlib

    from . import spec
    from .errors import SpecError, did_you_mean
    from .spec.yamldoc import located

    loaded = []
    for path in spec.discover(Path(folder)):
        try:
            loaded.append((path, spec.load(path, cache=cache, project=False)))
        except SpecError:
            continue
    makers: dict[str, tuple[Path, Pipeline, str, int]] = {}
    found: list[tuple[Path, list, str]] = []
    for path, p in loaded:
        for tid, t in p.tasks.items():
            for i, asset in enumerate(t.produces):
                if asset in makers:
                    first = makers[asset]
                    found.append((path, ["tasks", tid, "produces", i],
                                  f"tasks.{tid}.produces: asset {asset!r} is produced by {first[1].name}.{first[2]} "
                                  "already; an asset has one producer"))
                else:
                    makers[asset] = (path, p, tid, i)
    edges: dict[str, set[str]] = {}
    for path, p in loaded:
        for i, asset in enumerate(p.wait_for):
            if asset not in makers:
                found.append((path, ["wait_for", i], f"wait_for: no pipeline of {_shown(folder)}/ produces {asset!r} (a task "
                                                     f"with `produces: [{asset}]`){did_you_mean(asset, makers)}"))
            else:
                edges.setdefault(p.name, set()).add(makers[asset][1].name)     # p runs after its producer
    try:
        graphlib.TopologicalSorter(edges).prepare()
    except graphlib.CycleError as e:
        cycle = list(e.args[1])
        by_name = {p.name: (path, p) for path, p in loaded}
        first = by_name.get(cycle[0])
        if first is not None:
            found.append((first[0], ["wait_for"], "a cycle of pipelines through assets: "
                          + " -> ".join(reversed(cycle)) + " (each waits for an asset of the one before it)"))
    problems = []
    for path, where, message in found:
        if only is not None and str(Path(path).resolve()) not in only:
            continue
        problems += located(str(path), [(where, message)])
    return problems


def _shown(folder: Path) -> str:
    import os

    try:
        rel = os.path.relpath(folder)
    except ValueError:
        return str(folder)
    return rel if len(rel) < len(str(folder)) else str(folder)

