"""The block's `run:` command: its environment (the run's PIPE_* variables and the message's),
and one run of it with the message on stdin, killed (its process group) at its timeout."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..model import Pipeline
from ..redact import Redactor
from .message import failed_tasks, run_url, seconds


def command_env(base: dict[str, str], view, when: str, title: str) -> dict[str, str]:
    """The environment of the block's `run:` command: pipe's (and the dotenv file's), the
    run's PIPE_* variables, PIPE_RUN_STATE, PIPE_FAILED_TASKS and the message's event and title."""
    env = dict(base)
    env.update({
        "PIPE_PIPELINE": view.pipeline, "PIPE_RUN_ID": view.run_id or "", "PIPE_RUN_STATE": view.state or "",
        "PIPE_RUN_KIND": view.kind or "", "PIPE_NOTIFY_EVENT": when, "PIPE_NOTIFY_TITLE": title,
        "PIPE_FAILED_TASKS": ",".join(t.id for t in failed_tasks(view)),
    })
    if view.logical_date:
        env.update({"PIPE_DS": view.logical_date[:10], "PIPE_LOGICAL_DATE": view.logical_date,
                    "PIPE_DATA_INTERVAL_START": view.interval_start or "",
                    "PIPE_DATA_INTERVAL_END": view.interval_end or ""})
    for k, v in (view.params or {}).items():
        env[f"PIPE_PARAM_{str(k).upper()}"] = v if isinstance(v, str) else json.dumps(v)
    url = run_url(view.pipeline, view.run_id) if view.run_id else None
    if url:
        env["PIPE_RUN_URL"] = url
    if view.dir is not None:
        env["PIPE_RUN_DIR"] = str(view.dir)
    return env


def run_command(pipeline: Pipeline, command, env: dict[str, str], body: str, timeout: float,
                log: Path | None, redactor: Redactor) -> tuple[bool, str | None]:
    """Run the command once with `body` on stdin: (succeeded, why not). Its output (masked)
    is appended to `log`; the last line of it says why, with the exit code."""
    import signal
    import subprocess

    from ..attempt import shell_argv

    argv = shell_argv(command, pipeline.shell) if isinstance(command, str) else list(command)
    try:
        proc = subprocess.Popen(argv, cwd=pipeline.folder, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as e:
        return False, f"cannot start it: {e.strerror or e}"
    try:
        out, _ = proc.communicate(body.encode(), timeout=timeout)
        why = None
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, _ = proc.communicate()
        why = f"killed after {seconds(timeout)} (the notify timeout)"
    text = redactor.text(out.decode("utf-8", "replace"))
    if log is not None:
        _append(log, text)
    if why is None and proc.returncode == 0:
        return True, None
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    why = why or f"exit code {proc.returncode}"
    return False, why + (f": {last[:300]}" if last else "")


def _append(log: Path, text: str) -> None:
    """The command's output at the end of its log (private to the user); a failure to write it is ignored."""
    try:
        log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError:
        pass
