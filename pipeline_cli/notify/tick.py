"""`pipe tick --notify URL`: a pipeline file that stopped validating is said once per content
of the file, on stderr and to URL (remembered in the state folder's tick-problems.json)."""
from __future__ import annotations

from pathlib import Path

from ..model import Pipeline
from ..redact import Redactor
from .decide import TICK
from .deliver import Message, deliver, warn
from .memory import locked_memory
from .message import tick_problem_message
from .targets import Target, mask_url

def tick_problems(problems_file: Path, invalid: list, url: str | None, dry_run: bool = False) -> list:
    """Of the invalid pipeline files (SpecErrors), those whose content has not been reported
    before; each is sent to `url` (`pipe tick --notify`) once. Files valid again (or gone)
    are forgotten, so a file that breaks again is said again."""
    from ..spec import file_digest

    if dry_run:
        return list(invalid)
    new = []
    with locked_memory(problems_file) as memory:
        current = {}
        for error in invalid:
            path = error.problems[0].file
            try:
                digest = file_digest(Path(path).read_bytes())
            except OSError:
                digest = "unreadable"
            key = str(Path(path).resolve())
            current[key] = digest
            if memory.get(key) != digest:
                new.append(error)
        for key in [k for k in memory if k not in current]:
            del memory[key]
        memory.update(current)
    if new and url:
        _send_tick_problems(new, url)
    return new


def _send_tick_problems(errors: list, url: str) -> None:
    targets = [Target(url, mask_url(url))]
    for error in errors:
        file = error.problems[0].file
        title, body = tick_problem_message(error)
        fake = Pipeline(name="tick", path=file, folder=str(Path(file).parent), tasks={})
        results = deliver(fake, [Message(TICK, title, body)], targets, Redactor(), 10.0)
        for r in results:
            if not r.ok:
                warn(f"tick: the message about {file} was not delivered to {r.target}: {r.error}")
