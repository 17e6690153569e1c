"""Where a command works: the project root, its pipelines folder and its state folder.

The root is found as git finds its repository: the nearest folder, from the current one
upwards, that holds `pipelines/` or `.pipe/`; without one, the current folder. A pipeline
file given by path inside a project uses that project's state folder, wherever pipe runs.
"""
from __future__ import annotations

import os
from pathlib import Path

MARKERS = ("pipelines", ".pipe")


def find_root(start: Path) -> Path | None:
    """The nearest folder from `start` upwards holding pipelines/ or .pipe/, or None."""
    folder = start
    while True:
        for marker in MARKERS:
            if (folder / marker).is_dir():
                return folder
        if folder.parent == folder:
            return None
        folder = folder.parent


def _shown(path: Path, cwd: Path) -> Path:
    """A path as a person would type it from the current folder."""
    try:
        return Path(os.path.relpath(path, cwd))
    except ValueError:
        return path


class Globals:
    """The folders a command uses. `Globals(pipelines_dir, state_dir)` states them outright;
    `Globals.make()` finds them as the CLI does (options, PIPE_* variables, project root).
    (A plain class: a dataclass costs start-up time at every `pipe tick`.)"""

    def __init__(self, pipelines_dir, state_dir, root: Path | None = None, state_given: bool = True):
        self.pipelines_dir = Path(pipelines_dir)
        self.state_dir = Path(state_dir)
        self.root = root
        self.state_given = state_given     # --state-dir / PIPE_STATE_DIR: a pipeline's path does not move it

    def __repr__(self) -> str:
        return f"Globals({str(self.pipelines_dir)!r}, {str(self.state_dir)!r}, root={self.root!r})"

    @classmethod
    def make(cls, pipelines_dir: str | None = None, state_dir: str | None = None,
             cwd: Path | None = None) -> "Globals":
        pipelines_dir = pipelines_dir or os.environ.get("PIPE_PIPELINES_DIR") or None
        state_dir = state_dir or os.environ.get("PIPE_STATE_DIR") or None
        here = cwd or Path.cwd()
        root = find_root(here) or here
        return cls(Path(pipelines_dir) if pipelines_dir else _shown(root / "pipelines", here),
                   Path(state_dir) if state_dir else _shown(root / ".pipe", here),
                   root=root, state_given=state_dir is not None)

    def for_file(self, path: Path) -> "Globals":
        """For a pipeline file: the state folder of the project that holds it (unless given)."""
        if self.state_given:
            return self
        here = Path.cwd()
        root = find_root(path.resolve().parent)
        if root is None or (self.root is not None and root == self.root):
            return self
        return Globals(self.pipelines_dir, _shown(root / ".pipe", here), root, False)

    @property
    def spec_cache(self) -> Path:
        from ..state.layout import Layout

        return Layout(self.state_dir).spec_cache

    @property
    def state(self):
        from ..state import StateDir

        return StateDir(self.state_dir)


# -- finding a pipeline and its folders (every command that takes PIPELINE) -----------------

def load(g: Globals, name: str, write_cache: bool = True):
    """The pipeline PIPELINE names (SPEC section 4), and the project folders for it: a file
    given by path inside another project uses that project's state folder."""
    from .. import spec

    path = spec.resolve(name, g.pipelines_dir)
    g = g.for_file(path)
    return spec.load(path, cache=g.spec_cache, write_cache=write_cache), g


def require_pipelines_dir(g: Globals) -> None:
    """A missing pipelines folder is a mistake to say, never an empty answer (cron would
    take silence for health)."""
    from ..errors import UsageError

    folder = g.pipelines_dir
    if folder.is_dir():
        if not os.access(folder, os.R_OK | os.X_OK):
            raise UsageError(f"the pipelines folder {folder}/ cannot be read")
        return
    why = "is not a folder" if folder.exists() else "does not exist"
    raise UsageError(f"no pipelines folder: {folder}/ {why} (run pipe in the project's folder or below it, "
                     "or give --pipelines-dir / PIPE_PIPELINES_DIR; `pipe init` creates one)")


def pipeline_name(g: Globals, pipeline: str) -> tuple[str, Globals]:
    """The name under which a pipeline's history is kept: from its file if it is valid, else
    the name given (history stays readable after the file broke or went away)."""
    from ..errors import SpecError

    if pipeline in g.state.pipelines():
        return pipeline, g
    try:
        p, g2 = load(g, pipeline)
        return p.name, g2
    except SpecError:
        return Path(pipeline).stem, g
