"""Reading a pipeline file: parse (yamldoc) -> schema -> checks -> build, and the
validated-document cache that lets `pipe run` and `pipe tick` skip the first three."""
from __future__ import annotations

import contextlib
import difflib
import gc
import json
import os
import re
from pathlib import Path

from ..errors import Problem, SpecError, UsageError
from ..model import Pipeline
from .build import build
from .checks import Checker, run_checks
from .schema_check import json_type, schema_problems
from .values import PIPELINE_SUFFIXES, file_digest
from .yamldoc import Document, TooLarge, compose


def load(path: str | os.PathLike, data: bytes | None = None, cache: Path | None = None,
         write_cache: bool = True, project: bool = True) -> Pipeline:
    """Read, validate and build one pipeline file; raises SpecError with every problem.

    With a cache folder, a file whose exact bytes (and name, and pipe version) were
    validated before, and whose Python tasks' modules have the size and time they had then
    (everything its validity depends on), is built from the cached document, skipping YAML
    parsing, the schema and the checks (`pipe run` and `pipe tick` pass the state folder's
    cache; `pipe validate` always checks in full). `write_cache=False` (dry runs) reads the
    cache but never writes it.

    A pipeline with no `notify:` of its own takes the project file's (`pipe.yaml` at the root
    of the project that holds the file; a broken project file is a SpecError located there);
    `project=False` leaves the project file out (`pipe validate` checks it on its own).
    """
    with _collector_paused():
        pipeline = _load(str(path), data, cache, write_cache)
    pooled = any(t.pool is not None for t in pipeline.tasks.values())
    if project and (pipeline.notify is None or pooled):
        import dataclasses

        from .project import for_folder

        defaults = for_folder(Path(pipeline.folder), cache)
        if defaults is not None and defaults.notify is not None and pipeline.notify is None:
            pipeline = dataclasses.replace(pipeline, notify=defaults.notify)
        if pooled:
            pools = dict(defaults.pools) if defaults is not None else {}
            problems = pool_problems(pipeline, pools, defaults.path if defaults is not None else None, str(path))
            if problems:
                raise SpecError(problems)
            pipeline = dataclasses.replace(pipeline, pools=pools)
    return pipeline


def pool_problems(pipeline: Pipeline, pools: dict, project_path: str | None, file: str | None = None) -> list[Problem]:
    """A task's pool that the project file does not declare, or more slots than it has:
    each at the task's `pool:` (or `pool_slots:`) in the pipeline file."""
    from ..errors import did_you_mean

    found: list[tuple[list, str]] = []
    for tid, t in pipeline.tasks.items():
        if t.pool is None:
            continue
        if t.pool not in pools:
            where = f"the project file {project_path}" if project_path else "no project file (pipe.yaml)"
            declared = ", ".join(f"{k} ({v})" for k, v in sorted(pools.items())) or "none"
            found.append((["tasks", tid, "pool"], f"tasks.{tid}.pool: no pool {t.pool!r} in {where}; declared: "
                                                   f"{declared}{did_you_mean(t.pool, pools)}"))
        elif t.pool_slots > pools[t.pool]:
            found.append((["tasks", tid, "pool_slots"], f"tasks.{tid}.pool_slots: {t.pool_slots} slots, but pool "
                                                         f"{t.pool!r} has {pools[t.pool]}"))
    if not found:
        return []
    from .yamldoc import located

    return located(pipeline.path, found, file or pipeline.path)


@contextlib.contextmanager
def _collector_paused():
    """Loading creates a node per YAML value and keeps them all alive: the cyclic garbage
    collector would walk that growing heap again and again for nothing to free (it took
    half the time of loading a 10,000-task file). A cycle left behind is collected later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(file: str, data: bytes | None, cache: Path | None, write_cache: bool) -> Pipeline:
    if data is None:
        try:
            data = Path(file).read_bytes()
        except OSError as e:
            raise SpecError([Problem(file, None, None, f"cannot read the file: {e.strerror}")]) from None
    if cache is None:
        return validate(file, data)[0]
    from .. import __version__

    # The key holds what validity depends on in the file: the bytes, pipe's version, and the
    # file's name (a pipeline without `name:` is named after it, and that name is checked);
    # the entry holds the rest: the Python modules read.
    key = file_digest(data + b"\0" + Path(file).stem.encode("utf-8", "surrogateescape"))
    cached = cache / f"{__version__}-{key}.json"
    try:
        entry = json.loads(cached.read_bytes())
    except (OSError, ValueError):
        entry = None
    if isinstance(entry, dict) and isinstance(entry.get("doc"), dict) and _unchanged(entry.get("sources")):
        return build(file, data, entry["doc"])
    pipeline, doc, sources = validate(file, data)
    if write_cache:
        try:
            from ..state import makedirs, write_atomic

            if sources:
                from .entrypoints import stamps
            makedirs(cache)
            entry = {"doc": doc, "sources": stamps(sources) if sources else []}
            write_atomic(cached, json.dumps(entry).encode())
        except (OSError, UsageError):
            pass      # a cache that cannot be written is only slower (makedirs says UsageError)
    return pipeline


def _unchanged(sources) -> bool:
    """Whether the Python files a cached verdict read ([path, mtime_ns, size] each: the
    modules of the pipeline's Python tasks) are as they were then."""
    try:
        for path, mtime, size in sources:
            st = os.stat(path)
            if (st.st_mtime_ns, st.st_size) != (mtime, size):
                return False
    except (OSError, TypeError, ValueError):     # gone, or not a list of triples
        return False
    return True


def validate(file: str, data: bytes) -> tuple[Pipeline, dict, set[str]]:
    """The full check of a file's bytes: the model, the document it was built from, and the
    Python source files the check of its entrypoints read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError([Problem(file, None, None, f"the file is not UTF-8 text (byte {e.start})")]) from None
    root = compose(text, file)
    if root is None:
        raise SpecError([Problem(file, 1, 1, "the file is empty; expected a mapping with at least `tasks:`")])
    problems: list[Problem] = []
    reader = Document(file, problems)
    try:
        doc = reader.build(root)
    except TooLarge as e:
        mark = e.node.start_mark
        raise SpecError([Problem(file, mark.line + 1, mark.column + 1, e.why)]) from None
    except RecursionError:
        raise SpecError([Problem(file, None, None, "the YAML is nested too deeply to read")]) from None
    if not isinstance(doc, dict):
        problems.append(Problem(file, root.start_mark.line + 1, root.start_mark.column + 1,
                                f"expected a mapping with at least `tasks:` at the top of the file, got {json_type(doc)}"))
        raise SpecError(problems)
    problems.extend(p for p in schema_problems(doc, root, file) if (p.line, p.column) not in reader.refused)
    checker = Checker(file, root, doc, problems)
    run_checks(checker)
    if problems:
        raise SpecError(problems)
    return build(file, data, doc, tuple(checker.warnings)), doc, checker.sources


# --- finding pipeline files ------------------------------------------------------------

def discover(pipelines_dir: str | os.PathLike) -> list[Path]:
    """Every pipeline file in the folder (not its subfolders), sorted by name."""
    folder = Path(pipelines_dir)
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix in PIPELINE_SUFFIXES and p.is_file())
    except OSError:
        return []
    return entries


def resolve(arg: str, pipelines_dir: str | os.PathLike) -> Path:
    """PIPELINE as the SPEC says: a path, or a name or file name inside the pipelines folder."""
    candidates = [Path(arg)]
    folder = Path(pipelines_dir)
    if "/" not in arg and "\0" not in arg:
        candidates += [folder / arg] + [folder / (arg + s) for s in PIPELINE_SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c
    if "/" not in arg:
        # A pipeline whose `name:` differs from its file name.
        pattern = re.compile(rb"^name:\s*['\"]?" + re.escape(arg.encode()) + rb"['\"]?\s*(#.*)?$", re.M)
        for p in discover(folder):
            try:
                if pattern.search(p.read_bytes()):
                    return p
            except OSError:
                continue
    known = [p.stem for p in discover(folder)]
    close = difflib.get_close_matches(arg, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(known)}" if known else "")
    raise UsageError(f"no pipeline {arg!r} (not a file, nor a pipeline in {folder}/){hint}")
