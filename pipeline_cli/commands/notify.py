"""`pipe notify test PIPELINE`: the pipeline loaded as every command loads it, then a test
message to each of its targets (notify/trial.py)."""
from __future__ import annotations

from .project import Globals


def notify_test(g: Globals, pipeline: str) -> int:
    from ..notify.trial import send_test
    from . import load

    p, _ = load(g, pipeline)
    return send_test(p)
