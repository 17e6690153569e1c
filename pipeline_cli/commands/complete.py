"""The names and ids that complete: pipeline names, task ids and run ids, read from a
project's folders. The command line's own parser (Click's completion, cli/completion.py)
decides what is being completed; these functions only say the values."""
from __future__ import annotations

from .project import Globals


def pipeline_names(g: Globals, incomplete: str) -> list[str]:
    from ..spec import discover

    return sorted({p.stem for p in discover(g.pipelines_dir) if p.stem.startswith(incomplete)})


def task_ids(g: Globals, pipeline: str | None, incomplete: str, many: bool = False) -> list[str]:
    """The pipeline's task ids; `many`: the last of a comma-separated list (`--only a,b`)."""
    if not pipeline:
        return []
    from .project import load

    p, _ = load(g, pipeline, write_cache=False)
    done, _, partial = incomplete.rpartition(",") if many else ("", "", incomplete)
    head = done + "," if done else ""
    return [head + t for t in p.tasks if t.startswith(partial)]


def log_task_ids(g: Globals, pipeline: str | None, run_id: str | None, incomplete: str) -> list[str]:
    """What `pipe logs P` completes: the pipeline's task ids, and the instances `ID[N]` of the
    run's foreach tasks once the word names one (`fetch` or `fetch[`)."""
    ids = task_ids(g, pipeline, incomplete)
    base = incomplete.split("[", 1)[0]
    if not pipeline or not base:
        return ids
    from .project import pipeline_name

    name, g = pipeline_name(g, pipeline)
    run = g.state.run(name, None if run_id in (None, "latest") else run_id)
    parent = run.tasks.get(base)
    if parent is None or not parent.instances:
        return ids
    return ids + [t.id for _, t in sorted(parent.instances.items()) if t.id.startswith(incomplete)]


def run_ids(g: Globals, pipeline: str | None, incomplete: str, latest: bool = False) -> list[str]:
    """The pipeline's runs, newest first (and `latest`, for resume)."""
    if not pipeline:
        return []
    from .project import pipeline_name

    name, g = pipeline_name(g, pipeline)
    ids = (["latest"] if latest else []) + list(reversed(g.state.run_ids(name)))
    return [r for r in ids if r.startswith(incomplete)]
