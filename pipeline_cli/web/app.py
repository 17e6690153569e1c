"""`pipe serve`: the web UI over the state folder (Starlette + uvicorn + Jinja2).

Pages are rendered here with their links and forms in the HTML; static/live.js only adds
live updates through one server-sent-events stream per page (`/live?...`). Everything is
read through data.History. Imported only by `pipe serve` (the `web` extra).
"""
from __future__ import annotations

import asyncio
import base64
import codecs
import functools
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse,
                                 Response, StreamingResponse)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import PipeError, UsageError
from ..state import RUN_ID_RE
from . import ansi, svg
from .dag_layout import layout as dag_layout
from .data import TASK_RE, History, NotFound

HERE = Path(__file__).parent
GRID_RUNS = 100          # the grid's columns (the page shows the newest that fit, the rest scroll)
GRID_MAX = 1000
LIVE_RUNS = 25
SQUARES = 12
DAG_MAX_TASKS = 2000
GANTT_MAX_ROWS = 1000
LOG_PAGE_BYTES = 512 * 1024
FAILED_TAILS = 50          # failed tasks whose log's last lines the run page shows
TAIL_LINES = 5
RERUN_BUTTONS = 2000     # a rerun button per task up to this many tasks
POLL = 0.5
STATE_ICONS = {"succeeded": "✓", "failed": "✗", "running": "▶", "retrying": "↻", "skipped": "–",
               "upstream_failed": "⇡", "pending": "○", "cancelled": "⊘", "interrupted": "!", "waiting": "⧗"}
# The sign-in page's own style, inline (before signing in no other file may be read: every
# request needs the token), allowed by its hash alone.
SIGNIN_CSS = (HERE / "static" / "signin.css").read_text(encoding="utf-8")
_SIGNIN_HASH = base64.b64encode(hashlib.sha256(SIGNIN_CSS.encode()).digest()).decode()
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self' 'sha256-"
                                 + _SIGNIN_HASH.encode() + b"'; script-src 'self'; "
                                 b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
COOKIE = "pipe_session"
SESSION_SECONDS = 12 * 3600          # a sign-in lasts 12 hours (or until signed out, or the server restarts)


class Config:
    def __init__(self, g, token: str | None = None, actions: bool = False, cwd: str | None = None,
                 host: str | None = None):
        self.g = g                                             # commands.Globals
        self.host = _host_name(host) if host else None         # the name it was told to listen on
        self.pipelines_dir = Path(g.pipelines_dir).absolute()
        self.state_dir = Path(g.state_dir).absolute()
        self.token = token or None
        self.actions = actions
        self.cwd = cwd or os.getcwd()
        self.csrf = secrets.token_urlsafe(32)
        # Sessions of the sign-in form: signed with a key of this server process (a restart
        # signs everybody out), each with its expiry; a signed-out one is refused until then.
        self.session_key = hmac.new((token or "").encode(), secrets.token_bytes(32), hashlib.sha256).digest()
        self.session_seconds = SESSION_SECONDS
        self.revoked: set[str] = set()

    def new_session(self) -> str:
        expiry = int(time.time()) + self.session_seconds
        nonce = secrets.token_urlsafe(12)
        return f"{expiry}.{nonce}.{self._mac(expiry, nonce)}"

    def _mac(self, expiry: int, nonce: str) -> str:
        return hmac.new(self.session_key, f"{expiry}.{nonce}".encode(), hashlib.sha256).hexdigest()

    def session_ok(self, value: str) -> bool:
        expiry, _, rest = value.partition(".")
        nonce, _, mac = rest.partition(".")
        if not expiry.isdigit() or not nonce or not mac:
            return False
        if not hmac.compare_digest(mac.encode(), self._mac(int(expiry), nonce).encode()):
            return False
        return int(expiry) > time.time() and nonce not in self.revoked

    def revoke(self, value: str) -> None:
        if self.session_ok(value):
            self.revoked.add(value.split(".")[1])


# --- security: token, headers ------------------------------------------------------------

class Guard:
    """ASGI middleware: the token check (when a token is set) and the security headers."""

    OPEN = ("/signin",)

    def __init__(self, app, config: Config):
        self.app = app
        self.config = config

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        began = time.perf_counter()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                # Server-Timing: the server's own time up to the response (benchmarks read it).
                took = f"app;dur={(time.perf_counter() - began) * 1000:.1f}".encode()
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS + [(b"server-timing", took)]
            await send(message)

        if not self.config.token and not _loopback_host(scope, self.config):
            # Without a token only loopback names are served: a web page elsewhere cannot
            # point a name of its own at 127.0.0.1 (DNS rebinding) and read or act here.
            response = PlainTextResponse("unexpected Host header: use http://127.0.0.1:PORT/ "
                                         "(or start pipe serve with a token)", status_code=421)
            return await response(scope, receive, send_with_headers)
        if self.config.token and scope["path"] not in self.OPEN and not self._authorised(scope):
            if scope["path"].startswith(("/api/", "/live")):
                response: Response = JSONResponse({"error": "a token is required: Authorization: Bearer TOKEN"},
                                                  status_code=401, headers={"WWW-Authenticate": "Bearer"})
            else:
                response = HTMLResponse(render("signin.html", None, config=self.config, next=_local(scope),
                                               failed=False),
                                        status_code=401, headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send_with_headers)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette re-raises after its error handler has answered (500, one line on
            # stderr): nothing more to say, and no traceback in the server's output.
            pass

    def _authorised(self, scope) -> bool:
        token = self.config.token or ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                kind, _, given = value.decode("latin-1").partition(" ")
                if kind.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
                    return True
            elif name == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == COOKIE and self.config.session_ok(v):
                        return True
        return False


def _loopback_host(scope, config: Config) -> bool:
    """The request's Host names this machine: a loopback address (127.0.0.0/8, [::1]), with or
    without a port, `localhost`, or the name pipe serve was started with (--host). Nothing
    else: a name of somebody else's that merely resolves to 127.0.0.1 (DNS rebinding, or a
    name like 127.0.0.1.example) is refused whatever it starts with."""
    hosts = [value for name, value in scope.get("headers", []) if name == b"host"]
    if len(hosts) != 1:
        return False
    host = _host_name(_strip_port(hosts[0].decode("latin-1").strip()))
    if not host:
        return False
    return host == "localhost" or (config.host is not None and host == config.host) or _loopback_ip(host)


def _strip_port(host: str) -> str:
    """The name of a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`); "" if malformed."""
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:] if end > 0 else None
        if rest is None or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return ""
        return host[1:end]
    name, colon, port = host.partition(":")
    if colon and (not port.isdigit() or ":" in port):
        return ""
    return name


def _host_name(host: str) -> str:
    """A host name as compared: lower case, without the brackets of an IPv6 address or the
    trailing dot of a fully qualified name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host[:-1] if host.endswith(".") and not host.endswith("..") else host


def _loopback_ip(host: str) -> bool:
    """An IP literal of this machine's loopback (an IPv4-mapped one too)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _local(scope) -> str:
    path = scope.get("path", "/")
    qs = scope.get("query_string", b"").decode("latin-1")
    return path + ("?" + qs if qs else "")


def _safe_next(value: str | None) -> str:
    """A path on this server to go back to after signing in, never another site (browsers
    drop tabs and newlines and read a backslash as a slash: "/", a tab, "/evil" is "//evil")."""
    if not value or any(c in value for c in "\\\t\r\n") or any(ord(c) < 32 for c in value):
        return "/"
    if not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


# --- templates --------------------------------------------------------------------------------

_env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)


def _u(*parts: str) -> str:
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


def _when(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %z").strip()
    except ValueError:
        return value


def _short_when(value: str | None) -> str:
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).strftime("%m-%d %H:%M")
    except ValueError:
        return value


def _ago(value: str | None, now: datetime | None = None) -> str:
    """A time relative to now, as the pages write it ("5 min ago", "in 2 h"); static/live.js
    writes it again as time goes on, the same way."""
    t = _parse(value)
    if t is None:
        return ""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    delta = ((now or datetime.now(timezone.utc)) - t).total_seconds()
    s = abs(delta)
    if s < 45:
        words = "just now" if delta >= 0 else "in a moment"
        return words
    if s < 3600:
        n, unit = round(s / 60), "min"
    elif s < 86400:
        n, unit = round(s / 3600), "h"
    elif s < 86400 * 60:
        n, unit = round(s / 86400), "d"
    else:
        return t.strftime("%Y-%m-%d")
    n = max(n, 1)
    return f"{n} {unit} ago" if delta >= 0 else f"in {n} {unit}"


def _reltime(value: str | None) -> Markup:
    """<time> with the relative time as text and the absolute one on hover (and for the script)."""
    if not value:
        return Markup("")
    t = _parse(value)
    if t is None:
        return Markup(escape(value))
    return Markup(f'<time datetime="{escape(t.isoformat())}" title="{escape(_when(value))}" data-rel>'
                  f'{escape(_ago(value))}</time>')


_env.globals.update(rel=_reltime, signin_css=Markup(SIGNIN_CSS), u=_u, icon=lambda s: STATE_ICONS.get(s, "?"), dur=svg.fmt_duration, when=_when,
                    short_when=_short_when, attempt_state=svg.attempt_state)


def render(template: str, request: Request | None, **ctx: Any) -> str:
    config: Config | None = ctx.get("config")
    if config is None and request is not None and "app" in request.scope:
        config = request.app.state.config
    ctx["config"] = config
    ctx.setdefault("csrf", config.csrf if config and config.actions else "")
    ctx.setdefault("signed_in", bool(config and config.token and request is not None and
                                     config.session_ok(request.cookies.get(COOKIE, ""))))
    ctx.setdefault("signout_csrf", config.csrf if config else "")
    return _env.get_template(template).render(**ctx)


# --- pages ----------------------------------------------------------------------------------------

def _history(request: Request) -> History:
    return request.app.state.history


def _live(h: History, **params: Any) -> str:
    """The page's event stream, with the stamp of what the page shows (`v`): the stream
    says `changed` as soon as the history differs from it, even if that happened between
    the page's rendering and the stream's start."""
    params = {k: str(v) for k, v in params.items() if v is not None}
    try:
        params["v"] = _digest(_stamp(h, params))
    except PipeError:
        pass
    return "/live?" + urlencode(params)


def _digest(stamp: tuple) -> str:
    return hashlib.sha1(repr(stamp).encode()).hexdigest()[:16]


async def overview(request: Request) -> Response:
    h = _history(request)

    def build():
        try:
            rows, problem = h.list_doc()["pipelines"], None
        except PipeError as e:              # no pipelines folder (any more): the history still shows
            rows, problem = [], str(e)
        seen = {r["name"] for r in rows}
        for name in h.pipelines_with_history():         # history of pipelines whose file is gone
            if name not in seen:
                rows.append({"name": name, "file": None, "valid": None, "tasks": 0, "gone": True})
        for r in rows:
            r["runs"] = list(reversed(h.runs(r["name"], SQUARES)))
            if r["runs"]:
                r["last_timing"] = _run_timing(h, r["runs"][0].view)
            if r.get("valid") is False:
                r["errors"] = h.errors(r["name"])
        return rows, problem

    live = await run_in_threadpool(lambda: _live(h, page="overview"))
    rows, problem = await run_in_threadpool(build)
    q = (request.query_params.get("q") or "").strip()
    for r in rows:
        r["hidden"] = bool(q) and q.lower() not in r["name"].lower()
    return HTMLResponse(render("overview.html", request, rows=rows, problem=problem, live=live, q=q))


RUN_STATES = ("succeeded", "failed", "running", "interrupted")
RUN_KINDS = ("scheduled", "manual", "backfill")


def _grid_query(request: Request, name: str) -> dict:
    """The grid's choice of runs from the query: `before` (a run id: the runs ordered before
    it), `date` (jump: the runs whose logical date is up to the end of that day or time),
    `state` and `kind` filters, `n` columns. A bad value is said, never guessed."""
    q = request.query_params
    before = q.get("before") or None
    if before is not None and not RUN_ID_RE.match(before):
        raise NotFound(f"no run {before!r} of pipeline {name!r}")
    state = q.get("state") or None
    if state is not None and state not in RUN_STATES:
        raise UsageError(f"state {state!r}: expected one of {', '.join(RUN_STATES)}")
    kind = q.get("kind") or None
    if kind is not None and kind not in RUN_KINDS:
        raise UsageError(f"kind {kind!r}: expected one of {', '.join(RUN_KINDS)}")
    raw_n = q.get("n") or str(GRID_RUNS)
    if not raw_n.isdigit() or not 1 <= int(raw_n) <= GRID_MAX:
        raise UsageError(f"n {raw_n!r}: expected a number of runs from 1 to {GRID_MAX}")
    date = (q.get("date") or "").strip() or None
    upto = None
    if date is not None:
        try:
            upto = datetime.fromisoformat(date)
        except ValueError:
            raise UsageError(f"date {date!r}: expected a date like 2026-09-01 or a time like 2026-09-01T12:00") from None
        if upto.tzinfo is None:
            upto = upto.replace(tzinfo=timezone.utc)
        if len(date) <= 10:                 # a day: up to its end
            upto = upto + timedelta(days=1)
    return dict(before=before, state=state, kind=kind, n=int(raw_n), date=date, upto=upto)


def _grid_url(name: str, query: dict, **change: Any) -> str:
    keep = {k: query.get(k) for k in ("state", "kind", "date", "n")}
    if keep.get("n") == GRID_RUNS:
        keep["n"] = None
    keep.update(change)
    params = {k: v for k, v in keep.items() if v not in (None, "")}
    return _u("pipelines", name) + ("?" + urlencode(params) if params else "")


async def pipeline_page(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    return await _pipeline_response(request, name)


async def _pipeline_response(request: Request, name: str, form: Any = None, form_error: str | None = None,
                             plan: str | None = None, status: int = 200) -> Response:
    """A pipeline's page; after a trigger form that was refused (or a dry run), with the form
    as it was sent and what is wrong (or the plan)."""
    h = _history(request)
    query = _grid_query(request, name)
    before, upto = query["before"], query["upto"]

    def build():
        all_ids = h.run_ids(name)
        ids = h.by_logical_date(name)
        if query["state"] or query["kind"]:
            ids = [r for r in ids if (not query["state"] or h.run(name, r).state == query["state"])
                   and (not query["kind"] or h.run(name, r).view.kind == query["kind"])]
        if before:
            ids = ids[:ids.index(before)] if before in ids else [r for r in ids if r < before]
        elif upto is not None:
            limit = upto.timestamp()
            ids = [r for r in ids if h.logical_time(name, r) < limit]
        shown = ids[-query["n"]:]
        runs = [h.run(name, r) for r in shown]
        p = h.spec(name)
        order = list(p.tasks) if p is not None else []
        for r in runs:
            for tid in r.view.tasks:
                if tid not in order:
                    order.append(tid)
        row = next((r for r in h.list_doc()["pipelines"] if r["name"] == name), None) if p is not None else None
        older = shown[0] if len(ids) > len(shown) else None
        timing = {r.run_id: _run_timing(h, r.view) for r in runs}
        longest = max([t["active"] or 0 for t in timing.values()] + [0.001])
        bars = {rid: min(10, max(1, round(10 * (t["active"] or 0) / longest))) for rid, t in timing.items()}
        dag = None
        if p is not None and not runs and len(p.tasks) <= DAG_MAX_TASKS:
            # Before its first run: the graph of the file, every task pending.
            states = {tid: "pending" for tid in p.tasks}
            lay = _layout(tuple(states), tuple((tid, tuple(p.tasks[tid].deps)) for tid in states))
            dag = svg.dag_svg(lay, states, lambda tid: None)
        # Midnight logical dates (a daily schedule): the columns say the day alone.
        days = all((r.view.logical_date or "")[10:19] in ("T00:00:00", " 00:00:00") for r in runs)
        return p, row, runs, order, len(all_ids), len(ids), older, timing, bars, dag, days

    live = await run_in_threadpool(lambda: _live(h, pipeline=name))
    p, row, runs, order, total, matching, older, timing, bars, dag, days = await run_in_threadpool(build)
    errors = h.errors(name) if p is None else []
    source_html, source_path, source_note = await run_in_threadpool(_source, h, name, errors)
    filtered = bool(query["state"] or query["kind"] or query["date"])
    return HTMLResponse(render("pipeline.html", request, name=name, p=p, row=row, runs=runs, order=order, total=total,
                               matching=matching, older=older, before=before, query=query, filtered=filtered,
                               live=None if (before or filtered or form is not None) else live, timing=timing, bars=bars, dag=dag,
                               errors=errors, grid_url=functools.partial(_grid_url, name, query),
                               run_states=RUN_STATES, run_kinds=RUN_KINDS, form=form, form_error=form_error, days=days,
                               source_html=source_html, source_path=source_path, source_note=source_note,
                               plan=plan, paused=_paused(h, name)), status_code=status)


def _source(h: History, name: str, errors: list[str]) -> tuple[Any, str | None, str | None]:
    """The pipeline file, highlighted, with the lines its errors name marked."""
    from . import source

    path = h.file_path(name)
    if path is None:
        return None, None, None
    try:
        with open(path, "rb") as f:
            data = f.read(source.MAX_BYTES + 1)
    except OSError as e:
        return None, str(path), f"cannot be read: {e.strerror or e}"
    note = None
    if len(data) > source.MAX_BYTES:
        data, note = data[:source.MAX_BYTES], f"its first {source.MAX_BYTES // 1024} KB"
    return source.render(data.decode("utf-8", "replace"), source.problem_lines(str(path), errors)), str(path), note


@functools.lru_cache(maxsize=32)
def _layout(nodes: tuple, deps: tuple):
    """A graph's layout, computed once while its tasks and dependencies stay the same (a
    running run's page is drawn again at every change of state)."""
    return dag_layout(list(nodes), dict(deps))


def _run_page_data(h: History, name: str, run_id: str) -> dict:
    run = h.run(name, run_id)
    view = run.view
    tasks = list(view.tasks.values())
    p = (h.spec_of_file(view.file) or h.spec(name)) if len(tasks) <= DAG_MAX_TASKS else None
    states = {t.id: t.state for t in tasks}

    base = _u("pipelines", name, "runs", run_id, "tasks")

    def log_href(tid: str, n: int | None = None) -> str | None:
        t = view.tasks.get(tid)
        if not t or not t.attempt:
            return None
        return f"{base}/{quote(tid, safe='')}/log" + (f"?attempt={n}" if n else "")

    dag = None
    dag_note = None
    if len(tasks) <= DAG_MAX_TASKS:
        deps: tuple = ()
        if p is not None:
            deps = tuple((tid, tuple(p.tasks[tid].deps)) for tid in states if tid in p.tasks)
        else:
            dag_note = "The pipeline file cannot be read: dependencies are not drawn."
        lay = _layout(tuple(states), deps)
        dag = svg.dag_svg(lay, states, log_href)
    else:
        dag_note = f"{len(tasks)} tasks: the graph is drawn up to {DAG_MAX_TASKS} tasks."
    rows = [(t.id, t.state, t.attempts) for t in tasks]
    rows = [r for r in rows if r[2]]
    rows.sort(key=lambda r: r[2][0].started or "")
    gantt_note = None
    if len(rows) > GANTT_MAX_ROWS:
        gantt_note = f"The first {GANTT_MAX_ROWS} of {len(rows)} tasks that ran."
        rows = rows[:GANTT_MAX_ROWS]
    ref = _now_ref(view) if view.state == "running" else None
    executions = h.executions(view)
    gantt = svg.gantt_svg(rows, view.started, view.finished or (ref.isoformat() if ref else None), log_href,
                          executions=executions)
    timing = _timing(executions, ref)
    elapsed = {t.id: _seconds(t.started, ref) for t in tasks if ref is not None and t.state == "running" and t.started}
    # What ran in this run (RunView.counts), and apart from it the tasks kept from earlier runs.
    counts = view.counts()
    kept: dict[str, int] = {}
    for t in tasks:
        if t.kept_from and t.state == "skipped" and t.id not in (view.selected or ()):
            kept[t.kept_from] = kept.get(t.kept_from, 0) + 1
    descriptions = {tid: p.tasks[tid].description for tid in states if p is not None and tid in p.tasks
                    and p.tasks[tid].description}
    # A failed task says why at a glance: the last lines of its failed attempt's log.
    tails: dict[str, list[str]] = {}
    for t in tasks:
        if len(tails) >= FAILED_TAILS:
            break
        if t.state in ("failed", "retrying") and t.attempt:
            tails[t.id] = _tail(h, name, run_id, t.id, t.attempt)
    return dict(run=run, view=view, tasks=tasks, dag=dag, dag_note=dag_note, gantt=gantt, gantt_note=gantt_note,
                counts=counts, kept=kept, log_href=log_href, p=p, timing=timing, elapsed=elapsed,
                descriptions=descriptions, tails=tails)


def _tail(h: History, name: str, run_id: str, task: str, attempt: int) -> list[str]:
    from ..state.store import tail_lines

    try:
        path = h.log_path(name, run_id, task, attempt)
    except PipeError:
        return []
    return [line[:300] for line in tail_lines(path, TAIL_LINES, window=16384) if line.strip()][-TAIL_LINES:]





def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _now_ref(view) -> datetime:
    """"Now" for a running run: this machine's clock, or the run's latest event if that is later
    (its pipe on a host whose clock is ahead): nothing it shows runs backwards or below 0."""
    now = datetime.now(timezone.utc)
    last = _parse(view.last_event)
    return max(now, last) if last is not None and last.tzinfo is not None else now


def _seconds(begin: str | None, end: datetime | str | None) -> float | None:
    b = _parse(begin)
    e = _parse(end) if isinstance(end, str) else end
    if b is None or e is None:
        return None
    return max((e - b).total_seconds(), 0.0)


def _timing(executions: list[tuple[str, str | None]], ref: datetime | None) -> dict:
    """A run's time: each execution's length (its first start, each resume), their sum (the
    run's duration) and the wall time from the first start to the end (or to now)."""
    spans = [_seconds(b, e or ref) for b, e in executions]
    spans = [x for x in spans if x is not None]
    end = executions[-1][1] if executions else None
    wall = _seconds(executions[0][0], end or ref) if executions else None
    return dict(executions=spans, active=sum(spans) if spans else None, wall=wall, resumes=max(len(executions) - 1, 0),
                end=end)


def _run_timing(h: History, view) -> dict:
    """_timing of a run as its pages show it (a running one up to now)."""
    return _timing(h.executions(view), _now_ref(view) if view.state == "running" else None)


async def run_page(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    run_id = request.path_params["run_id"]
    live = await run_in_threadpool(lambda: _live(h, pipeline=name, run=run_id))
    data = await run_in_threadpool(_run_page_data, h, name, run_id)
    config: Config = request.app.state.config
    rerun = config.actions and data["run"].state != "running" and data["p"] is not None \
        and len(data["tasks"]) <= RERUN_BUTTONS
    from . import rows

    base = _u("pipelines", name, "runs", run_id, "tasks")
    table = await run_in_threadpool(lambda: rows.task_rows(
        data["tasks"], base=base, icons=STATE_ICONS, descriptions=data["descriptions"], elapsed=data["elapsed"],
        tails=data["tails"], rerun=rerun, csrf=config.csrf if config.actions else "",
        name_url=lambda tid: f"{base}/{quote(tid, safe='')}/rerun",
        mark_url=lambda tid: f"{base}/{quote(tid, safe='')}/mark"))
    return HTMLResponse(render("run.html", request, name=name, live=live, rerun=rerun, task_rows=table, **data))


def _attempt_param(request: Request, default: int) -> int:
    raw = request.query_params.get("attempt")
    if raw is None:
        return default
    if not raw.isdigit() or len(raw) > 6:
        raise NotFound(f"attempt {raw!r}: expected a number")
    return int(raw)


def _task_of(view, task: str):
    """A task of the run, or an instance `ID[N]` of a foreach task; None for anything else."""
    from ..state.events import instance_of

    found = instance_of(task)
    return view.task(task) if TASK_RE.match(found[0] if found else task) else None


async def log_page(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    run_id, task = request.path_params["run_id"], request.path_params["task"]
    stamp = _live(h, pipeline=name, run=run_id)
    run = h.run(name, run_id)
    t = _task_of(run.view, task)
    if t is None:
        raise NotFound(f"run {run_id} has no task {task!r}")
    attempt = _attempt_param(request, t.attempt)
    v = stamp.rpartition("v=")[2]
    first = 1
    if not t.attempt:
        text, offset, size, cut = "", 0, 0, 0
    else:
        path = h.log_path(name, run_id, task, attempt)
        size = path.stat().st_size
        cut = max(size - LOG_PAGE_BYTES, 0)
        data, offset = h.log(name, run_id, task, attempt, cut)
        if cut:
            skip = data.find(b"\n") + 1 if b"\n" in data else 0
            data = data[skip:]
            first = await run_in_threadpool(_count_lines, path, cut + skip) + 1
        text = data.decode("utf-8", "replace")
    lines, count, open_end, sgr = ansi.render(text, first)
    rec = next((a for a in t.attempts if a.number == attempt), None)
    shown = svg.attempt_state(t.state, rec, rec.number == t.attempt) if rec else t.state
    ticking = None
    if rec is not None and rec.finished is None and shown == "running" and run.view.state == "running":
        ticking = _seconds(rec.started, _now_ref(run.view))
    following = rec is not None and rec.finished is None and shown in svg.RUNNING_STATES and \
        run.view.state == "running"
    return HTMLResponse(render("log.html", request, name=name, run=run, view=run.view, t=t, attempt=attempt, rec=rec,
                               text=text, lines=lines, first=first, count=count, open_end=open_end, sgr=sgr,
                               following=following, size=size, cut=cut, shown=shown, ticking=ticking,
                               live=stamp if not t.attempt else "/live?" + urlencode(
                                   dict(pipeline=name, run=run_id, task=task, attempt=attempt, offset=offset, v=v))))


def _count_lines(path: Path, upto: int) -> int:
    """The newlines in a log's first `upto` bytes (the page shows its end with true line numbers)."""
    n = 0
    with open(path, "rb") as f:
        while upto > 0:
            chunk = f.read(min(upto, 1 << 20))
            if not chunk:
                break
            n += chunk.count(b"\n")
            upto -= len(chunk)
    return n


async def signin(request: Request) -> Response:
    config: Config = request.app.state.config
    if request.method == "GET":
        nxt = _safe_next(request.query_params.get("next"))
        if not config.token:
            return RedirectResponse(nxt, status_code=303)
        return HTMLResponse(render("signin.html", request, next=nxt, failed=False,
                                   signedout=request.query_params.get("signedout") == "1"))
    form = await _form(request)
    nxt = _safe_next(form.get("next"))
    given = form.get("token", "")
    if config.token and hmac.compare_digest(given.encode(), config.token.encode()):
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(COOKIE, config.new_session(), max_age=config.session_seconds, httponly=True,
                            samesite="strict", path="/", secure=request.url.scheme == "https")
        return response
    return HTMLResponse(render("signin.html", request, next=nxt, failed=True), status_code=401)


async def signout(request: Request) -> Response:
    """End this browser's session: its cookie is refused from now on, and deleted."""
    config: Config = request.app.state.config
    form = await _form(request)
    if not hmac.compare_digest(form.get("csrf", "").encode(), config.csrf.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")
    value = request.cookies.get(COOKIE)
    if value:
        config.revoke(value)
    response = RedirectResponse("/signin?signedout=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


# --- actions ------------------------------------------------------------------------------------

async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > 256 * 1024:
        raise HTTPException(413, "form too large")
    pairs = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in pairs.items()}


def _check_csrf(request: Request, form: dict[str, str]) -> None:
    config: Config = request.app.state.config
    if not config.actions:
        raise HTTPException(403, "actions are off: start pipe serve with --actions")
    if not hmac.compare_digest(form.get("csrf", "").encode(), config.csrf.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


async def trigger(request: Request) -> Response:
    from . import actions

    form = await _form(request)
    _check_csrf(request, form)
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    p = h.spec(name)
    if p is None:
        return HTMLResponse(render("error.html", request, title="The run did not start",
                                   message=f"pipeline {name!r} has no valid file in {request.app.state.config.pipelines_dir}",
                                   back=_u("pipelines", name)), status_code=400)
    f = actions.TriggerForm.read(p, form)
    launcher = actions.Launcher(request.app.state.config)
    try:
        args = actions.check_trigger(p, f)
        if form.get("dry_run"):
            code, text = await run_in_threadpool(launcher.dry_run, args)
            if code not in (0, 1):
                raise UsageError(text)
            return await _pipeline_response(request, name, form=f, plan=text)
        run_id = await run_in_threadpool(launcher.start_run, h, name, args)
    except UsageError as e:
        # The form again, as it was sent, with what is wrong above it.
        return await _pipeline_response(request, name, form=f, form_error=str(e), status=400)
    return RedirectResponse(_u("pipelines", name, "runs", run_id), status_code=303)


async def _run_action(request: Request, title: str, act) -> Response:
    form = await _form(request)
    _check_csrf(request, form)
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    run_id = request.path_params["run_id"]
    h.run(name, run_id)                         # 404 for what names no run
    try:
        await run_in_threadpool(act, h, name, run_id, form)
    except UsageError as e:
        return HTMLResponse(render("error.html", request, title=title, message=str(e),
                                   back=_u("pipelines", name, "runs", run_id)), status_code=400)
    return RedirectResponse(_u("pipelines", name, "runs", run_id), status_code=303)


async def resume(request: Request) -> Response:
    from . import actions

    launcher = actions.Launcher(request.app.state.config)
    return await _run_action(request, "The run was not resumed",
                             lambda h, name, run_id, form: launcher.resume(h, name, run_id))


async def rerun_task(request: Request) -> Response:
    """Rerun a task and everything downstream of it in a finished run: pipe resume --from T."""
    from . import actions

    task = request.path_params["task"]
    if not TASK_RE.match(task):
        raise NotFound(f"no task {task!r}")
    launcher = actions.Launcher(request.app.state.config)
    return await _run_action(request, f"{task} was not rerun",
                             lambda h, name, run_id, form: launcher.resume(h, name, run_id, from_=[task]))


async def mark_task(request: Request) -> Response:
    """Mark a task of a finished run succeeded or failed, with a reason kept in the run's history."""
    from ..commands.marks import mark_task as mark

    task = request.path_params["task"]
    if not TASK_RE.match(task):
        raise NotFound(f"no task {task!r}")
    config: Config = request.app.state.config

    def act(h, name, run_id, form):
        mark(config.g, name, run_id, task, form.get("state", ""), form.get("reason", ""), f"{_who()} (pipe serve)")

    return await _run_action(request, f"{task} was not marked", act)


async def cancel(request: Request) -> Response:
    """Stop a running run as Ctrl-C does (its tasks cancelled, the run interrupted)."""
    from . import actions

    return await _run_action(request, "The run was not cancelled",
                             lambda h, name, run_id, form: actions.cancel(h, name, run_id))


# --- pause (SPEC 12) ---------------------------------------------------------------------------

def _paused(h: History, name: str) -> dict | None:
    """`pipe pause`'s who, when and why, read at each request (not from the cached list)."""
    from ..state.pause import paused

    return paused(h.store.layout, name)


async def toggle_pause(request: Request) -> Response:
    """Pause or unpause a pipeline's schedule, as `pipe pause` / `pipe unpause` do."""
    from ..commands.operate import _forget_quiet
    from ..state.pause import pause, unpause

    form = await _form(request)
    _check_csrf(request, form)
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    if h.spec(name) is None and name not in h.store.pipelines():
        raise NotFound(f"no pipeline {name!r}")
    layout = h.store.layout
    if form.get("pause") == "1":
        reason = form.get("reason", "").strip()[:500] or None
        await run_in_threadpool(pause, layout, name, reason, None, f"{_who()} (pipe serve)")
    else:
        await run_in_threadpool(unpause, layout, name)
    p = h.spec(name)
    if p is not None:
        from pathlib import Path as _Path

        _forget_quiet(h.g, _Path(p.path))
    return RedirectResponse(_u("pipelines", name), status_code=303)


def _who() -> str:
    from ..state.pause import who

    return who()


# --- JSON API -----------------------------------------------------------------------------------

async def api_pipelines(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(_history(request).list_doc))


async def api_runs(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    raw = request.query_params.get("limit", "25")
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        return JSONResponse({"error": "limit: expected a number from 1 to 1000"}, status_code=400)
    return JSONResponse(await run_in_threadpool(h.runs_doc, name, int(raw)))


async def api_run(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    return JSONResponse(await run_in_threadpool(h.status_doc, name, request.path_params["run_id"]))


async def api_log(request: Request) -> Response:
    h = _history(request)
    name = h.check_name(request.path_params["name"])
    run_id, task = request.path_params["run_id"], request.path_params["task"]
    run = h.run(name, run_id)
    t = _task_of(run.view, task)
    if t is None:
        raise NotFound(f"run {run_id} has no task {task!r}")
    attempt = _attempt_param(request, t.attempt)
    path = h.log_path(name, run_id, task, attempt)
    return FileResponse(path, media_type="text/plain; charset=utf-8", content_disposition_type="inline")


# --- live updates ---------------------------------------------------------------------------------

def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stamp(h: History, q: dict[str, str]) -> tuple:
    name, run_id = q.get("pipeline"), q.get("run")
    if run_id:
        return h.run_stamp(name, run_id)
    if name:
        return tuple((r.run_id, r.state, len(r.view.tasks)) for r in h.runs(name, LIVE_RUNS)) + (
            len(h.run_ids(name)), h.due_stamp(name))
    return h.overview_stamp() + (h.due_stamp(),)


async def live(request: Request) -> Response:
    """Server-sent events: `changed` when what the page shows changed, `log` with new log text,
    `done` when the run has finished and nothing more will come."""
    h = _history(request)
    q = dict(request.query_params)
    if (q.get("run") and not q.get("pipeline")) or (q.get("task") and not q.get("run")):
        raise NotFound("a run needs its pipeline, a task its run")
    if q.get("pipeline"):
        h.check_name(q["pipeline"])
    if q.get("run"):
        h.run(q["pipeline"], q["run"])
    task = q.get("task")
    log_path = None
    offset = 0
    if task:
        if not (q.get("attempt") or "").isdigit() or not (q.get("offset") or "0").isdigit():
            raise NotFound("attempt and offset must be numbers")
        log_path = h.log_path(q["pipeline"], q["run"], task, int(q["attempt"]))
        offset = int(q.get("offset") or 0)
        # A reconnecting EventSource says how far it got (each log event's id is its offset).
        resumed = request.headers.get("last-event-id", "")
        if resumed.isdigit():
            offset = int(resumed)

    async def stream():
        nonlocal offset
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        last = q.get("v") or _digest(await run_in_threadpool(_stamp, h, q))
        beat = time.monotonic()
        yield "retry: 1000\n\n"
        while True:
            if log_path is not None:
                size = _size(log_path)
                if size > offset:
                    with open(log_path, "rb") as f:
                        f.seek(offset)
                        data = f.read(min(size - offset, 1 << 20))
                    offset += len(data)
                    text = decoder.decode(data)
                    if text:
                        yield f"id: {offset}\nevent: log\ndata: {json.dumps(text)}\n\n"
                    continue
            try:
                now = await run_in_threadpool(_stamp, h, q)
            except PipeError:
                return
            if _digest(now) != last:
                last = _digest(now)
                yield "event: changed\ndata: {}\n\n"
            # Finished (not: not begun yet), and no task left running (a killed pipe's task
            # lives on until its watcher has stopped it: the page shows it go).
            if q.get("run") and now[1] != "running" and now[2] and not now[-1]:
                if log_path is None or _size(log_path) <= offset:
                    yield "event: done\ndata: {}\n\n"
                    return
            if time.monotonic() - beat > 10:
                beat = time.monotonic()
                yield ": heartbeat\n\n"
            await asyncio.sleep(POLL)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- errors ------------------------------------------------------------------------------------

def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/live"))


async def not_found(request: Request, exc: Exception) -> Response:
    message = str(exc) if isinstance(exc, PipeError) else "not found"
    if isinstance(exc, HTTPException) and exc.status_code != 404:
        if _wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return HTMLResponse(render("error.html", request, title=f"Error {exc.status_code}", message=exc.detail,
                                   back="/"), status_code=exc.status_code)
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=404)
    return HTMLResponse(render("error.html", request, title="Not found", message=message, back="/"), status_code=404)


async def bad_request(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": str(exc)}, status_code=400)
    return HTMLResponse(render("error.html", request, title="Error", message=str(exc), back="/"), status_code=400)


async def server_error(request: Request, exc: Exception) -> Response:
    message = "internal error: see the server's output"
    sys.stderr.write(f"pipe serve: {request.method} {request.url.path}: {type(exc).__name__}: {exc}\n")
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=500)
    return HTMLResponse(render("error.html", request, title="Internal error", message=message, back="/"),
                        status_code=500)


def create_app(config: Config) -> Any:
    routes = [
        Route("/", overview),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/pipelines/{name}", pipeline_page),
        Route("/pipelines/{name}/trigger", trigger, methods=["POST"]),
        Route("/pipelines/{name}/pause", toggle_pause, methods=["POST"]),
        Route("/pipelines/{name}/runs/{run_id}", run_page),
        Route("/pipelines/{name}/runs/{run_id}/resume", resume, methods=["POST"]),
        Route("/pipelines/{name}/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/pipelines/{name}/runs/{run_id}/tasks/{task}/rerun", rerun_task, methods=["POST"]),
        Route("/pipelines/{name}/runs/{run_id}/tasks/{task}/mark", mark_task, methods=["POST"]),
        Route("/pipelines/{name}/runs/{run_id}/tasks/{task}/log", log_page),
        Route("/api/pipelines", api_pipelines),
        Route("/api/pipelines/{name}/runs", api_runs),
        Route("/api/pipelines/{name}/runs/{run_id}", api_run),
        Route("/api/pipelines/{name}/runs/{run_id}/tasks/{task}/log", api_log),
        Route("/live", live),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        404: not_found, HTTPException: not_found, NotFound: not_found, UsageError: bad_request,
        PipeError: bad_request, Exception: server_error})
    app.state.config = config
    app.state.history = History(config.g)
    return Guard(app, config)


# --- the command ------------------------------------------------------------------------------

MIN_TOKEN = 16


def _loopback(host: str) -> bool:
    return _host_name(host) == "localhost" or _loopback_ip(_host_name(host))


def check_token(token: str | None) -> None:
    """A token guards everything the pages show and do: one short enough to guess is refused."""
    if token and len(token) < MIN_TOKEN:
        raise UsageError(f"--token (or PIPE_SERVE_TOKEN): {len(token)} character(s) is too short to guard the "
                         f"server; give at least {MIN_TOKEN}, for example one made by: "
                         "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")


def serve(g, host: str = "127.0.0.1", port: int = 8080, token: str | None = None, actions: bool = False) -> int:
    """Run the web UI until interrupted. Exit code 2 for a refused or impossible address."""
    import uvicorn

    check_token(token)
    if not _loopback(host) and not token:
        raise UsageError(f"--host {host}: listening beyond this machine needs a token (--token or PIPE_SERVE_TOKEN); "
                         "without one pipe serve binds 127.0.0.1 only")
    if not Path(g.pipelines_dir).is_dir() and not Path(g.state_dir).is_dir():
        raise UsageError(f"nothing to serve here: no pipelines folder ({g.pipelines_dir}) and no state folder "
                         f"({g.state_dir}); run pipe serve in a project, or give --pipelines-dir / --state-dir")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: expected 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(128)
    bound = sock.getsockname()[1]
    app = create_app(Config(g, token=token, actions=actions, host=host))
    shown = f"[{host}]" if ":" in host else host
    print(f"pipe serve: http://{shown}:{bound}/  (state {Path(g.state_dir).absolute()}, "
          f"{'actions on' if actions else 'read-only'}{', token required' if token else ''}; Ctrl-C stops)",
          flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                            lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0
