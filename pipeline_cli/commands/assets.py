"""`pipe assets [NAME]` (who produces each asset, its latest partition, who waits for it; with
NAME its partitions) and `pipe asset mark NAME --date D` (a partition made by hand)."""
from __future__ import annotations

from datetime import timezone

from ..errors import UsageError
from .project import Globals, require_pipelines_dir
from .results import AssetsResult


def _folder_assets(g: Globals):
    """(producers: asset -> [(pipeline, task)], consumers: asset -> [pipeline names])."""
    from .. import spec
    from ..assets import producers
    from ..errors import SpecError

    require_pipelines_dir(g)
    made = producers(g.pipelines_dir, g.state.layout.spec_cache)
    waiting: dict[str, list[str]] = {}
    for path in spec.discover(g.pipelines_dir):
        try:
            p = spec.load(path, cache=g.state.layout.spec_cache, project=False)
        except SpecError:
            continue
        for asset in p.wait_for:
            waiting.setdefault(asset, []).append(p.name)
    return made, waiting


def assets(g: Globals, name: str | None = None, json_mode: bool = False) -> AssetsResult:
    from ..state import assets as store

    made, waiting = _folder_assets(g)
    names = sorted(set(made) | set(waiting) | set(store.assets(g.state.layout)))
    if name is not None:
        if name not in names:
            from ..errors import did_you_mean

            raise UsageError(f"no asset {name!r} in {g.pipelines_dir}/ or the state folder{did_you_mean(name, names)}")
        names = [name]
    rows = []
    for asset in names:
        parts = store.partitions(g.state.layout, asset)
        latest = max(parts.values(), key=lambda p: p.start) if parts else None
        row = {"asset": asset, "producers": [f"{p.name}.{t}" for p, t in made.get(asset, [])],
               "consumers": waiting.get(asset, []), "partitions": len(parts),
               "latest": latest.to_json() if latest else None}
        if name is not None:
            row["produced"] = [p.to_json() for p in sorted(parts.values(), key=lambda p: p.start)]
        rows.append(row)
    return AssetsResult(rows, detail=name is not None)


def mark(g: Globals, name: str, date: str, json_mode: bool = False) -> AssetsResult:
    """Record the partition of `name` for the producer's interval that `date` falls in, as a
    person's action (a repair: the data was made by hand)."""
    from ..state import assets as store
    from ..state import now_utc
    from ..state.pause import who
    from .runs import parse_date

    made, _ = _folder_assets(g)
    makers = made.get(name)
    if not makers:
        raise UsageError(f"no pipeline of {g.pipelines_dir}/ produces {name!r} (a task with `produces: [{name}]`), "
                         "so it has no partitions to mark")
    producer, task = makers[0]
    from ..run.request import interval_for

    interval = interval_for(producer, parse_date(date, producer.timezone, "--date"), now_utc())
    start = interval.start.astimezone(timezone.utc).isoformat()
    store.record(g.state.layout, name, start, interval.end.astimezone(timezone.utc).isoformat(),
                 pipeline=producer.name, task=task, run_id=None, by=f"mark by {who()}", time=now_utc().isoformat())
    return assets(g, name)
