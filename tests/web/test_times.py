"""What the pages say of time and of attempts: a running run's durations move on between
changes of state (in Chromium), a resumed run counts every execution and says it was
resumed, a killed pipe's task is drawn cancelled (not running), an attempt's page shows
that attempt's own state, a clock ahead gives no negative duration, a past next due time
says overdue. Runs are made by the real CLI (`pipe run`, SIGKILL, `pipe resume`); the HTML
is read in-process (Starlette's TestClient) and in Chromium."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from conftest import clean_env

WAIT = 15_000       # ms: the longest a page may take to show a change (a bound, not a measure)

KILLABLE = """
    tasks:
      first:
        run: echo first
      slow:
        deps: [first]
        run: |
          while [ ! -f gate ]; do echo tick; sleep 0.1; done
          echo done
"""

STUBBORN = """
    tasks:
      stubborn:
        run: |
          trap '' TERM
          echo started
          while [ ! -f gate ]; do sleep 0.1; done
"""

TWO = """
    tasks:
      quick:
        run: while [ ! -f gate1 ]; do sleep 0.05; done
      slow:
        run: while [ ! -f gate2 ]; do sleep 0.05; done
"""


@pytest.fixture
def client(project):
    """An in-process app over the project's folders, as `pipe serve` makes it."""
    with warnings.catch_warnings():       # starlette's note on its httpx: not this project's business
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from pipeline_cli.commands.project import Globals
    from pipeline_cli.web.app import Config, create_app

    g = Globals(project / "pipelines", project / ".pipe", root=project, state_given=False)
    with TestClient(create_app(Config(g)), base_url="http://127.0.0.1") as c:
        yield c


def status(pipe, name, *args) -> dict:
    r = pipe("status", name, *args, "--json")
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)["run"]


def wait_for(check, what: str, limit: float = 30):
    end = time.monotonic() + limit
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting: {what}"
        time.sleep(0.1)


def start_run(project, name, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", name], cwd=project, env=clean_env(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def seconds(text: str) -> float:
    """A duration as the pages write it (5.1s, 12s, 3m04s, 1h02m) in seconds."""
    text = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)s", text)
    if m:
        return float(m.group(1))
    m = re.fullmatch(r"(\d+)m(\d\d)s", text)
    if m:
        return int(m.group(1)) * 60 + int(m.group(2))
    m = re.fullmatch(r"(\d+)h(\d\d)m", text)
    assert m, f"not a duration: {text!r}"
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


def field(html: str, name: str) -> str:
    m = re.search(rf'<dd data-field="{name}"[^>]*>(.*?)</dd>', html, re.S)
    assert m, f"no {name} on the page"
    return re.sub(r"<[^>]+>", "", m.group(1))


def bars(html: str, task: str) -> list[dict]:
    """The timeline's bars of a task: state, attempt, x and width."""
    row = re.search(rf'<g class="row" data-task="{task}"[^>]*>(.*?)</g>', html, re.S)
    assert row, f"no timeline row of {task}"
    return [dict(state=s, attempt=int(a), x=float(x), width=float(w)) for s, a, x, w in re.findall(
        r'<rect class="bar" data-state="(\w+)" data-attempt="(\d+)" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"',
        row.group(1))]


def kill_while_slow_runs(project, pipe, name: str, env=None) -> str:
    """Start `pipe run NAME`, let `slow` run a little, SIGKILL pipe; returns the run id."""
    run = start_run(project, name, env)
    try:
        doc = wait_for(lambda: (lambda d: d if d and d["tasks"].get("slow", {}).get("state") == "running" else None)(
            _latest(pipe, name)), "slow to run")
        time.sleep(1.0)
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    return doc["run_id"]


def _latest(pipe, name):
    r = pipe("status", name, "--json")
    return json.loads(r.stdout)["run"] if r.returncode in (0, 1) and r.stdout.strip() else None


# --- attempts ---------------------------------------------------------------------------------

def test_a_failed_attempt_page_shows_that_attempt_failed_not_the_task_s_success(project, pipe, write_pipeline,
                                                                                 client):
    write_pipeline("retry", """
        tasks:
          shaky:
            retries: 1
            run: |
              if [ -f tried ]; then echo "second try"; else touch tried; echo "first try"; exit 5; fi
    """)
    assert pipe("run", "retry").returncode == 0
    run_id = status(pipe, "retry")["run_id"]
    log = f"/pipelines/retry/runs/{run_id}/tasks/shaky/log"
    first = client.get(f"{log}?attempt=1").text
    big = re.findall(r'<span class="state big" data-state="(\w+)"[^>]*>([^<]*)</span>', first)
    assert big == [("failed", "✗ attempt 1 failed")], big
    assert "(the task: " in first and "succeeded</span> on attempt 2)" in first
    assert "exit code 5" in first or ">5<" in first
    second = client.get(log).text
    assert re.findall(r'<span class="state big" data-state="(\w+)"', second) == ["succeeded"]
    # The timeline draws attempt 1 failed, attempt 2 succeeded.
    page = client.get(f"/pipelines/retry/runs/{run_id}").text
    assert [(b["attempt"], b["state"]) for b in bars(page, "shaky")] == [(1, "failed"), (2, "succeeded")]


def test_the_page_of_an_attempt_waiting_for_its_retry_says_it_failed(project, write_pipeline, client):
    write_pipeline("wait", """
        tasks:
          shaky:
            retries: 1
            retry_delay: 60s
            run: echo "first try"; exit 5
    """)
    run = start_run(project, "wait")
    try:
        api = "/api/pipelines/wait/runs"
        doc = wait_for(lambda: (lambda r: r if r and r["tasks"]["shaky"]["state"] == "retrying" else None)(
            (client.get(api).json()["runs"] or [None])[0]), "the task to wait for its retry")
        page = client.get(f"/pipelines/wait/runs/{doc['run_id']}/tasks/shaky/log").text
        big = re.findall(r'<span class="state big" data-state="(\w+)"[^>]*>([^<]*)</span>', page)
        assert big == [("failed", "✗ attempt 1 failed")], big
        assert 'data-state="retrying">↻ retrying</span> on attempt 1)' in page
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(30)


def test_a_killed_run_draws_its_task_cancelled_and_its_resume_counts_every_execution(project, pipe, write_pipeline,
                                                                                     client, new_page, serve):
    write_pipeline("killed", KILLABLE)
    run_id = kill_while_slow_runs(project, pipe, "killed")
    # The watcher stops the task's group (SIGTERM ends the loop): then it is cancelled.
    wait_for(lambda: status(pipe, "killed", "--run", run_id)["tasks"]["slow"]["state"] == "cancelled",
             "the killed pipe's task to be stopped")
    page = client.get(f"/pipelines/killed/runs/{run_id}").text
    assert 'data-run-state="interrupted"' in page
    [bar] = bars(page, "slow")
    assert bar["state"] == "cancelled", bar
    assert 'data-state="running"' not in page.split('<section id="timeline"')[1]
    assert bar["width"] > 100, bar          # it ran about a second of a short run: not a sliver
    attempt = client.get(f"/pipelines/killed/runs/{run_id}/tasks/slow/log?attempt=1").text
    assert re.findall(r'<span class="state big" data-state="(\w+)"', attempt) == ["cancelled"]
    first_length = seconds(field(page, "duration"))
    assert first_length >= 1.0, first_length          # up to the task's last log line, not its start

    time.sleep(2.0)                                   # the run stands still before the resume
    (project / "pipelines" / "gate").touch()
    r = pipe("resume", "killed", run_id)
    assert r.returncode == 0, r.stderr
    doc = status(pipe, "killed", "--run", run_id)
    assert doc["state"] == "succeeded" and doc["tasks"]["slow"]["attempt"] == 2

    page = client.get(f"/pipelines/killed/runs/{run_id}").text
    assert re.search(r'<span class="resumed" data-resumes="1">resumed</span>', page)
    executions = [seconds(x) for x in re.findall(r'<span class="exec"[^>]*>([^<]+)</span>', field_html(page))]
    assert len(executions) == 2 and executions[0] == pytest.approx(first_length, abs=0.1), executions
    total = seconds(field(page, "duration"))
    assert total == pytest.approx(sum(executions), abs=0.2) and total > executions[1] + 0.9, (total, executions)
    assert seconds(field(page, "wall")) >= total + 1.9       # the 2 s it stood still count in the wall time only
    # The timeline lays the two executions side by side: the 2 s standing still take no room.
    one, two = bars(page, "slow")
    assert (one["state"], two["state"]) == ("cancelled", "succeeded")
    assert 0 <= two["x"] - (one["x"] + one["width"]) <= 30, (one, two)       # the gap, and a resume's start
    share = (900 - 170 - 10 - 14) * executions[0] / sum(executions)     # its share of the time it ran
    assert one["width"] == pytest.approx(share, rel=0.1), (one, executions)
    assert 'data-resume="1"' in page
    # The pipeline page's list of runs counts both executions too, and says resumed.
    runs = client.get("/pipelines/killed").text
    row = re.search(rf'<tr data-run="{run_id}">(.*?)</tr>', runs, re.S).group(1)
    assert 'data-resumes="1"' in row
    assert seconds(re.search(r'data-label="Duration"><span>([^<]+)</span>', row).group(1)) == pytest.approx(total,
                                                                                                            abs=0.2)
    # And in Chromium: what it looks like.
    server = serve()
    browser_page = new_page(server.url)
    browser_page.goto(f"{server.url}/pipelines/killed/runs/{run_id}")
    expect(browser_page.locator(".headline .resumed")).to_have_text("resumed")
    expect(browser_page.locator('svg.gantt g.row[data-task="slow"] rect.bar')).to_have_count(2)
    browser_page.screenshot(path="/tmp/web-resumed-run.png", full_page=True)
    browser_page.goto(f"{server.url}/pipelines/killed/runs/{run_id}/tasks/slow/log?attempt=1")
    expect(browser_page.locator(".headline .state.big")).to_have_text("⊘ attempt 1 cancelled")


def field_html(html: str) -> str:
    m = re.search(r'<dd data-field="executions">(.*?)</dd>', html, re.S)
    assert m, "no executions on the page"
    return m.group(1)


def test_a_screenshot_of_a_failed_then_succeeded_attempt(project, pipe, write_pipeline, serve, new_page):
    write_pipeline("retry", """
        tasks:
          shaky:
            retries: 1
            run: |
              if [ -f tried ]; then echo "second try"; else touch tried; echo "first try"; exit 5; fi
    """)
    assert pipe("run", "retry").returncode == 0
    run_id = status(pipe, "retry")["run_id"]
    server = serve()
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/retry/runs/{run_id}/tasks/shaky/log?attempt=1")
    badge = page.locator(".headline .state.big")
    expect(badge).to_have_text("✗ attempt 1 failed")
    assert badge.get_attribute("data-state") == "failed"
    assert page.locator("#log").text_content() == "first try\n"
    page.screenshot(path="/tmp/web-failed-attempt.png", full_page=True)
    page.goto(f"{server.url}/pipelines/retry/runs/{run_id}")
    page.screenshot(path="/tmp/web-retried-run.png", full_page=True)


# --- a running run's times ----------------------------------------------------------------------

def test_a_running_run_s_durations_move_on_between_changes_and_after_a_refresh(project, write_pipeline, serve,
                                                                                new_page):
    write_pipeline("two", TWO)
    server = serve()
    run = start_run(project, "two")
    gates = project / "pipelines"
    try:
        page = new_page(server.url)
        wait_for(lambda: httpx_running(server.url, "two", "slow"), "slow to run")
        run_id = httpx_running(server.url, "two", "slow")
        page.goto(f"{server.url}/pipelines/two/runs/{run_id}")
        run_duration = page.locator('#summary dd[data-field="duration"]')
        slow_duration = page.locator('tr[data-task="slow"] td[data-label="Duration"]')
        before = (seconds(run_duration.inner_text()), seconds(slow_duration.inner_text()))
        page.wait_for_timeout(1500)
        after = (seconds(run_duration.inner_text()), seconds(slow_duration.inner_text()))
        assert after[0] > before[0] and after[1] > before[1], (before, after)
        # A change of state swaps the page's regions in: the new ones tick on from the server's value.
        page.evaluate("window.notReloaded = true")
        (gates / "gate1").touch()
        page.wait_for_selector('tr[data-task="quick"][data-state="succeeded"]', timeout=WAIT)
        fresh = (seconds(run_duration.inner_text()), seconds(slow_duration.inner_text()))
        page.wait_for_timeout(1500)
        later = (seconds(run_duration.inner_text()), seconds(slow_duration.inner_text()))
        assert later[0] > fresh[0] >= after[0] and later[1] > fresh[1] >= after[1], (after, fresh, later)
        assert page.evaluate("window.notReloaded") is True
        (gates / "gate2").touch()
        page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
        # Finished: nothing ticks any more.
        assert page.locator("[data-tick]").count() == 0
        done = run_duration.inner_text()
        page.wait_for_timeout(600)
        assert run_duration.inner_text() == done
    finally:
        (gates / "gate1").touch()
        (gates / "gate2").touch()
        assert run.wait(60) == 0


def httpx_running(url: str, name: str, task: str) -> str | None:
    import httpx

    r = httpx.get(f"{url}/api/pipelines/{name}/runs", params={"limit": 1})
    if r.status_code != 200 or not r.json()["runs"]:
        return None
    doc = r.json()["runs"][0]
    return doc["run_id"] if doc["tasks"].get(task, {}).get("state") == "running" else None


def test_a_killed_pipe_s_leftover_task_turns_cancelled_on_the_open_page(project, write_pipeline, serve, new_page):
    write_pipeline("stubborn", STUBBORN)
    server = serve()
    run = start_run(project, "stubborn", env={"PIPE_KILL_GRACE": "3"})
    try:
        run_id = wait_for(lambda: httpx_running(server.url, "stubborn", "stubborn"), "the task to run")
        page = new_page(server.url)
        page.goto(f"{server.url}/pipelines/stubborn/runs/{run_id}")
        page.evaluate("window.notReloaded = true")
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    # The task ignores SIGTERM: it runs on, shown running, until the watcher's SIGKILL.
    page.wait_for_selector('[data-run-state="interrupted"]', timeout=WAIT)
    page.wait_for_selector('tr[data-task="stubborn"][data-state="cancelled"]', timeout=WAIT)
    assert page.evaluate("window.notReloaded") is True
    assert page.locator('svg.gantt rect.bar').get_attribute("data-state") == "cancelled"
    (project / "pipelines" / "gate").touch()


# --- clocks and schedules ------------------------------------------------------------------------

def test_a_host_whose_clock_is_ahead_gives_no_negative_duration(project, write_pipeline, client):
    write_pipeline("demo", "tasks: {hello: {run: 'true'}, after: {run: 'true', deps: [hello]}}\n")
    ahead = datetime.now(timezone.utc) + timedelta(hours=1)
    run_id = "20261124T060000123Z-manual-1a2b"
    run_dir = project / ".pipe" / "demo" / "runs" / run_id
    (run_dir / "logs").mkdir(parents=True)
    events = [
        {"event": "run_started", "time": ahead.isoformat(), "format": 1, "run_id": run_id, "pipeline": "demo",
         "kind": "manual", "params": {}, "tasks": ["hello", "after"], "executor": "local", "pid": 999999,
         "pid_start": "1", "host": "worker-7.example"},
        {"event": "task", "time": (ahead + timedelta(seconds=3)).isoformat(), "task": "hello", "state": "running",
         "attempt": 1}]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run_dir / "logs" / "hello.1.log").write_text("")
    page = client.get(f"/pipelines/demo/runs/{run_id}").text
    assert "running on worker-7.example" in page
    durations = [field(page, "duration"), re.search(r'<tr data-task="hello".*?data-label="Duration"[^>]*>([^<]*)<',
                                                    page, re.S).group(1)]
    for text in durations:
        assert seconds(text) >= 0, durations
    assert seconds(durations[0]) >= 3, durations      # its own clock: 3 s between its events
    for value in re.findall(r'data-tick="([^"]*)"', page):
        assert float(value) >= 0, value
    assert "-" not in "".join(re.findall(r'<title>[^<]*attempt[^<]*</title>', page))
    log = client.get(f"/pipelines/demo/runs/{run_id}/tasks/hello/log").text
    assert seconds(field(log, "duration")) >= 0
    listing = client.get("/pipelines/demo").text
    assert seconds(re.search(r'data-label="Duration"><span[^>]*>([^<]+)</span>', listing).group(1)) >= 0


def test_a_past_next_due_time_says_overdue_as_pipe_list_does(project, pipe, write_pipeline, client):
    write_pipeline("hourly", 'schedule: "@hourly"\ntasks: {a: {run: "true"}}\n')
    write_pipeline("later", 'schedule: "@yearly"\nstart_date: 2999-01-01\ntasks: {a: {run: "true"}}\n')
    listed = {r["name"]: r for r in json.loads(pipe("list", "--json").stdout)["pipelines"]}
    assert listed["hourly"]["overdue"] is True and listed["later"]["overdue"] is False, listed
    assert "(overdue)" in pipe("list").stdout
    overview = client.get("/").text
    for name, overdue in (("hourly", True), ("later", False)):
        row = re.search(rf'<tr data-pipeline="{name}">(.*?)</tr>', overview, re.S).group(1)
        cell = re.search(r'data-label="Next due">(.*?)</td>', row, re.S).group(1)
        assert ('<span class="overdue" data-overdue="true">overdue</span>' in cell) == overdue, (name, cell)
        facts = client.get(f"/pipelines/{name}").text.split("</dl>")[0]
        assert ("overdue</span>" in facts) == overdue, (name, facts)
