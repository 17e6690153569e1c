"""Notifications (SPEC section 9): which events a run fires, the message, and its delivery.

    after_run      called once a run's `run_finished` event is on disk: decides (failure once
                   per streak, recovery, success, retry), builds one message per event,
                   delivers it, and appends one `notify` event per delivery to the run's log
    check_deadline called by `pipe tick`: an interval not succeeded `deadline` after its end
                   is reported once (not when its failure was already reported)
    late           the same question, read-only, for `pipe list`
    tick_problems  `pipe tick --notify URL`: a pipeline file that stopped validating is said
                   once per content of the file, on stderr and to URL
    test_command   `pipe notify test PIPELINE`

Delivery goes through Apprise (the `notify` extra), imported only when a message is sent,
and through the block's `run:` command. Every delivery runs in its own thread, bounded by
the block's `timeout` and by 30 s for all of them together; a delivery that fails or does
not answer is recorded (and warned about on stderr), never raised: notifying cannot change
a run's outcome or exit code. What must be remembered between runs (the failure streak,
the intervals already reported, where deadlines are watched from) is the pipeline's
`notify.json` in the state folder, read and written under a lock.
"""
from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from .model import (FAILED, MANUAL, RUN_FAILED, RUN_INTERRUPTED, RUN_SUCCEEDED, Notify, Pipeline)
from .secrets import MASK, Redactor

# Events (keep stable: persisted as the `when` of notify events and in notify.json).
FAILURE, SUCCESS, RECOVERY, RETRY, DEADLINE, TEST, TICK = (
    "failure", "success", "recovery", "retry", "deadline", "test", "tick")
EVENTS = (FAILURE, SUCCESS, RECOVERY, RETRY, DEADLINE)

TOTAL = 30.0               # all deliveries of one run (or tick) together, seconds
LOG_LINES = 20             # of each failed task's log, in the message
LINE_MAX = 400             # characters of one log line in the message
KNOWN_MAX = 500            # intervals remembered as reported
INSTALL = "pip install 'pipe-cli[notify]'"
PROBLEMS_FILE = "tick-problems.json"


# --- what to send ---------------------------------------------------------------------------

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


def _remember_interval(memory: dict, key: str, what: str) -> None:
    known = memory.setdefault("known", {})
    known[key] = what
    while len(known) > KNOWN_MAX:
        known.pop(next(iter(known)))


# --- memory (notify.json) -------------------------------------------------------------------

@contextmanager
def _memory(path: Path) -> Iterator[dict]:
    """A JSON file read, changed and written under an exclusive lock (ticks run at once)."""
    from .state import FileLock, makedirs, write_atomic

    makedirs(path.parent)
    lock = FileLock(path.with_name(path.name + ".lock"))
    lock.acquire(wait=True)
    try:
        try:
            data = json.loads(path.read_bytes())
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        before = json.dumps(data, sort_keys=True)
        yield data
        after = json.dumps(data, sort_keys=True)
        if after != before:
            write_atomic(path, after.encode())
    finally:
        lock.release()


def _read_memory(path: Path) -> dict:
    try:
        data = json.loads(path.read_bytes())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


# --- the environment, targets, masking -------------------------------------------------------

def environment(pipeline: Pipeline) -> dict[str, str]:
    """pipe's environment and the pipeline's dotenv file (the real environment wins)."""
    env = dict(os.environ)
    if pipeline.dotenv:
        from .context import read_dotenv

        for k, v in read_dotenv(Path(pipeline.folder) / pipeline.dotenv).items():
            env.setdefault(k, v)
    return env


def redactor_for(pipeline: Pipeline, env: dict[str, str], extra: tuple[str, ...] = ()) -> Redactor:
    return Redactor([env[s] for s in pipeline.secrets if env.get(s)] + [v for v in extra if len(v) >= 3])


class _Tracking(dict):
    """The `env` of a target template: remembers every value a template reads (to mask it)."""

    def __init__(self, data: dict, seen: list):
        super().__init__(data)
        self.seen = seen

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.seen.append(value)
        return value

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return default


@dataclass
class Target:
    url: str | None          # the rendered URL (None: it could not be rendered)
    shown: str               # what pipe prints and records: secrets and passwords masked
    error: str | None = None
    app: Any = None          # the Apprise object, once added


def render_targets(pipeline: Pipeline, env: dict[str, str], params: dict) -> tuple[list[Target], Redactor]:
    """The block's `to` templates rendered over env, params, secrets and pipeline; and a
    redactor for everything said about them (pipeline secrets and every value read from env)."""
    from . import templates

    n = pipeline.notify
    seen: list[str] = []
    rendered: list[tuple[str, str | None, str | None]] = []
    for text in n.to if n else ():
        ctx = {"env": _Tracking(env, seen), "params": params, "pipeline": pipeline.name,
               "secrets": _Tracking({s: env.get(s, "") for s in pipeline.secrets}, seen)}
        try:
            rendered.append((text, templates.render(text, ctx).strip(), None))
        except templates.TemplateError as e:
            rendered.append((text, None, f"cannot render the target: {e.message}"))
    redactor = redactor_for(pipeline, env, tuple(v for v in seen if isinstance(v, str)))
    targets = []
    for text, url, error in rendered:
        if url is None:
            targets.append(Target(None, redactor.text(text), redactor.text(error or "")))
        elif not url:
            targets.append(Target(None, redactor.text(text), "the target renders to an empty string"))
        else:
            targets.append(Target(url, redactor.text(mask_url(url))))
    return targets, redactor


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@?#]*)@")


def mask_url(url: str) -> str:
    """A URL as pipe shows it: the password of `scheme://user:password@host` is ***, and the
    query (where tokens often travel) is dropped."""
    m = _USERINFO.match(url)
    if m:
        user, sep, _ = m.group(2).partition(":")
        url = m.group(1) + (f"{user}:{MASK}" if sep else user) + "@" + url[m.end():]
    return url.split("?", 1)[0].split("#", 1)[0]


# --- Apprise -----------------------------------------------------------------------------------

class NotInstalled(Exception):
    pass


_apprise_lock = threading.Lock()
_capture: Any = None


def _apprise():
    """Apprise, imported now (and only now): with its log routed to the delivering thread."""
    global _capture
    with _apprise_lock:
        try:
            import apprise
        except ImportError:
            raise NotInstalled(f"Apprise is not installed, so no message can be sent: {INSTALL}") from None
        if _capture is None:
            import logging

            class Capture(logging.Handler):
                def __init__(self):
                    super().__init__(logging.DEBUG)
                    self.lines: dict[int, list[tuple[int, str]]] = {}

                def emit(self, record):
                    try:
                        self.lines.setdefault(threading.get_ident(), []).append((record.levelno, record.getMessage()))
                    except Exception:      # a log line that cannot be formatted is not our problem
                        pass

            _capture = Capture()
            logger = logging.getLogger("apprise")
            logger.addHandler(_capture)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False        # nothing of Apprise's reaches pipe's output on its own
        return apprise


def _asset(apprise):
    try:       # Apprise >= 1.9: keep its persistent storage in memory (it is off for a library anyway)
        return apprise.AppriseAsset(storage_mode="memory")
    except Exception:
        return apprise.AppriseAsset()


def _why(lines: list[tuple[int, str]]) -> str | None:
    """What went wrong, from what Apprise logged in this thread."""
    import logging

    said = [m for level, m in lines if level >= logging.WARNING]
    detail = None
    for _, m in lines:
        found = re.search(r"\[Errno -?\d+\] [^\"')\]\n]+|timed out|SMTP\w*Exception[^\n]*|\b\d{3} [A-Z][^\n]{0,80}", m)
        if found:
            detail = found.group(0).strip()
    text = "; ".join(dict.fromkeys(said))
    if detail and detail not in text:
        text = f"{text} ({detail})" if text else detail
    return text[:500] or None


def prepare(targets: list[Target]) -> None:
    """Add each rendered URL to its own Apprise object (in this thread, before any delivery):
    a URL Apprise cannot use is an error of that target; its shown form is Apprise's own
    privacy form when there is one."""
    live = [t for t in targets if t.url is not None and t.error is None]
    if not live:
        return
    try:
        apprise = _apprise()
    except NotInstalled as e:
        for t in live:
            t.error = str(e)
        return
    for t in live:
        app = apprise.Apprise(asset=_asset(apprise))
        _capture.lines.pop(threading.get_ident(), None)
        try:
            ok = app.add(t.url)
        except Exception as e:       # Apprise raises on some malformed input instead of returning False
            ok, detail = False, str(e)
        else:
            detail = _why(_capture.lines.pop(threading.get_ident(), []))
        if not ok:
            t.error = "not a URL Apprise can send to" + (f": {detail}" if detail else " (unknown scheme or missing fields)")
            continue
        t.app = app
        try:
            private = app[0].url(privacy=True)
            t.shown = mask_url(private) if private else t.shown
        except Exception:
            pass


def _send(t: Target, title: str, body: str, kind: str) -> tuple[bool, str | None]:
    apprise = _apprise()
    types = {FAILURE: "FAILURE", DEADLINE: "FAILURE", TICK: "FAILURE", RECOVERY: "SUCCESS", SUCCESS: "SUCCESS",
             RETRY: "WARNING"}
    notify_type = getattr(apprise.NotifyType, types.get(kind, "INFO"))
    _capture.lines.pop(threading.get_ident(), None)
    try:
        result = t.app.notify(body=body, title=title, notify_type=notify_type, body_format=apprise.NotifyFormat.TEXT)
        ok = bool(result)           # 1.x: a bool; 2.x: an AppriseResult, truthy on success
        why = None
        if not ok:
            lines = list(_capture.lines.get(threading.get_ident(), []))
            logs = getattr(result, "logs", None)      # 2.x: what each service logged, whatever thread sent it
            if callable(logs):
                import logging

                try:
                    lines += [(getattr(logging, str(e.level), logging.WARNING), e.message) for e in logs()]
                except Exception:
                    pass
            why = _why(lines) or "not delivered"
    except Exception as e:
        ok, why = False, f"{type(e).__name__}: {e}"
    finally:
        _capture.lines.pop(threading.get_ident(), None)
    return ok, why


# --- the command ---------------------------------------------------------------------------------

def _run_command(pipeline: Pipeline, command, env: dict[str, str], body: str, timeout: float,
                 log: Path | None, redactor: Redactor) -> tuple[bool, str | None]:
    import signal
    import subprocess

    from .executors.process import shell_argv

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
        why = f"killed after {_seconds(timeout)} (the notify timeout)"
    text = redactor.text(out.decode("utf-8", "replace"))
    if log is not None:
        try:
            log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError:
            pass
    if why is None and proc.returncode == 0:
        return True, None
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    why = why or f"exit code {proc.returncode}"
    return False, why + (f": {last[:300]}" if last else "")


# --- delivery -------------------------------------------------------------------------------------

@dataclass
class Message:
    when: str
    title: str
    body: str
    command_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    when: str
    target: str
    ok: bool
    error: str | None
    title: str


def deliver(pipeline: Pipeline, messages: list[Message], targets: list[Target], redactor: Redactor,
            timeout: float, log_dir: Path | None = None) -> list[Result]:
    """Send every message to every target, and run the block's command once per message.
    One thread per target (its messages in order) and per command run; all of them
    together end within min(timeout, 30 s): one that has not finished by then is recorded
    as timed out and left to finish (or not) on its own."""
    n = pipeline.notify
    budget = min(timeout, TOTAL)
    results: dict[tuple[int, int], tuple[bool, str | None]] = {}
    jobs: list[threading.Thread] = []
    rows: list[tuple[int, int, str]] = []     # (message index, target index, shown)

    if any(t.error is None and t.url is not None for t in targets):
        prepare(targets)

    def to_target(ti: int, t: Target) -> None:
        for mi, m in enumerate(messages):
            try:
                results[(mi, ti)] = _send(t, m.title, m.body, m.when)
            except BaseException as e:        # a thread's error is a result, never a traceback
                results[(mi, ti)] = (False, f"{type(e).__name__}: {e}")

    for ti, t in enumerate(targets):
        for mi in range(len(messages)):
            rows.append((mi, ti, t.shown))
            if t.error is not None:
                results[(mi, ti)] = (False, t.error)
        if t.error is None:
            jobs.append(threading.Thread(target=to_target, args=(ti, t), daemon=True, name=f"pipe-notify-{ti}"))
    if n is not None and n.run is not None:
        shown = "run: " + (n.run if isinstance(n.run, str) else " ".join(n.run))
        ti = len(targets)
        for mi, m in enumerate(messages):
            rows.append((mi, ti, redactor.text(shown)))

            def command(mi=mi, m=m) -> None:
                log = log_dir / f"{m.when}.log" if log_dir is not None else None
                try:
                    # killed a little before the end of the budget, so that its end is recorded in it
                    results[(mi, ti)] = _run_command(pipeline, n.run, m.command_env, m.body, budget * 0.9, log,
                                                     redactor)
                except BaseException as e:
                    results[(mi, ti)] = (False, f"{type(e).__name__}: {e}")

            jobs.append(threading.Thread(target=command, daemon=True, name=f"pipe-notify-run-{mi}"))
    end = time.monotonic() + budget
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(max(0.0, end - time.monotonic()))
    snapshot = dict(results)
    out = []
    for mi, ti, shown in rows:
        ok, error = snapshot.get((mi, ti), (False, f"no answer within {_seconds(budget)} (timed out)"))
        out.append(Result(messages[mi].when, shown, ok, redactor.text(error) if error else None,
                          redactor.text(messages[mi].title)))
    return out


def _seconds(s: float) -> str:
    return f"{s:g}s"


def _warn(text: str) -> None:
    try:
        sys.stderr.write(f"pipe: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _warn_failures(name: str, results: list[Result], what: str = "") -> None:
    for r in results:
        if not r.ok:
            _warn(f"{name}: the {r.when} message{what} was not delivered to {r.target}: {r.error}")


# --- messages ---------------------------------------------------------------------------------------

def _date(start: str | None, end: str | None = None) -> str:
    """The logical date as a person reads it: 2026-11-22, or 2026-11-22 05:00 for an interval
    shorter than a day (or one that does not start at midnight)."""
    if not start:
        return "?"
    try:
        t = datetime.fromisoformat(start)
        short = end is not None and datetime.fromisoformat(end) - t < timedelta(days=1)
    except ValueError:
        return start
    return t.strftime("%Y-%m-%d %H:%M") if short or (t.hour, t.minute) != (0, 0) else t.strftime("%Y-%m-%d")


def run_url(pipeline: str, run_id: str) -> str | None:
    base = os.environ.get("PIPE_BASE_URL", "").strip().rstrip("/")
    return f"{base}/pipelines/{pipeline}/runs/{run_id}" if base else None


def _failed(view) -> list:
    failed = [t for t in view.tasks.values() if t.state == FAILED]
    return sorted(failed, key=lambda t: t.finished or "")


def _state_option(state_root: Path) -> str:
    """`--state-dir X` when the state folder is not the default one of the current folder."""
    try:
        default = (Path.cwd() / ".pipe").resolve()
    except OSError:
        default = None
    root = Path(state_root).resolve()
    return "" if root == default else f" --state-dir {_quote(str(root))}"


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _tail(path: Path, lines: int = LOG_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            data = f.read()
    except OSError:
        return []
    out = data.decode("utf-8", "replace").splitlines()[-lines:]
    return [line if len(line) <= LINE_MAX else line[:LINE_MAX] + " [...]" for line in out]


def run_message(when: str, pipeline: Pipeline, view, state_root: Path, redactor: Redactor,
                memory: dict | None = None) -> tuple[str, str]:
    """(title, body) of a run's message. The title is what a phone's lock screen shows:
    `[pipe] weather 2026-11-22 failed: fetch`."""
    name, date = view.pipeline, _date(view.interval_start or view.logical_date, view.interval_end)
    failed = _failed(view)
    retried = [t for t in view.tasks.values() if t.attempt > 1]
    if when == FAILURE:
        if view.state == RUN_INTERRUPTED:
            title = f"[pipe] {name} {date} interrupted"
        elif failed:
            more = f" (+{len(failed) - 1} more)" if len(failed) > 1 else ""
            title = f"[pipe] {name} {date} failed: {failed[0].id}{more}"
        else:
            title = f"[pipe] {name} {date} failed"
    elif when == RECOVERY:
        title = f"[pipe] {name} {date} recovered"
    elif when == RETRY:
        title = f"[pipe] {name} {date} {view.state}, retried: {', '.join(t.id for t in retried) or '-'}"
    else:
        title = f"[pipe] {name} {date} {view.state}"
    counts: dict[str, int] = {}
    for t in view.tasks.values():
        counts[t.state] = counts.get(t.state, 0) + 1
    lines = [
        f"Pipeline:     {name} ({pipeline.path})",
        f"Run:          {view.run_id} ({view.kind})",
        f"Logical date: {view.logical_date}",
        f"Interval:     {view.interval_start} to {view.interval_end}",
        f"State:        {view.state}",
        f"Tasks:        {', '.join(f'{k} {s}' for s, k in counts.items()) or 'none'}",
    ]
    if view.duration is not None:
        lines.append(f"Duration:     {view.duration:.1f}s")
    url = run_url(name, view.run_id)
    if url:
        lines.append(f"Page:         {url}")
    if when == RECOVERY and memory and memory.get("failing_since"):
        since = memory["failing_since"]
        lines.append(f"Failing since: run {since.get('run_id')} (logical date {since.get('logical_date')})")
    opt = _state_option(state_root)
    if when in (FAILURE,) or (when == RETRY and failed):
        for t in failed:
            detail = ", ".join(x for x in (f"attempt {t.attempt}", f"exit code {t.exit_code}" if t.exit_code is not None
                                           else "") if x)
            reason = "" if not t.reason or t.reason == f"exit code {t.exit_code}" else t.reason
            lines += ["", f"{t.id} failed ({detail})" + (f": {reason}" if reason else "")]
            tail = _tail(view.dir / "logs" / f"{t.id}.{t.attempt}.log")
            if tail:
                lines.append(f"  last {len(tail)} line(s) of its log:")
                lines += [f"  | {line}" for line in tail]
            lines.append(f"  All of it: pipe logs {name} {t.id} --run {view.run_id}{opt}")
    if when == RETRY:
        lines.append("")
        for t in retried:
            lines.append(f"{t.id}: {t.state} after {t.attempt} attempts")
    if view.state == RUN_INTERRUPTED:
        lines += ["", f"Resume it: pipe resume {name} {view.run_id}{opt}"]
    lines += ["", f"Status: pipe status {name} --run {view.run_id}{opt}"]
    return redactor.text(title), redactor.text("\n".join(lines) + "\n")


def command_env(base: dict[str, str], view, when: str, title: str) -> dict[str, str]:
    """The environment of the block's `run:` command: pipe's (and the dotenv file's), the
    run's PIPE_* variables, PIPE_RUN_STATE, PIPE_FAILED_TASKS and the message's event and title."""
    env = dict(base)
    env.update({
        "PIPE_PIPELINE": view.pipeline, "PIPE_RUN_ID": view.run_id or "", "PIPE_RUN_STATE": view.state or "",
        "PIPE_RUN_KIND": view.kind or "", "PIPE_NOTIFY_EVENT": when, "PIPE_NOTIFY_TITLE": title,
        "PIPE_FAILED_TASKS": ",".join(t.id for t in _failed(view)),
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


# --- after a run ---------------------------------------------------------------------------------------

def after_run(pipeline: Pipeline, view, state, kind: str) -> list[Result]:
    """Notify about a run whose final event is on disk. Never raises; never takes more
    than 30 s; the caller's outcome and exit code are the run's, whatever happens here."""
    n = pipeline.notify
    if n is None or view.state not in (RUN_SUCCEEDED, RUN_FAILED, RUN_INTERRUPTED):
        return []
    if kind == MANUAL and not n.manual:
        return []
    try:
        return _after_run(pipeline, view, state)
    except KeyboardInterrupt:
        _warn(f"{pipeline.name}: notifications of run {view.run_id} cancelled (interrupted)")
    except Exception as e:      # notifying must never change the run's outcome
        try:
            env = environment(pipeline)
            text = redactor_for(pipeline, env).text(f"{type(e).__name__}: {e}")
        except Exception:
            text = type(e).__name__
        _warn(f"{pipeline.name}: notifications of run {view.run_id} failed: {text}")
    return []


def _retried(view) -> bool:
    """Whether a task of the run's latest (re)start was retried."""
    from .state import read_events

    events, _ = read_events(view.dir / "events.jsonl")
    latest = 0
    for i, e in enumerate(events):
        if e.get("event") in ("run_started", "run_resumed"):
            latest = i
    return any(e.get("event") == "task" and e.get("state") == "retrying" for e in events[latest:])


def _interval_key(view) -> str | None:
    try:
        return datetime.fromisoformat(view.interval_start).astimezone(timezone.utc).isoformat()
    except (TypeError, ValueError):
        return None


def _after_run(pipeline: Pipeline, view, state) -> list[Result]:
    from .state import EventLog

    n = pipeline.notify
    retried = RETRY in n.when and _retried(view)
    memory_path = state.layout.notify_memory(pipeline.name)
    with _memory(memory_path) as memory:
        was = dict(memory)
        events = decide(n, memory, view.state, retried)
        key = _interval_key(view)
        if view.state != RUN_SUCCEEDED:
            if not was.get("failing"):
                memory["failing_since"] = {"run_id": view.run_id, "logical_date": view.logical_date}
            if key and memory.get("streak_notified"):
                _remember_interval(memory, key, FAILURE)    # its deadline is the same problem
    if not events:
        return []
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, view.params or {})
    messages = []
    for when in events:
        title, body = run_message(when, pipeline, view, state.root, redactor, was)
        messages.append(Message(when, title, body, command_env(env, view, when, title)))
    results = deliver(pipeline, messages, targets, redactor, n.timeout, log_dir=view.dir / "notify")
    log = EventLog(view.dir / "events.jsonl", redactor.value)
    try:
        for r in results:
            log.append("notify", when=r.when, target=r.target, ok=r.ok, error=r.error, title=r.title)
    finally:
        log.close()
    _warn_failures(pipeline.name, results, f" of run {view.run_id}")
    return results


# --- deadlines -------------------------------------------------------------------------------------------

def late(pipeline: Pipeline, state, now: datetime, memory: dict | None = None) -> dict | None:
    """The latest interval whose deadline has passed by `now` and that has not succeeded, or
    None. Deadlines are watched from the first tick that saw the block (its `deadline_from`);
    before any tick, from the pipeline's first scheduled run."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return None
    from .schedule import Schedule

    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    deadline = timedelta(seconds=n.deadline)
    interval = sched.latest_complete(now - deadline)
    if interval is None:
        return None
    memory = memory if memory is not None else _read_memory(state.layout.notify_memory(pipeline.name))
    ledger = state.ledger(pipeline.name)
    watched_from = memory.get("deadline_from") or (ledger[0].get("time") if ledger else None)
    due_at = interval.end + deadline
    if watched_from is None or due_at < datetime.fromisoformat(watched_from):
        return None
    key = interval.key
    runs = []
    for entry in ledger:
        try:
            same = datetime.fromisoformat(entry["start"]).astimezone(timezone.utc).isoformat() == key
        except ValueError:
            same = False
        if same:
            try:
                runs.append(state.run(pipeline.name, entry["run_id"]))
            except Exception:
                continue
    if any(r.state == RUN_SUCCEEDED for r in runs):
        return None
    last = runs[-1] if runs else None
    return {"interval_start": interval.start.isoformat(), "interval_end": interval.end.isoformat(),
            "deadline": due_at.isoformat(), "key": key,
            "run_id": last.run_id if last else None, "state": last.state if last else None}


def next_check(pipeline: Pipeline, now: datetime) -> datetime | None:
    """The next moment a deadline of this pipeline passes (tick's "nothing due" cache ends there)."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return None
    from .schedule import Schedule

    sched = Schedule(pipeline.schedule, pipeline.timezone, pipeline.start_date)
    deadline = timedelta(seconds=n.deadline)
    return sched.interval_for(now - deadline).end + deadline


def check_deadline(pipeline: Pipeline, state, now: datetime) -> list[Result]:
    """For `pipe tick`: report a late interval once (never one whose failure was reported)."""
    n = pipeline.notify
    if n is None or n.deadline is None or not pipeline.schedule:
        return []
    try:
        return _check_deadline(pipeline, state, now)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        _warn(f"{pipeline.name}: the deadline check failed: {type(e).__name__}: {e}")
        return []


def _check_deadline(pipeline: Pipeline, state, now: datetime) -> list[Result]:
    from .state import EventLog, makedirs

    n = pipeline.notify
    with _memory(state.layout.notify_memory(pipeline.name)) as memory:
        memory.setdefault("deadline_from", now.astimezone(timezone.utc).isoformat())
        info = late(pipeline, state, now, memory)
        if info is None or info["key"] in memory.get("known", {}):
            return []
        _remember_interval(memory, info["key"], DEADLINE)
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, dict(pipeline.params))
    name, date = pipeline.name, _date(info["interval_start"], info["interval_end"])
    title = f"[pipe] {name} {date} late: not succeeded {_duration(n.deadline)} after its interval ended"
    lines = [f"Pipeline:     {name} ({pipeline.path})",
             f"Interval:     {info['interval_start']} to {info['interval_end']}",
             f"Deadline:     {info['deadline']} ({_duration(n.deadline)} after the interval's end)",
             f"Now:          {now.isoformat()}"]
    opt = _state_option(state.root)
    view = None
    if info["run_id"]:
        view = state.run(pipeline.name, info["run_id"])
        lines.append(f"Run:          {info['run_id']} ({info['state']})")
        url = run_url(name, info["run_id"])
        if url:
            lines.append(f"Page:         {url}")
        lines += ["", f"Status: pipe status {name} --run {info['run_id']}{opt}"]
    else:
        lines += ["Run:          none: the interval has not been run (is `pipe tick` in cron, and is the "
                  "pipeline's lock held by a run that never ends?)", "", f"Status: pipe list{opt}"]
    body = "\n".join(lines) + "\n"
    from types import SimpleNamespace

    shown = view or SimpleNamespace(pipeline=name, run_id="", state="late", kind="scheduled", tasks={},
                                    logical_date=info["interval_start"], interval_start=info["interval_start"],
                                    interval_end=info["interval_end"], params=dict(pipeline.params), dir=None)
    env_for_command = command_env(env, shown, DEADLINE, redactor.text(title))
    env_for_command["PIPE_RUN_STATE"] = info["state"] or "none"
    message = Message(DEADLINE, redactor.text(title), redactor.text(body), env_for_command)
    log_dir = (view.dir if view else makedirs(state.layout.pipeline_dir(pipeline.name))) / "notify"
    results = deliver(pipeline, [message], targets, redactor, n.timeout, log_dir=log_dir)
    events = view.dir / "events.jsonl" if view else state.layout.pipeline_dir(pipeline.name) / "notify.jsonl"
    log = EventLog(events, redactor.value)
    try:
        for r in results:
            log.append("notify", when=r.when, target=r.target, ok=r.ok, error=r.error, title=r.title,
                       interval_start=info["interval_start"])
    finally:
        log.close()
    _warn_failures(name, results)
    return results


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s % 86400 == 0:
        return f"{s // 86400}d"
    if s % 3600 == 0:
        return f"{s // 3600}h"
    if s % 60 == 0:
        return f"{s // 60}m"
    return f"{seconds:g}s"


# --- tick's own problems ------------------------------------------------------------------------------------

def tick_problems(state_root: Path, invalid: list, url: str | None, dry_run: bool = False) -> list:
    """Of the invalid pipeline files (SpecErrors), those whose content has not been reported
    before; each is sent to `url` (`pipe tick --notify`) once. Files valid again (or gone)
    are forgotten, so a file that breaks again is said again."""
    from .spec import file_digest

    if dry_run:
        return list(invalid)
    new = []
    with _memory(Path(state_root) / PROBLEMS_FILE) as memory:
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
    import socket

    targets = [Target(url, mask_url(url))]
    for error in errors:
        file = error.problems[0].file
        title = f"[pipe] tick: {Path(file).name} is invalid; its pipeline is not scheduled"
        body = (f"pipe tick on {socket.gethostname()} skips {file} until it is valid again:\n\n"
                + "\n".join(error.lines()) + "\n\nCheck it with: pipe validate " + _quote(file) + "\n")
        fake = Pipeline(name="tick", path=file, folder=str(Path(file).parent), tasks={})
        results = deliver(fake, [Message(TICK, title, body)], targets, Redactor(), 10.0)
        for r in results:
            if not r.ok:
                _warn(f"tick: the message about {file} was not delivered to {r.target}: {r.error}")


# --- pipe notify test --------------------------------------------------------------------------------------------

def test_command(g, pipeline: str) -> int:
    """Send a test message to every target of the pipeline's block (and run its command):
    one line per target, `ok` or why not; exit 1 when one failed."""
    from .commands import load
    from .errors import EXIT_FAILED, EXIT_OK, UsageError

    pipeline, g = load(g, pipeline)
    n = pipeline.notify
    if n is None:
        raise UsageError(f"pipeline {pipeline.name!r} has no `notify:` block ({pipeline.path})")
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, dict(pipeline.params))
    when = ", ".join(n.when) + (f"; deadline {_duration(n.deadline)}" if n.deadline is not None else "")
    title = f"[pipe] {pipeline.name}: test message"
    body = (f"A test message from pipe for pipeline {pipeline.name} ({pipeline.path}).\n"
            f"It notifies about: {when}"
            f"{'; manual runs too' if n.manual else ''}{'; every failure' if n.repeat else ''}.\n"
            "If you read this, delivery to this target works.\n")
    from types import SimpleNamespace

    view = SimpleNamespace(pipeline=pipeline.name, run_id="", state="test", kind="test", tasks={}, logical_date=None,
                           interval_start=None, interval_end=None, params=dict(pipeline.params), dir=None)
    message = Message(TEST, title, body, command_env(env, view, TEST, title))
    results = deliver(pipeline, [message], targets, redactor, n.timeout)
    for r in results:
        print(f"{'ok' if r.ok else 'FAILED':<7} {r.target}" + ("" if r.ok else f": {r.error}"), flush=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
