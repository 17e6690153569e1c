"""State and history: the event format (events.py), where everything lives (layout.py),
the read API and the few other writes (store.py), liveness and locks."""
from __future__ import annotations

from .events import (EVENT_FORMAT, AttemptView, EventLog, RunView, TaskView, apply, iso, now_utc,
                     read_events)
from .layout import RUN_ID_RE, Layout, NotFound
from .liveness import me, process_alive, process_start_time, this_host
from .locks import FileLock
from .store import RunStore, StateDir, makedirs, read_json_dict, write_atomic



def replay(run_id: str, pipeline: str, run_dir) -> RunView:
    """One run's view, read from its folder (RunStore.run is the usual way in)."""
    from pathlib import Path

    run_dir = Path(run_dir)
    return RunStore(run_dir.parent.parent.parent).run_at(pipeline, run_dir)


__all__ = ["replay", "EVENT_FORMAT", "AttemptView", "EventLog", "RunView", "TaskView", "apply", "iso", "now_utc",
           "read_events", "RUN_ID_RE", "Layout", "NotFound", "me", "process_alive", "process_start_time",
           "this_host", "FileLock", "RunStore", "StateDir", "makedirs", "read_json_dict", "write_atomic"]
