"""The run core: a request (request.py) carried out (start.py) by the run loop (loop.py),
which asks the pure run machine (machine.py) what to do, builds each attempt once
(attempts.py), hands it to an executor (executors/) and tells the run's hooks (hooks.py).
A dry run is a plan (plan.py)."""
from __future__ import annotations

from .hooks import Hooks, RunHook
from .plan import Plan
from .request import Limits, ResumeRequest, RunRequest, check_params, interval_for, run_request
from .start import RunBusy, new_run, resume

__all__ = ["Hooks", "Limits", "Plan", "ResumeRequest", "RunBusy", "RunHook", "RunRequest", "check_params",
           "interval_for", "new_run", "resume", "run_request"]
