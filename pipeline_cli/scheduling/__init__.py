"""Scheduling: what is due (planning.py: pure planning over the ledger of claimed intervals),
the "nothing due" cache (quiet_cache.py), `pipe tick` (ticking.py), `pipe backfill`
(backfilling.py), and the forked children both run their work in (children.py).

Exactly once: a run claims its interval in the pipeline's ledger (intervals.jsonl) under the
pipeline's lock, so two ticks never run one interval twice; a claim whose run never wrote its
first event (its `pipe` died at once) does not count. An interrupted scheduled run is resumed
by the next tick, and so is a run left waiting once its sensors hold.

Names are imported from their module on first use: a tick that finds nothing due imports
quiet_cache.py alone.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "BackfillPlan": "backfilling", "backfill": "backfilling", "backfill_intervals": "backfilling",
    "backfill_plan": "backfilling", "succeeded_runs": "backfilling",
    "CHILD_FAILED": "children", "CHILD_INVALID": "children", "CHILD_OK": "children", "Child": "children",
    "start_child": "children",
    "Claim": "planning", "Due": "planning", "Plan": "planning", "due": "planning", "ended": "planning",
    "next_due": "planning", "plan": "planning", "schedule_end": "planning",
    "quiet": "quiet_cache",
    "TickReport": "ticking", "run_hooks": "ticking", "tick": "ticking", "tick_pipeline": "ticking",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_WHERE)
