"""The web's pause toggle (SPEC 12), with `pipe serve --actions`, in a real Chromium: it pauses
and unpauses as `pipe pause` / `pipe unpause` do, and refuses a form without its CSRF token."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import cli

PIPE = """\
schedule: "@daily"
start_date: 2026-11-01
tasks:
  t:
    run: "true"
"""


def _post(url: str, data: bytes) -> int:
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_pause_toggle_in_the_browser(project, write_pipeline, serve, new_page):
    write_pipeline("daily", PIPE)
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines", "--actions")
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/daily")
    page.fill("#pause-toggle input[name=reason]", "warehouse migration")
    page.click("#pause-toggle button")
    page.wait_for_selector("#paused")
    assert "warehouse migration" in page.inner_text("#paused")
    doc = json.loads(cli(project, "list", "--json").stdout)["pipelines"][0]
    assert doc["paused"]["reason"] == "warehouse migration" and "pipe serve" in doc["paused"]["by"]
    assert cli(project, "tick", "--now", "2026-11-03T00:05:00+00:00").returncode == 0
    assert json.loads(cli(project, "status", "--json").stdout)["pipelines"] == []     # tick started nothing
    page.click("#pause-toggle button")          # now "Unpause"
    page.wait_for_selector("#paused", state="detached")
    assert json.loads(cli(project, "list", "--json").stdout)["pipelines"][0]["paused"] is None
    # A form without the page's CSRF token is refused, and changes nothing.
    assert _post(f"{server.url}/pipelines/daily/pause", b"pause=1") == 403
    assert json.loads(cli(project, "list", "--json").stdout)["pipelines"][0]["paused"] is None


def test_no_toggle_without_actions(project, write_pipeline, serve, new_page):
    write_pipeline("daily", PIPE)
    assert cli(project, "pause", "daily", "--reason", "by hand").returncode == 0
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines")
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/daily")
    assert "by hand" in page.inner_text("#paused")          # shown, read-only
    assert page.query_selector("#pause-toggle") is None
    assert _post(f"{server.url}/pipelines/daily/pause", b"pause=0&csrf=x") == 403
    assert json.loads(cli(project, "list", "--json").stdout)["pipelines"][0]["paused"]["reason"] == "by hand"


def test_the_overview_says_paused(project, write_pipeline, serve, new_page):
    write_pipeline("daily", PIPE)
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines")
    page = new_page(server.url)
    page.goto(server.url + "/")
    assert page.query_selector("[data-paused]") is None
    assert cli(project, "pause", "daily", "--reason", "holiday").returncode == 0
    page.goto(server.url + "/")          # the list the overview shows is read again after a pause
    badge = page.wait_for_selector("[data-paused]")
    assert badge.inner_text() == "paused" and "holiday" in badge.get_attribute("title")


def test_a_live_update_keeps_the_reason_being_typed(project, write_pipeline, serve, new_page):
    write_pipeline("daily", PIPE)
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines", "--actions")
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/daily")
    page.fill("#pause-toggle input[name=reason]", "half typed")
    page.click("h1")                  # typed, then looked elsewhere: the field is not focused
    assert cli(project, "run", "daily").returncode == 0          # the page updates itself with the new run
    run_id = json.loads(cli(project, "status", "daily", "--json").stdout)["run"]["run_id"]
    # (a locator wait: a wait_for_function string is evaluated with eval, which the page's CSP refuses)
    page.locator(f"text={run_id}").first.wait_for(timeout=20000)
    assert page.input_value("#pause-toggle input[name=reason]") == "half typed"
