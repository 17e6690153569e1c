"""What the pages do with --actions: trigger a run, resume a run (or rerun a task and its
downstream), cancel a running run. Each goes through pipe's own commands, in a `pipe`
process of its own (a run outlives the request that started it, and is stopped as a person
stops it: SIGINT, Ctrl-C).

A form's values are checked here first, with the commands' own parsers, so that a bad value
is said on the page with the form kept; whatever the started `pipe` itself refuses is said
the same way (its one-line message).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import PipeError, UsageError

START_WAIT = 15.0          # s: how long a started run has to write its first event
CANCEL_WAIT = 20.0         # s: how long a cancelled run has to stop its tasks and say so


@dataclass
class TriggerForm:
    """A trigger form as the page sent it, kept to be shown again with what is wrong."""

    date: str = ""
    params: dict[str, str] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)
    from_: list[str] = field(default_factory=list)
    force: bool = False

    @classmethod
    def read(cls, p, form: dict[str, Any]) -> "TriggerForm":
        def ids(key: str) -> list[str]:
            raw = form.get(key) or []
            values = raw if isinstance(raw, list) else [raw]
            return [t.strip() for v in values for t in str(v).split(",") if t.strip()]

        params = {}
        for key in p.params:
            value = form.get(f"param.{key}")
            if isinstance(value, list):
                value = value[-1] if value else None
            if value is not None:
                params[key] = value
        return cls(date=str(_one(form.get("date"))).strip(), params=params, only=ids("only"), from_=ids("from"),
                   force=_one(form.get("force")) in ("1", "on", "true"))


def _one(value: Any) -> Any:
    if isinstance(value, list):
        return value[-1] if value else ""
    return "" if value is None else value


def check_trigger(p, f: TriggerForm) -> list[str]:
    """The `pipe run` arguments of a form, or a UsageError saying what is wrong in the page's
    words (the field's label, the value given, what is expected)."""
    from .. import commands
    from ..run import check_params

    args = ["run", p.path]
    if f.date:
        try:
            commands.parse_date(f.date, p.timezone, "date")
        except UsageError as e:
            raise UsageError(f"Date {f.date!r}: {str(e).removeprefix('date: ')} (for example 2026-09-01 or "
                             f"2026-09-01T12:00)") from None
        args += ["--date", f.date]
    given = {}
    for key, value in f.params.items():
        default = p.params.get(key)
        if isinstance(default, bool):
            if value.lower() not in ("true", "false"):
                raise UsageError(f"Param {key} {value!r}: expected true or false, as its default {str(default).lower()}")
        elif isinstance(default, (int, float)):
            try:
                int(value) if isinstance(default, int) else float(value)
            except ValueError:
                kind = "a whole number" if isinstance(default, int) else "a number"
                raise UsageError(f"Param {key} {value!r}: expected {kind}, as its default {default}") from None
        if value != ("" if default is None else _text(default)) or default is None:
            given[key] = value
    try:
        check_params(p, given, "fill in")
    except UsageError as e:
        raise UsageError(str(e).replace("-p ", "param ")) from None
    for label, ids in (("Only", f.only), ("From", f.from_)):
        for tid in ids:
            if tid not in p.tasks:
                import difflib

                close = difflib.get_close_matches(tid, list(p.tasks), 1)
                hint = f": did you mean {close[0]}?" if close else f" (its tasks: {', '.join(list(p.tasks)[:12])})"
                raise UsageError(f"{label}: {p.name} has no task {tid!r}{hint}")
    for key, value in given.items():
        args += ["-p", f"{key}={value}"]
    if f.only:
        args += ["--only", ",".join(f.only)]
    if f.from_:
        args += ["--from", ",".join(f.from_)]
    if f.force:
        args.append("--force")
    return args


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


class Launcher:
    """Starts `pipe` commands over the server's folders, as the person who started pipe serve."""

    def __init__(self, config):
        self.config = config

    def spawn(self, args: list[str]) -> tuple[subprocess.Popen, Any]:
        env = {k: v for k, v in os.environ.items() if k != "PIPE_SERVE_TOKEN"}
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--pipelines-dir",
                                 str(self.config.pipelines_dir), "--state-dir", str(self.config.state_dir), *args],
                                cwd=self.config.cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
        threading.Thread(target=proc.wait, daemon=True).start()      # reaped whenever it ends
        return proc, err

    def dry_run(self, args: list[str]) -> tuple[int, str]:
        """`pipe run --dry-run`: what a run would do, in pipe's own words."""
        cmd = [sys.executable, "-m", "pipeline_cli", "--pipelines-dir", str(self.config.pipelines_dir),
               "--state-dir", str(self.config.state_dir), *args, "--dry-run"]
        env = {k: v for k, v in os.environ.items() if k != "PIPE_SERVE_TOKEN"}
        env["NO_COLOR"] = "1"
        try:
            done = subprocess.run(cmd, cwd=self.config.cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return 1, "the dry run took longer than 60 s"
        return done.returncode, (done.stdout + done.stderr).strip()

    def start_run(self, h, name: str, args: list[str]) -> str:
        """Start `pipe run` and learn its run id from the run it writes: the run whose first
        event names this process (its pid) as the `pipe` that runs it. Two runs started at
        once each find their own."""
        before = set(h.run_ids(name))
        proc, err = self.spawn(args)
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            for rid in reversed(h.run_ids(name)):
                if rid in before:
                    continue
                try:
                    view = h.run(name, rid).view
                except PipeError:
                    continue
                if view.started is not None and view.pid == proc.pid:
                    return rid
            if proc.poll() is not None:
                # It ended: its run (if it wrote one) says so by its pid; else its message.
                for rid in reversed(h.run_ids(name)):
                    if rid not in before:
                        try:
                            if h.run(name, rid).view.pid == proc.pid:
                                return rid
                        except PipeError:
                            continue
                raise UsageError(failure(proc, err))
            time.sleep(0.05)
        raise UsageError(f"the run did not start within {START_WAIT:.0f} s")

    def resume(self, h, name: str, run_id: str, from_: list[str] | None = None) -> None:
        """`pipe resume NAME RUN_ID [--from T]`: returns once the run says it has resumed."""
        from ..state.layout import events_file

        run = h.run(name, run_id)
        if run.state == "running":
            raise UsageError(f"run {run_id} is still running")
        if from_:
            unknown = [t for t in from_ if t not in run.view.tasks]
            if unknown:
                raise UsageError(f"run {run_id} has no task {unknown[0]!r}")
        path = events_file(run.view.dir)
        size = path.stat().st_size
        proc, err = self.spawn(["resume", name, run_id, *(["--from", ",".join(from_)] if from_ else [])])
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if path.stat().st_size != size:
                return
            if proc.poll() is not None:
                if proc.returncode in (0, 1):
                    return
                raise UsageError(failure(proc, err))
            time.sleep(0.05)
        raise UsageError(f"the resume did not start within {START_WAIT:.0f} s")


def cancel(h, name: str, run_id: str) -> str:
    """Stop a running run as Ctrl-C does: SIGINT to its `pipe`, which stops its tasks' process
    groups, records them cancelled and the run interrupted. Only a `pipe` of this host can be
    told (another host's run is stopped there). Returns what happened, in words."""
    from ..state.liveness import process_alive, this_host

    run = h.run(name, run_id)
    view = run.view
    if view.ended or run.state != "running":
        raise UsageError(f"run {run_id} is not running (it is {run.state}): nothing to cancel")
    if view.host and view.host != this_host():
        raise UsageError(f"run {run_id} runs on {view.host}: its pipe can only be stopped there "
                         f"(Ctrl-C, or kill -INT {view.pid})")
    if not view.pid:
        raise UsageError(f"run {run_id} is still starting: try again in a moment")
    if not process_alive(view.pid, view.pid_start):
        raise UsageError(f"run {run_id}: its pipe (pid {view.pid}) has already stopped")
    try:
        os.kill(view.pid, signal.SIGINT)
    except ProcessLookupError:
        raise UsageError(f"run {run_id}: its pipe (pid {view.pid}) has already stopped") from None
    except PermissionError:
        raise UsageError(f"run {run_id}: its pipe (pid {view.pid}) belongs to another user; "
                         "pipe serve cannot stop it") from None
    deadline = time.monotonic() + CANCEL_WAIT
    while time.monotonic() < deadline:
        run = h.run(name, run_id)
        if run.state != "running":
            return f"run {run_id} was cancelled: it is {run.state}"
        time.sleep(0.1)
    return f"run {run_id} was told to stop (SIGINT to pid {view.pid}); it has not finished stopping yet"


def failure(proc: subprocess.Popen, err) -> str:
    err.seek(0)
    text = err.read().decode("utf-8", "replace").strip()
    lines = [line.removeprefix("error: ").removeprefix("pipe: ") for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-5:]) or f"pipe exited with code {proc.returncode}"
