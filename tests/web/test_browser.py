"""`pipe serve` in a real browser: Debian's Chromium driven by Playwright, against real
`pipe serve` and `pipe run` processes. Each page fixture also checks, at the end of the
test, that every request went to the server's own origin and that no console error, page
error or dialog happened (see conftest.py). Screenshots go to the `shots` folder."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect

from conftest import clean_env

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15_000      # ms: the longest any page may take to show a change (a generous bound, not a measure)

GATED = """
    description: Waits for gate files, so the test decides when each step happens
    tasks:
      first:
        run: echo first
      slow:
        deps: [first]
        run: |
          echo "line one"
          while [ ! -f gate1 ]; do sleep 0.05; done
          echo "line two after the gate"
          while [ ! -f gate2 ]; do sleep 0.05; done
          echo "last line"
      after:
        deps: [slow]
        run: echo after
"""


def start_run(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", *args], cwd=project, env=clean_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def api_wait(url: str, pipeline: str, check, timeout: float = 60) -> dict:
    """Poll the JSON API until check(latest run document) is true; returns that document."""
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        r = httpx.get(f"{url}/api/pipelines/{pipeline}/runs", params={"limit": 1})
        if r.status_code == 200 and r.json()["runs"]:
            doc = r.json()["runs"][0]          # newest first
            if check(doc):
                return doc
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting on {pipeline}: {doc}")


def status_json(pipe, *args) -> dict:
    result = pipe("status", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_overview_lists_the_pipelines(project, pipe, write_pipeline, serve, new_page, shots):
    write_pipeline("alpha", "tasks: {a: {run: echo a}}\n")
    write_pipeline("beta", 'schedule: "@daily"\ndescription: The second one\ntasks: {b: {run: "false"}}\n')
    assert pipe("run", "alpha").returncode == 0
    assert pipe("run", "beta").returncode == 1
    server = serve()
    page = new_page(server.url)
    page.goto(server.url + "/")
    for name, state in [("alpha", "succeeded"), ("beta", "failed")]:
        row = page.locator(f'tr[data-pipeline="{name}"]')
        link = row.locator("td.name a")
        assert link.inner_text() == name
        assert link.get_attribute("href") == f"/pipelines/{name}"
        assert row.locator(f'.sq[data-state="{state}"]').count() == 1
        assert state in row.inner_text()
    # A new run shows up in the overview by itself.
    page.evaluate("window.notReloaded = true")
    assert pipe("run", "alpha").returncode == 0
    expect(page.locator('tr[data-pipeline="alpha"] .sq')).to_have_count(2, timeout=WAIT)
    assert page.evaluate("window.notReloaded") is True
    page.locator('tr[data-pipeline="beta"] td.name a').click()
    page.wait_for_url(server.url + "/pipelines/beta")
    cell = page.locator('td[data-task="b"]')
    assert cell.get_attribute("data-state") == "failed" and "failed" in cell.inner_text()
    page.screenshot(path=str(shots / "pipeline-grid-light.png"), full_page=True)


def test_run_page_shows_a_task_go_from_running_to_succeeded_without_reload(project, write_pipeline, serve,
                                                                           new_page, shots):
    write_pipeline("gated", GATED)
    server = serve()
    run = start_run(project, "gated")
    try:
        doc = api_wait(server.url, "gated", lambda d: d["tasks"].get("slow", {}).get("state") == "running")
        page = new_page(server.url, viewport={"width": 1280, "height": 500})
        page.goto(f"{server.url}/pipelines/gated/runs/{doc['run_id']}")
        row = page.locator('tr[data-task="slow"]')
        assert row.get_attribute("data-state") == "running" and "running" in row.inner_text()
        assert page.locator('svg.dag g[data-task="slow"]').get_attribute("data-state") == "running"
        page.evaluate("window.scrollTo(0, 200); window.notReloaded = true")
        page.screenshot(path=str(shots / "run-running-light.png"), full_page=True)
        (project / "pipelines" / "gate1").touch()
        (project / "pipelines" / "gate2").touch()
        page.wait_for_selector('tr[data-task="slow"][data-state="succeeded"]', timeout=WAIT)
        page.wait_for_selector('tr[data-task="after"][data-state="succeeded"]', timeout=WAIT)
        page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
        assert "succeeded" in page.locator('tr[data-task="slow"]').inner_text()
        assert page.locator('svg.dag g[data-task="slow"]').get_attribute("data-state") == "succeeded"
        assert page.evaluate("window.notReloaded") is True            # the same document: no reload
        assert page.evaluate("window.scrollY") == 200                 # and the reader's place kept
    finally:
        (project / "pipelines" / "gate1").touch()
        (project / "pipelines" / "gate2").touch()
        assert run.wait(60) == 0, run.stderr.read()


def test_log_page_tails_a_running_task(project, write_pipeline, serve, new_page):
    write_pipeline("gated", GATED)
    server = serve()
    run = start_run(project, "gated")
    try:
        doc = api_wait(server.url, "gated", lambda d: d["tasks"].get("slow", {}).get("state") == "running")
        page = new_page(server.url)
        waiting = new_page(server.url)      # the log page of a task that has not started yet
        waiting.goto(f"{server.url}/pipelines/gated/runs/{doc['run_id']}/tasks/after/log")
        assert "has not started" in waiting.locator("main").inner_text()
        page.goto(f"{server.url}/pipelines/gated/runs/{doc['run_id']}/tasks/slow/log")
        expect(page.locator("#log")).to_contain_text("line one", timeout=WAIT)
        assert "line two" not in page.locator("#log").text_content()
        assert page.locator('[data-task="slow"]').first.get_attribute("data-state") == "running"
        page.evaluate("window.notReloaded = true")
        (project / "pipelines" / "gate1").touch()
        expect(page.locator("#log")).to_contain_text("line two after the gate", timeout=WAIT)
        (project / "pipelines" / "gate2").touch()
        expect(page.locator("#log")).to_contain_text("last line", timeout=WAIT)
        page.wait_for_selector('p.headline[data-task="slow"][data-state="succeeded"]', timeout=WAIT)
        assert page.locator("#log").text_content() == "line one\nline two after the gate\nlast line\n"
        assert page.evaluate("window.notReloaded") is True
        # The other page switched to the task's log when the task started.
        expect(waiting.locator("#log")).to_have_text("after\n", timeout=WAIT)
        expect(waiting.locator('p.headline[data-task="after"]')).to_have_attribute("data-state", "succeeded",
                                                                                 timeout=WAIT)
    finally:
        (project / "pipelines" / "gate1").touch()
        (project / "pipelines" / "gate2").touch()
        assert run.wait(60) == 0, run.stderr.read()


def test_umbrella_dag_shows_every_task_with_its_state(tmp_path, pipe, serve, new_page, shots):
    project = tmp_path / "umbrella-project"
    shutil.copytree(ROOT / "pipelines", project / "pipelines", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = pipe("run", "umbrella", "--date", "2026-11-08", "-p", "features=weekend", cwd=project)
    assert result.returncode in (0, 1), result.stderr
    run_id = sorted(p.name for p in (project / ".pipe" / "umbrella" / "runs").iterdir())[-1]
    doc = json.loads(pipe("status", "umbrella", "--run", run_id, "--json", cwd=project).stdout)["run"]
    server = serve(cwd=project)
    url = f"{server.url}/pipelines/umbrella/runs/{run_id}"
    for scheme in ("light", "dark"):
        for width in (1280, 390):
            page = new_page(server.url, viewport={"width": width, "height": 900}, color_scheme=scheme)
            page.goto(url)
            nodes = page.locator("svg.dag g.node")
            assert nodes.count() == len(doc["tasks"]) == 8
            for task, t in doc["tasks"].items():
                node = page.locator(f'svg.dag g.node[data-task="{task}"]')
                assert node.get_attribute("data-state") == t["state"]
                assert t["state"] in node.locator("text.st").text_content()
                assert task in node.locator("text.id").text_content()
                row = page.locator(f'tr[data-task="{task}"]')
                assert row.get_attribute("data-state") == t["state"] and t["state"] in row.inner_text()
            assert no_horizontal_scroll(page), (scheme, width)
            page.screenshot(path=str(shots / f"run-umbrella-{scheme}-{width}.png"), full_page=True)
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background == "rgb(255, 255, 255)") == (scheme == "light"), background
            for path in ["/", "/pipelines/umbrella", f"/pipelines/umbrella/runs/{run_id}/tasks/train/log"]:
                page.goto(server.url + path)
                name = path.strip("/").replace("/", "-")[:40] or "overview"
                page.screenshot(path=str(shots / f"{name}-{scheme}-{width}.png"), full_page=True)
                assert no_horizontal_scroll(page), (path, scheme, width)


def test_trigger_from_the_page_starts_a_manual_run(project, pipe, write_pipeline, serve, new_page):
    write_pipeline("greet", """
        params: {who: world}
        tasks:
          hello:
            run: echo "hello {{ params.who }}"
    """)
    server = serve("--actions")
    page = new_page(server.url)
    page.goto(server.url + "/pipelines/greet")
    page.locator("details.action summary").click()
    page.fill('input[name="param.who"]', "Ada")
    page.locator('form.trigger button[type="submit"]').click()
    page.wait_for_url(re.compile(r".*/pipelines/greet/runs/[0-9]{8}T[0-9]{9}Z-manual-[0-9a-f]{4}$"))
    run_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
    doc = status_json(pipe, "greet", "--run", run_id)["run"]
    assert doc["kind"] == "manual" and doc["params"] == {"who": "Ada"} and doc["state"] == "succeeded"
    assert run_id in [r["run_id"] for r in status_json(pipe, "greet")["pipelines"][0]["runs"]]
    log = pipe("logs", "greet", "hello", "--run", run_id)
    assert log.stdout == "hello Ada\n"


HOSTILE = r"""
    description: '<img src=x onerror=alert(1)> <script>alert(2)</script>'
    params:
      note: '"><script>alert(3)</script>'
    tasks:
      speak:
        run: |
          printf '%s\n' '<script>alert(4)</script>' '"onerror=alert(5) x="' '../../etc/passwd' '<img src=x onerror=alert(6)>'
      fail:
        deps: [speak]
        run: echo '</pre><script>alert(7)</script>'; exit 4
"""


def test_hostile_names_params_and_logs_run_no_script(project, pipe, write_pipeline, serve, new_page):
    write_pipeline("hostile", HOSTILE)
    result = pipe("run", "hostile", "-p", "note=<svg onload=alert(8)>../../x")
    assert result.returncode == 1, result.stderr
    run_id = json.loads(pipe("status", "hostile", "--json").stdout)["run"]["run_id"]
    server = serve("--actions")
    page = new_page(server.url)
    base = f"{server.url}/pipelines/hostile/runs/{run_id}"
    for path in ["/", "/pipelines/hostile", f"/pipelines/hostile/runs/{run_id}", f"/pipelines/hostile/runs/{run_id}/tasks/speak/log",
                 f"/pipelines/hostile/runs/{run_id}/tasks/fail/log"]:
        page.goto(server.url + path)
        page.wait_for_load_state("load")
        assert page.locator("img[src=x], main script, svg[onload]").count() == 0, path
    page.goto(f"{base}/tasks/speak/log")
    assert page.locator("#log").text_content() == ('<script>alert(4)</script>\n"onerror=alert(5) x="\n'
                                                   '../../etc/passwd\n<img src=x onerror=alert(6)>\n')
    page.goto(base)
    assert "<svg onload=alert(8)>../../x" in page.locator("table.params").inner_text()
    page.goto(server.url + "/pipelines/hostile")
    assert "<img src=x onerror=alert(1)>" in page.locator("dl.facts").inner_text()
    assert page.locator('input[name="param.note"]').input_value() == '"><script>alert(3)</script>'
    # problems (dialogs, console errors) and foreign requests are checked when the test ends


def test_a_500_task_run_page_draws_every_task(project, pipe, write_pipeline, serve, new_page, shots):
    # 20 chains of 25 tasks, joined at the end: wide and deep.
    lines = ["tasks:"]
    for c in range(20):
        for k in range(25):
            lines.append(f"  c{c:02d}_t{k:02d}: {{run: 'true'{f', deps: [c{c:02d}_t{k - 1:02d}]' if k else ''}}}")
    lines.append("  end: {run: 'true', deps: [" + ", ".join(f"c{c:02d}_t24" for c in range(20)) + "]}")
    write_pipeline("big", "\n".join(lines) + "\n")
    assert pipe("run", "big", timeout=300).returncode == 0
    run_id = status_json(pipe, "big")["run"]["run_id"]
    server = serve()
    page = new_page(server.url, viewport={"width": 1280, "height": 900})
    page.goto(f"{server.url}/pipelines/big/runs/{run_id}")
    assert page.locator("svg.dag g.node").count() == 501
    assert page.locator('svg.dag g.node[data-state="succeeded"]').count() == 501
    assert page.locator("svg.dag path").count() == 20 * 24 + 20
    assert page.locator('tr[data-task][data-state="succeeded"]').count() == 501
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(shots / "run-500-tasks.png"))
    node = page.locator('svg.dag g.node[data-task="end"]')
    assert node.evaluate("n => getComputedStyle(n).opacity") == "1"
    page.check("#dim-done")
    assert float(node.evaluate("n => getComputedStyle(n).opacity")) < 0.5
    page.locator('svg.dag g.node[data-task="end"]').scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "run-500-tasks-end.png"))


def test_a_rebound_name_cannot_read_the_pages_or_start_a_run(project, pipe, write_pipeline, serve, browser, shots):
    # DNS rebinding: names of somebody else's that resolve to 127.0.0.1 in this browser. Neither
    # may read a page, take the CSRF token, or trigger a run; http://127.0.0.1:PORT/ works.
    write_pipeline("greet", "tasks: {hello: {run: echo hello}}\n")
    server = serve("--actions")
    port = server.url.rsplit(":", 1)[1]
    rules = "--host-resolver-rules=MAP 127.attacker.example 127.0.0.1, MAP 127.0.0.1.nip.io 127.0.0.1"
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", rules]
    rebound = browser.browser_type.launch(executable_path=shutil.which("chromium"), headless=True, args=args)
    try:
        page = rebound.new_page()
        for name in ("127.attacker.example", "127.0.0.1.nip.io"):
            origin = f"http://{name}:{port}"
            response = page.goto(origin + "/pipelines/greet")
            assert response is not None and response.status == 421, name    # it reached the server
            assert "unexpected Host header" in page.content()
            assert "greet" not in page.content() and page.locator('input[name="csrf"]').count() == 0
            # The attacker's own script, running on its origin, tries to read and to act.
            result = page.evaluate("""async () => {
                const read = await fetch('/api/pipelines').then(r => [r.status, r.text()]);
                const html = await fetch('/pipelines/greet').then(r => r.text());
                const csrf = (html.match(/name="csrf" value="([^"]*)"/) || [null, ''])[1];
                const body = new URLSearchParams({csrf});
                const act = await fetch('/pipelines/greet/trigger', {method: 'POST', body, redirect: 'manual'})
                    .then(r => r.status);
                return {status: read[0], text: await read[1], csrf, act};
            }""")
            assert result["status"] == 421 and "greet" not in result["text"], result
            assert result["csrf"] == "" and result["act"] == 421, result
        page.screenshot(path=str(shots / "rebound-name-refused.png"))
        # The page on its own address works, token and all, and can start a run.
        page.goto(server.url + "/pipelines/greet")
        assert page.locator('input[name="csrf"]').count() == 1
        page.locator("details.action summary").click()
        page.locator('form.trigger button[type="submit"]').click()
        page.wait_for_url(re.compile(r".*/pipelines/greet/runs/[0-9]{8}T[0-9]{9}Z-manual-[0-9a-f]{4}$"))
        page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
    finally:
        rebound.close()
    runs = status_json(pipe, "greet")["pipelines"][0]["runs"]
    assert len(runs) == 1 and runs[0]["kind"] == "manual"      # only the run of 127.0.0.1 was started
