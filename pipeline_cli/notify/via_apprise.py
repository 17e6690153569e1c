"""Apprise: imported when a message is sent (and only then), each target's URL added to its
own Apprise object, a message sent to it, and what went wrong read from Apprise's log."""
from __future__ import annotations

import re
import threading
from typing import Any

from ..errors import install_hint
from .decide import DEADLINE, FAILURE, RECOVERY, RETRY, SUCCESS, TICK
from .targets import Target, mask_url

INSTALL = install_hint("notify")


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
            _capture = _capture_log()
        return apprise


def _capture_log():
    """A handler of Apprise's log that keeps each thread's lines (level, message) apart."""
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

    capture = Capture()
    logger = logging.getLogger("apprise")
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False        # nothing of Apprise's reaches pipe's output on its own
    return capture


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
        _add(apprise, t)


def _add(apprise, t: Target) -> None:
    """One target's URL added to its own Apprise object (`t.app`), or `t.error` says why not."""
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
        return
    t.app = app
    try:
        private = app[0].url(privacy=True)
        t.shown = mask_url(private) if private else t.shown
    except Exception:
        pass


def send(t: Target, title: str, body: str, kind: str) -> tuple[bool, str | None]:
    """One message to one prepared target: (delivered, why not)."""
    apprise = _apprise()
    types = {FAILURE: "FAILURE", DEADLINE: "FAILURE", TICK: "FAILURE", RECOVERY: "SUCCESS", SUCCESS: "SUCCESS",
             RETRY: "WARNING"}
    notify_type = getattr(apprise.NotifyType, types.get(kind, "INFO"))
    _capture.lines.pop(threading.get_ident(), None)
    try:
        result = t.app.notify(body=body, title=title, notify_type=notify_type, body_format=apprise.NotifyFormat.TEXT)
        ok = bool(result)           # 1.x: a bool; 2.x: an AppriseResult, truthy on success
        why = None if ok else _why_not_sent(result)
    except Exception as e:
        ok, why = False, f"{type(e).__name__}: {e}"
    finally:
        _capture.lines.pop(threading.get_ident(), None)
    return ok, why


def _why_not_sent(result) -> str:
    """Why a message was not delivered: from this thread's log and, with Apprise 2.x, the result's."""
    lines = list(_capture.lines.get(threading.get_ident(), []))
    logs = getattr(result, "logs", None)      # 2.x: what each service logged, whatever thread sent it
    if callable(logs):
        import logging

        try:
            lines += [(getattr(logging, str(e.level), logging.WARNING), e.message) for e in logs()]
        except Exception:
            pass
    return _why(lines) or "not delivered"
