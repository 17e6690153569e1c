"""Notifications (SPEC section 9): which events a run fires, the message, and its delivery.

    after_run      called once a run's `run_finished` event is on disk: decides (failure once
                   per streak, recovery, success, retry), builds one message per event,
                   delivers it, and appends one `notify` event per delivery to the run's log
    check_deadline called by `pipe tick`: an interval not succeeded `deadline` after its end
                   is reported once (not when its failure was already reported)
    late           the same question, read-only, for `pipe list`
    next_check     when the next deadline passes (for tick's "nothing due" cache)
    tick_problems  `pipe tick --notify URL`: a pipeline file that stopped validating is said
                   once per content of the file, on stderr and to URL
    send_test      `pipe notify test PIPELINE` (commands/notify.py loads the pipeline)

Delivery goes through Apprise (the `notify` extra), imported only when a message is sent,
and through the block's `run:` command. Every delivery runs in its own thread, bounded by
the block's `timeout` and by 30 s for all of them together; a delivery that fails or does
not answer is recorded (and warned about on stderr), never raised: notifying cannot change
a run's outcome or exit code. What must be remembered between runs (the failure streak,
the intervals already reported, where deadlines are watched from) is the pipeline's
`notify.json` in the state folder, read and written under a lock.

    decide.py      which events fire, and what the streak remembers (pure)
    memory.py      notify.json (and tick-problems.json) under a lock
    targets.py     the `to` templates rendered into URLs; masking
    message.py     every title and body
    via_apprise.py Apprise: imported on first use, a target prepared, a message sent
    command.py     the `run:` command: its environment and one run of it
    deliver.py     every delivery in its own thread within the budget; notify events
    runs.py        after a run          deadline.py  deadlines
    hook.py        the run hook that calls runs.py once a run has ended
    tick.py        tick's own problems  trial.py     pipe notify test
"""
from __future__ import annotations

import importlib

from .decide import decide     # eager: the function, not its module of the same name (pure, light)

# Imported on first use, so that `from pipeline_cli.notify.hook import notify_hook` (every
# run) costs nothing for a pipeline without a `notify:` block.
_WHERE = {"check_deadline": "deadline", "late": "deadline", "next_check": "deadline",
          "after_run": "runs", "mask_url": "targets", "tick_problems": "tick", "send_test": "trial"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["after_run", "check_deadline", "decide", "late", "mask_url", "next_check", "send_test",
           "tick_problems"]
