"""The commands that operate many pipelines (SPEC 12): pause, unpause, prune."""
from __future__ import annotations

import sys
from pathlib import Path

from .project import Globals
from .results import PauseResult


def _name_and_file(g: Globals, pipeline: str):
    """The pipeline's name (from its file if it is valid, else the name given: a broken file
    can still be paused) and its file, if there is one."""
    from .. import spec
    from ..errors import SpecError, UsageError
    from .project import pipeline_name

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
    from ..scheduling.quiet_cache import _forget

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
        sys.stderr.write(f"note: pipeline {name!r} is {describe(info)}; this goes ahead as asked, "
                         f"tick starts nothing for it until `pipe unpause {name}`\n")
        sys.stderr.flush()


def prune(g: Globals, pipeline: str | None = None, older_than: str | None = None, keep: int | None = None,
          dry_run: bool = False, json_mode: bool = False) -> "PruneResult":
    """Remove whole run folders that retention lets go (the options, else pipe.yaml's)."""
    from ..errors import UsageError
    from ..spec import parse_duration
    from ..state import now_utc
    from ..state.prune import prune as do_prune
    from .results import PruneResult

    if older_than is None and keep is None:
        retention = _retention(g)
        if retention is None:
            raise UsageError("nothing to prune by: give --older-than (e.g. 90d) or --keep N, or set `retention:` "
                             "(keep_days, keep_runs) in the project file pipe.yaml")
        seconds = retention.keep_days * 86400.0 if retention.keep_days else None
        keep = retention.keep_runs
        source = "pipe.yaml"
    else:
        seconds = None
        if older_than is not None:
            try:
                seconds = parse_duration(older_than)
            except ValueError as e:
                raise UsageError(f"--older-than {older_than!r}: {e}") from None
            if seconds <= 0:
                raise UsageError(f"--older-than {older_than!r}: must be more than 0")
        if keep is not None and keep < 1:
            raise UsageError("--keep must be at least 1 (a pipeline's newest run is always kept)")
        source = "options"
    if pipeline is not None:
        name, _, g = _name_and_file(g, pipeline)
        names = [name]
    else:
        names = g.state.pipelines()
    removed, kept = do_prune(g.state, names, now_utc(), seconds, keep, dry_run=dry_run)
    return PruneResult(removed, kept, dry_run=dry_run, source=source)


def _project_root(g: Globals):
    """The root whose pipe.yaml rules these pipelines: that of the pipelines folder (as a
    pipeline file finds it), else the command's."""
    from ..spec.project import root_of

    return root_of(g.pipelines_dir) or g.root


def _retention(g: Globals):
    from ..spec.project import load_project, project_file

    path = project_file(_project_root(g))
    if path is None:
        return None
    return load_project(path, g.spec_cache).retention


RETENTION_EVERY = 86400.0       # tick applies pipe.yaml's retention at most once a day


def apply_retention(g: Globals, now) -> None:
    """For tick: prune by the project file's retention if a day has passed since the last time
    (a stamp in the state folder). Cheap when there is nothing to do: one stat, or one small
    file read. What goes wrong is said on stderr (cron mails it); success is silent."""
    root = _project_root(g)
    if root is None or not (Path(root) / "pipe.yaml").is_file():
        return
    from ..state import makedirs, read_json_dict, write_atomic

    layout = g.state.layout
    stamp = read_json_dict(layout.retention_stamp)
    last = stamp.get("at")
    if isinstance(last, (int, float)) and 0 <= now.timestamp() - last < RETENTION_EVERY:
        return
    try:
        retention = _retention(g)
    except Exception as e:         # a broken project file: said by the commands that load a pipeline
        sys.stderr.write(f"pipe tick: retention not applied: {e}\n")
        return
    if retention is not None and (retention.keep_days or retention.keep_runs):
        from ..state.prune import prune as do_prune

        try:
            removed, _ = do_prune(g.state, g.state.pipelines(), now,
                                  retention.keep_days * 86400.0 if retention.keep_days else None,
                                  retention.keep_runs)
        except Exception as e:
            sys.stderr.write(f"pipe tick: retention not applied: {e}\n")
            return
        stamp = {"at": now.timestamp(), "when": now.isoformat(timespec="seconds"), "removed": len(removed),
                 "bytes": sum(r.bytes for r in removed)}
    else:
        stamp = {"at": now.timestamp(), "when": now.isoformat(timespec="seconds"), "removed": 0, "bytes": 0}
    import json

    makedirs(layout.root)
    write_atomic(layout.retention_stamp, json.dumps(stamp).encode())
