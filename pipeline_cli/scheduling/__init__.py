"""Scheduling: what is due (due.py: pure planning over the ledger of claimed intervals), the
"nothing due" cache (quiet.py), `pipe tick` (ticking.py), `pipe backfill` (backfill.py), and the
forked children both run their work in (children.py).

Exactly once: a run claims its interval in the pipeline's ledger (intervals.jsonl) under the
pipeline's lock, so two ticks never run one interval twice; a claim whose run never wrote its
first event (its `pipe` died at once) does not count. An interrupted scheduled run is resumed
by the next tick, and so is a run left waiting once its sensors hold.
"""
from __future__ import annotations

from .backfill import BackfillPlan, backfill, backfill_intervals, backfill_plan, succeeded_runs
from .children import CHILD_FAILED, CHILD_INVALID, CHILD_OK, Child, start_child
from .due import Claim, Due, Plan, due, ended, next_due, plan, schedule_end
from .quiet import quiet
from .ticking import TickReport, run_hooks, tick, tick_pipeline

__all__ = ["BackfillPlan", "CHILD_FAILED", "CHILD_INVALID", "CHILD_OK", "Child", "Claim", "Due", "Plan", "TickReport",
           "backfill", "backfill_intervals", "backfill_plan", "due", "ended", "next_due", "plan", "quiet", "run_hooks",
           "schedule_end", "start_child", "succeeded_runs", "tick", "tick_pipeline"]
