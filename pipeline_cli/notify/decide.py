"""Which events a finished run fires, and what the failure streak remembers: pure, on the
`notify.json` dict (read and written by memory.py)."""
from __future__ import annotations

from ..model import RUN_FAILED, RUN_INTERRUPTED, RUN_SUCCEEDED, Notify

# Events (keep stable: persisted as the `when` of notify events and in notify.json).
FAILURE, SUCCESS, RECOVERY, RETRY, DEADLINE, TEST, TICK = (
    "failure", "success", "recovery", "retry", "deadline", "test", "tick")
EVENTS = (FAILURE, SUCCESS, RECOVERY, RETRY, DEADLINE)

KNOWN_MAX = 500            # intervals remembered as reported


def decide(n: Notify, memory: dict, state: str, retried: bool) -> list[str]:
    """The events a finished run fires, in order; updates `memory` (the failure streak).

    failure: a failed or interrupted run, the first of a streak (every one with `repeat`);
    recovery: the first success after a failure (it says success too, so `success` is not
    sent again for that run); success: every success; retry: a task was retried (not sent
    with a failure, whose message already tells each task's attempts)."""
    events: list[str] = []
    failing = bool(memory.get("failing"))
    if state == RUN_SUCCEEDED:
        if failing and RECOVERY in n.when:
            events.append(RECOVERY)
        elif SUCCESS in n.when:
            events.append(SUCCESS)
        memory["failing"] = False
        memory["streak_notified"] = False
        memory.pop("failing_since", None)
    elif state in (RUN_FAILED, RUN_INTERRUPTED):
        if FAILURE in n.when and (n.repeat or not failing or not memory.get("streak_notified")):
            events.append(FAILURE)
            memory["streak_notified"] = True
        memory["failing"] = True
    if retried and RETRY in n.when and FAILURE not in events:
        events.append(RETRY)
    return events


def remember_failure(memory: dict, was: dict, run_id: str | None, logical_date: str | None,
                     interval_key: str | None) -> None:
    """After a run that did not succeed (and `decide`): where the streak began, and, once
    its failure was reported, its interval as reported (its deadline is the same problem)."""
    if not was.get("failing"):
        memory["failing_since"] = {"run_id": run_id, "logical_date": logical_date}
    if interval_key and memory.get("streak_notified"):
        remember_interval(memory, interval_key, FAILURE)


def remember_interval(memory: dict, key: str, what: str) -> None:
    """An interval reported (by its failure or its deadline): the last KNOWN_MAX are kept."""
    known = memory.setdefault("known", {})
    known[key] = what
    while len(known) > KNOWN_MAX:
        known.pop(next(iter(known)))
