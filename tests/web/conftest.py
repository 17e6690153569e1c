"""Fixtures of the web UI tests: a real `pipe serve` process on 127.0.0.1, and a real Chromium.

- ``serve(*args, env=None)``: starts ``python -m pipeline_cli serve --port 0 *args`` in the
  project folder, waits for the URL it prints, and returns a ``Server`` (``url``, ``proc``);
  every server is stopped at the end of the test.
- ``browser``: Debian's chromium driven by Playwright (never a downloaded browser). When
  chromium is missing the tests FAIL with a message saying how to install it.
- ``page``: a new page (1280 x 900) whose requests, console errors, page errors and dialogs
  are recorded (``page.requests``, ``page.problems``); at the end of the test every request
  must have gone to the server's own origin and no problem may have happened.
"""
from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import clean_env

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    output: list[str] = field(default_factory=list)


def start_server(cwd: Path, *args: str, env: dict | None = None, timeout: float = 30) -> Server:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "serve", "--port", "0", *args],
                            cwd=str(cwd), env=clean_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"pipe serve printed no URL within {timeout}s: {''.join(seen)}")
        if line is None:
            proc.wait()
            raise AssertionError(f"pipe serve exited ({proc.returncode}) before serving: {''.join(seen)}")
        seen.append(line)
        if line.startswith("pipe serve: http://"):
            url = line.split()[2].rstrip("/")
            return Server(url, proc, seen)


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@pytest.fixture
def serve(project: Path) -> Callable[..., Server]:
    servers: list[Server] = []

    def start(*args: str, env: dict | None = None, cwd: Path | None = None) -> Server:
        server = start_server(cwd or project, *args, env=env)
        servers.append(server)
        return server

    yield start
    for s in servers:
        stop_server(s)


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium "
                    "(.ci/run installs it); they never download a browser", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """new_page(origin, **context options) -> a page that records requests and problems."""
    contexts = []

    def make(origin: str, **options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        ctx = browser.new_context(**options)
        contexts.append((ctx, origin))
        page = ctx.new_page()
        page.requests = []
        page.problems = []
        page.on("request", lambda r: page.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))

        def dialog(d):
            page.problems.append(f"dialog: {d.type} {d.message}")
            d.dismiss()

        page.on("dialog", dialog)
        ctx.pages_made = getattr(ctx, "pages_made", []) + [page]
        return page

    yield make
    for ctx, origin in contexts:
        for page in getattr(ctx, "pages_made", []):
            outside = [u for u in page.requests if not (u == origin or u.startswith(origin + "/"))]
            assert not outside, f"requests outside {origin}: {outside}"
            assert not page.problems, page.problems
        ctx.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Where the browser tests save their screenshots: $PIPE_WEB_SHOTS, else
    $PIPE_TEST_ARTIFACTS/web-screenshots (CI keeps that folder as its artifact), else a
    temporary folder."""
    artifacts = os.environ.get("PIPE_TEST_ARTIFACTS")
    path = Path(os.environ.get("PIPE_WEB_SHOTS") or (Path(artifacts) / "web-screenshots" if artifacts else None)
                or tmp_path_factory.mktemp("web-screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


AXE_JS = Path(__file__).resolve().parents[2] / ".ci" / "cache" / "axe-core" / "package" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script (vendored from npm by .ci/run: $PIPE_TEST_AXE_JS or .ci/cache).
    Missing, the accessibility tests FAIL saying how to get it; they never skip."""
    path = Path(os.environ.get("PIPE_TEST_AXE_JS") or AXE_JS)
    if not path.is_file():
        pytest.fail(f"the accessibility scan needs axe-core at {path}: run .ci/run, or "
                    "(cd .ci/cache/axe-core && npm pack axe-core@4.14.1 && tar xzf axe-core-4.14.1.tgz)",
                    pytrace=False)
    return path.read_text(encoding="utf-8")


@pytest.fixture
def axe(axe_source):
    """axe(page) -> the serious and critical WCAG 2 A/AA violations axe-core finds on the page
    (as "rule: target, target" lines). The script is put in through the DevTools protocol,
    which the page's Content-Security-Policy does not stop."""

    def scan(page, exclude: list[str] | None = None) -> list[str]:
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(axe_source + "\n;0")
        result = page.evaluate("""async exclude => {
            const r = await axe.run({include: [document], exclude: exclude.map(s => [s])},
                                    {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                                      'best-practice']}});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', ')
                     + ' -- ' + v.nodes[0].failureSummary.replace(/\\s+/g, ' ').slice(0, 300));
        }""", exclude or [])
        return result

    return scan
