"""The commands that operate many pipelines (SPEC 12): pause, unpause, prune."""
from __future__ import annotations

import sys

from .project import Globals
from .results import PauseResult


def _name_and_file(g: Globals, pipeline: str):
    """The pipeline's name (from its file if it is valid, else the name given: a broken file
    can still be paused) and its file, if there is one."""
    from .. import spec
    from ..errors import SpecError, UsageError
    from .reading import pipeline_name

    name, g = pipeline_name(g, pipeline)
    try:
        path = spec.resolve(pipeline, g.pipelines_dir)
    except (SpecError, UsageError):
        path = None
    if path is None and name not in g.state.pipelines():
        raise UsageError(f"no pipeline {pipeline!r} in {g.pipelines_dir}/ and no history of it in {g.state_dir}/")
    from ..state.layout import PIPELINE_RE, check_name

    check_name("pipeline", name, PIPELINE_RE)
    return name, path, g


def _forget_quiet(g: Globals, path) -> None:
    """Tick's "nothing due" cache must look again at this file (on unpause: catch up now)."""
    if path is None:
        return
    from ..scheduler import _forget

    try:
        _forget(g.state, str(path.resolve()))
    except OSError:
        pass


def pause(g: Globals, pipeline: str, reason: str | None = None, json_mode: bool = False) -> PauseResult:
    from ..state.pause import pause as do_pause

    name, path, g = _name_and_file(g, pipeline)
    info, already = do_pause(g.state.layout, name, reason)
    _forget_quiet(g, path)
    return PauseResult(name, True, info, changed=not already)


def unpause(g: Globals, pipeline: str, json_mode: bool = False) -> PauseResult:
    from ..state.pause import unpause as do_unpause

    name, path, g = _name_and_file(g, pipeline)
    ended = do_unpause(g.state.layout, name)
    _forget_quiet(g, path)
    catchup = None
    if path is not None:
        try:
            from .. import spec

            catchup = spec.load(path, cache=g.spec_cache).catchup
        except Exception:       # an invalid file: tick will say so itself
            catchup = None
    return PauseResult(name, False, ended, changed=ended is not None, catchup=catchup)


def note_if_paused(g: Globals, name: str) -> None:
    """`pipe run` of a paused pipeline runs it (a person asked) and says it is paused."""
    from ..state.pause import describe, paused

    info = paused(g.state.layout, name)
    if info is not None:
        sys.stderr.write(f"note: pipeline {name!r} is {describe(info)}; this run goes ahead as asked, "
                         f"tick starts nothing for it until `pipe unpause {name}`\n")
        sys.stderr.flush()
