"""The optional project file `pipe.yaml` at the project root (SPEC 12): pools, retention and
a default `notify:` block for every pipeline that has none.

It is found as `pipelines/` is: at the root of the project that holds the pipeline file (the
nearest folder upwards with `pipelines/` or `.pipe/`). It is read with the same YAML loader
as pipeline files (safe tags, duplicate keys, YAML 1.1/1.2 differences) and checked against
its own schema (`pipe schema --project`), every problem at `file:line:column`. A validated
file is remembered by its digest in the state folder's spec cache, so a tick that loads many
pipelines reads and checks it once (jsonschema only when it changed).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import Problem, SpecError
from ..model import Notify

PROJECT_FILE = "pipe.yaml"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "project.schema.json"


class Retention:
    """`retention:` of the project file: keep_days and keep_runs (None: no limit)."""

    def __init__(self, keep_days: int | None = None, keep_runs: int | None = None):
        self.keep_days, self.keep_runs = keep_days, keep_runs

    def __repr__(self) -> str:
        return f"Retention(keep_days={self.keep_days!r}, keep_runs={self.keep_runs!r})"


class Project:
    """A validated project file (a plain class: start-up time of `pipe tick`)."""

    def __init__(self, path: str, pools: dict[str, int], retention: Retention | None, notify: Notify | None,
                 digest: str = ""):
        self.path, self.pools, self.retention, self.notify, self.digest = path, pools, retention, notify, digest


def project_file(root: Path | None) -> Path | None:
    """The project file of a project root, if there is one (as a person would type it from
    the current folder, as pipeline files are shown)."""
    if root is None:
        return None
    path = Path(root) / PROJECT_FILE
    if not path.is_file():
        return None
    try:
        return Path(os.path.relpath(path))
    except ValueError:         # no relative path to it (another drive)
        return path


def root_of(folder: Path) -> Path | None:
    from ..commands.project import find_root

    return find_root(Path(folder).resolve())


_LOADED: dict[tuple, Project] = {}     # (path, mtime_ns, size) -> Project, for this process


def load_project(path: Path, cache: Path | None = None) -> Project:
    """Read and check the project file; SpecError with every problem, located."""
    path = Path(path)
    try:
        st = os.stat(path)
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    except OSError as e:
        raise SpecError([Problem(str(path), None, None, f"cannot read the project file: {e.strerror}")]) from None
    if key in _LOADED:
        return _LOADED[key]
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SpecError([Problem(str(path), None, None, f"cannot read the project file: {e.strerror}")]) from None
    from .values import file_digest

    digest = file_digest(data)
    doc = None
    cached = None
    if cache is not None:
        from .. import __version__

        cached = Path(cache) / f"project-{__version__}-{digest}.json"
        try:
            doc = json.loads(cached.read_bytes()).get("doc")
        except (OSError, ValueError, AttributeError):
            doc = None
    if not isinstance(doc, dict):
        doc = check(str(path), data)
        if cached is not None:
            try:
                from ..state import makedirs, write_atomic

                makedirs(cached.parent)
                write_atomic(cached, json.dumps({"doc": doc}).encode())
            except Exception:         # a cache that cannot be written is only slower
                pass
    project = build(str(path), doc, digest)
    _LOADED[key] = project
    return project


def for_folder(folder: Path, cache: Path | None = None) -> Project | None:
    """The project file of the project that holds `folder` (a pipeline file's), or None."""
    path = project_file(root_of(folder))
    return load_project(path, cache) if path is not None else None


def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def check(file: str, data: bytes) -> dict:
    """The project file's document, or SpecError with every problem at file:line:column."""
    from .checks import Checker, check_notify
    from .schema_check import _python_patterns, json_type, schema_problems
    from .yamldoc import Document, compose

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError([Problem(file, None, None, f"the file is not UTF-8 text (byte {e.start})")]) from None
    root = compose(text, file)
    if root is None:
        return {}              # an empty project file: nothing set
    problems: list[Problem] = []
    reader = Document(file, problems)
    doc = reader.build(root)
    if not isinstance(doc, dict):
        raise SpecError(problems + [Problem(file, root.start_mark.line + 1, root.start_mark.column + 1,
                                            f"expected a mapping (pools, retention, notify) at the top of the "
                                            f"project file, got {json_type(doc)}")])
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(_python_patterns(schema()))
    problems.extend(p for p in schema_problems(doc, root, file, check=validator) if (p.line, p.column) not in reader.refused)
    if isinstance(doc.get("notify"), dict) and not problems:
        # The notify block as a pipeline's: a deadline applies to the pipelines with a schedule.
        checker = Checker(file, root, {**doc, "schedule": "@daily"}, problems)
        check_notify(checker)
    if problems:
        raise SpecError(problems)
    return doc


def build(file: str, doc: dict, digest: str = "") -> Project:
    from .build import _notify

    pools = doc.get("pools") if isinstance(doc.get("pools"), dict) else {}
    raw = doc.get("retention") if isinstance(doc.get("retention"), dict) else None
    retention = Retention(raw.get("keep_days"), raw.get("keep_runs")) if raw else None
    notify = _notify(doc["notify"]) if isinstance(doc.get("notify"), dict) else None
    return Project(file, dict(pools), retention, notify, digest)
