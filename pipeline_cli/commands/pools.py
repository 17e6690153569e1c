"""`pipe pools`: each pool of the project file, its size, and which task of which run holds
each slot now (read from the slot files of the state folder: state/pools.py)."""
from __future__ import annotations

from .project import Globals
from .results import PoolsResult


def pools(g: Globals, json_mode: bool = False) -> PoolsResult:
    from ..spec.project import load_project, project_file, root_of
    from ..state.pools import in_use

    path = project_file(root_of(g.pipelines_dir) or g.root)
    if path is None:
        return PoolsResult([], None)
    project = load_project(path, g.state.layout.spec_cache)
    rows = [{"pool": name, "size": size, "in_use": holders and sum(1 for _ in holders) or 0, "holders": holders}
            for name, size in sorted(project.pools.items())
            for holders in [in_use(g.state.layout, name, size)]]
    return PoolsResult(rows, str(path))
