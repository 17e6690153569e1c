"""`pipe init [NAME]`: a commented starter pipeline that validates and runs as written."""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from ..errors import UsageError
from .project import Globals
from .results import InitResult

TEMPLATE = Path(__file__).resolve().parent.parent / "init"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def pipe_command() -> str:
    """How cron should call this pipe: its script's absolute path when it was run as `pipe`."""
    argv0 = sys.argv[0] if sys.argv else ""
    if Path(argv0).name == "pipe":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found:
            return os.path.abspath(found)
    found = shutil.which("pipe")
    return found or f"{sys.executable} -m pipeline_cli"


def init(g: Globals, name: str | None = None) -> InitResult:
    name = name or "hello"
    if not NAME_RE.match(name):
        raise UsageError(f"NAME {name!r}: a pipeline name is lower-case letters, digits, '_' and '-', "
                         "starting with a letter (e.g. sales, daily-report)")
    folder = g.pipelines_dir
    module = name.replace("-", "_") + "_tasks"
    target, code = folder / f"{name}.yaml", folder / f"{module}.py"
    for path in (target, folder / f"{name}.yml", code):
        if path.exists():
            raise UsageError(f"{path} exists already: choose another NAME (`pipe init NAME`)")
    text = (TEMPLATE / "pipeline.yaml").read_text(encoding="utf-8")
    text = text.replace("MODULE", module).replace("NAME", name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        code.write_text((TEMPLATE / "tasks.py").read_text(encoding="utf-8").replace("NAME", name),
                        encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write the starter pipeline in {folder}/: {e.strerror}") from None
    root = (g.root or Path.cwd()).resolve()
    steps = [f"pipe validate {name}", f"pipe run {name}", f"pipe status {name}",
             f"pipe logs {name} count",
             f"crontab -e, and add: * * * * * cd {root} && {pipe_command()} tick"]
    return InitResult(str(target), name, steps)
