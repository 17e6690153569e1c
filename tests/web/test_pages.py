"""The web UI's pages as a person reads and uses them (issue 24): Debian's Chromium driven
by Playwright against real `pipe serve` and `pipe run` processes. Screenshots go to the
`shots` folder ($PIPE_TEST_ARTIFACTS/web-screenshots in CI)."""
from __future__ import annotations

import html
import json
import re

import httpx

from playwright.sync_api import expect

WAIT = 15_000

MODEL = """
    description: Trains and checks a model
    params:
      alpha: 0.5
    tasks:
      train:
        description: Fits the model on the interval's data
        run: |
          echo mae=0.31 >> "$PIPE_OUTPUT"
          echo rmse=0.44 >> "$PIPE_OUTPUT"
          echo promoted=true >> "$PIPE_OUTPUT"
      check:
        deps: [train]
        run: |
          echo "checking the model"
          echo "loss went up: 0.44 > 0.40" >&2
          exit 3
"""


def run_id_of(pipe, name: str) -> str:
    out = pipe("status", name, "--json")
    return json.loads(out.stdout)["pipelines"][0]["runs"][0]["run_id"]      # newest first


def test_run_page_shows_outputs_descriptions_params_and_why_a_task_failed(project, pipe, write_pipeline, serve,
                                                                          new_page, shots):
    write_pipeline("model", MODEL)
    result = pipe("run", "model", "-p", "alpha=0.7")
    assert result.returncode == 1, result.stderr
    run_id = run_id_of(pipe, "model")
    server = serve()
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/model/runs/{run_id}")
    train = page.locator('tr[data-task="train"]')
    # What tasks.train.outputs holds, each key beside its value.
    assert train.locator('[data-output="mae"]').inner_text() == "0.31"
    assert train.locator('[data-output="rmse"]').inner_text() == "0.44"
    assert train.locator('[data-output="promoted"]').inner_text() == "true"
    assert train.locator('[data-field="description"]').inner_text() == "Fits the model on the interval's data"
    # The failed task: its exit code and the last lines of its log, at a glance.
    check = page.locator('tr[data-task="check"]')
    assert "exit code 3" in check.locator("td.reason").inner_text()
    tail = check.locator('[data-field="log-tail"]').inner_text()
    assert "checking the model" in tail and "loss went up: 0.44 > 0.40" in tail
    # The params and the interval.
    params = page.locator("table.params")
    assert "alpha" in params.inner_text() and "0.7" in params.inner_text()
    assert "→" in page.locator("dl.facts").inner_text()
    page.screenshot(path=str(shots / "run-outputs-1280.png"), full_page=True)


def test_invalid_pipeline_file_says_file_line_and_column_on_the_pages(project, pipe, write_pipeline, serve,
                                                                     new_page, shots):
    write_pipeline("good", "tasks: {a: {run: echo a}}\n")
    path = write_pipeline("broken", """
        tasks:
          a:
            run: echo a
            deps: [nowhere]
        """)
    said = pipe("validate", "broken")
    assert said.returncode != 0
    expected = [line for line in (said.stderr + said.stdout).splitlines() if "broken.yaml:" in line]
    assert expected, said.stderr
    server = serve()
    page = new_page(server.url)
    page.goto(server.url + "/")
    problems = page.locator('tr[data-pipeline="broken"] [data-field="problems"]')
    text = problems.inner_text()
    assert f"{path}:" in text and "nowhere" in text
    assert any(":" in line and line.split(":")[1].isdigit() for line in text.splitlines())   # file:line
    page.locator('tr[data-pipeline="broken"] td.name a').click()
    page.wait_for_url(server.url + "/pipelines/broken")
    assert "nowhere" in page.locator('#about [data-field="problems"]').inner_text()
    # Its file is shown, open, with the line the message names marked.
    line = int(re.search(rf"{re.escape(str(path))}:(\d+):", text).group(1))
    assert page.locator("details#file").get_attribute("open") is not None
    assert page.locator("#source .ln[data-problem]").evaluate_all("els => els.map(e => e.id)") == [f"F{line}"]
    assert page.locator(f"#F{line}").inner_text().strip().startswith("deps: [nowhere]")
    assert page.locator("#source .y-k").first.inner_text() == "tasks"
    page.screenshot(path=str(shots / "invalid-file-1280.png"), full_page=True)
    # Fixed, the page says so without a reload.
    page.goto(server.url + "/")
    path.write_text("tasks: {a: {run: echo a}}\n")
    expect(page.locator('tr[data-pipeline="broken"] [data-field="problems"]')).to_have_count(0, timeout=WAIT)


DAILY = """
    schedule: "@daily"
    start_date: 2026-08-01
    tasks:
      load:
        run: '[ "$PIPE_DS" != 2026-09-03 ]'
      report:
        deps: [load]
        run: echo report
"""


def grid_dates(page) -> list[str]:
    return [d[:10] for d in page.locator("th.runhead").evaluate_all(
        "els => els.map(e => e.getAttribute('data-logical-date'))")]


def test_the_grid_orders_runs_by_logical_date_and_jumps_and_filters(project, pipe, write_pipeline, serve,
                                                                   new_page, shots):
    write_pipeline("daily", DAILY)
    # Later dates first: the run ids' order is not the logical dates' order.
    assert pipe("backfill", "daily", "--start", "2026-09-04", "--end", "2026-09-05").returncode == 0
    assert pipe("backfill", "daily", "--start", "2026-09-01", "--end", "2026-09-03").returncode == 1
    assert pipe("backfill", "daily", "--start", "2026-08-10", "--end", "2026-08-11").returncode == 0
    server = serve()
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/daily")
    dates = grid_dates(page)
    assert dates == ["2026-08-10", "2026-08-11", "2026-09-01", "2026-09-02", "2026-09-03", "2026-09-04",
                     "2026-09-05"], dates
    # Each column says its logical date, and its hover the run id, kind, interval, state and duration.
    head = page.locator('th.runhead').nth(4)
    assert head.locator(".ld").inner_text().startswith("09-03")
    title = head.locator("a.sq").get_attribute("title")
    run_id = head.get_attribute("data-run")
    assert run_id in title and "backfill run" in title and "interval 2026-09-03" in title
    assert "→ 2026-09-04" in title and "failed" in title and re.search(r"\d+(\.\d)?s", title), title
    assert head.locator(".dbar").count() == 1
    page.screenshot(path=str(shots / "grid-1280.png"), full_page=True)
    # A date jump: the runs up to that day, newest on the right.
    page.fill('input[name="date"]', "2026-09-02")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url(re.compile(r"date=2026-09-02"))
    assert grid_dates(page) == ["2026-08-10", "2026-08-11", "2026-09-01", "2026-09-02"]
    # Filters by state and by kind, the run table below showing the same runs.
    page.goto(f"{server.url}/pipelines/daily")
    page.select_option('select[name="state"]', "failed")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url(re.compile(r"state=failed"))
    assert grid_dates(page) == ["2026-09-03"]
    assert page.locator("#runs tr[data-run]").count() == 1
    page.goto(f"{server.url}/pipelines/daily?kind=manual")
    assert "No runs match." in page.locator("#grid").inner_text()
    # Keyboard: arrows move between the cells.
    page.goto(f"{server.url}/pipelines/daily?n=3")
    first = page.locator('table.grid tbody .cell[tabindex="0"]')
    assert first.count() == 1
    first.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("[document.activeElement.closest('td').dataset.task, "
                            "document.activeElement.getAttribute('href')]")
    assert focused[0] == "report" and focused[1], focused


def test_overview_says_last_run_time_relative_times_and_filters_by_name(project, pipe, write_pipeline, serve,
                                                                        new_page, shots):
    write_pipeline("alpha-sales", "tasks: {a: {run: 'sleep 0.3'}}\n")
    write_pipeline("beta-stock", 'schedule: "@hourly"\ntasks: {b: {run: "true"}}\n')
    write_pipeline("gamma-sales", "tasks: {c: {run: 'true'}}\n")
    assert pipe("run", "alpha-sales").returncode == 0
    server = serve()
    page = new_page(server.url, timezone_id="Asia/Tokyo")
    page.goto(server.url + "/")
    last = page.locator('tr[data-pipeline="alpha-sales"] [data-field="last-run"]')
    assert "just now" in last.inner_text() and re.search(r"0\.\ds", last.inner_text()), last.inner_text()
    absolute = last.locator("time").get_attribute("title")
    # As written (UTC), and in the viewer's own zone (this browser's: Asia/Tokyo here).
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \(.+ Asia/Tokyo here\)", absolute), absolute
    due = page.locator('tr[data-pipeline="beta-stock"] td[data-label="Next due"]')
    assert "overdue" in due.inner_text() and due.locator("time").get_attribute("title")
    page.fill("#name-filter", "sales")
    expect(page.locator('tr[data-pipeline="beta-stock"]')).to_be_hidden()
    expect(page.locator('tr[data-pipeline="alpha-sales"]')).to_be_visible()
    expect(page.locator('tr[data-pipeline="gamma-sales"]')).to_be_visible()
    assert "q=sales" in page.url
    # The filter holds through a live update, and without script (?q=) the server filters.
    assert pipe("run", "gamma-sales").returncode == 0
    expect(page.locator('tr[data-pipeline="gamma-sales"] .sq')).to_have_count(1, timeout=WAIT)
    expect(page.locator('tr[data-pipeline="beta-stock"]')).to_be_hidden()
    page.screenshot(path=str(shots / "overview-filtered-1280.png"), full_page=True)
    html = httpx.get(server.url + "/?q=stock").text
    assert re.search(r'<tr data-pipeline="alpha-sales" hidden>', html)
    assert re.search(r'<tr data-pipeline="beta-stock">', html)


TRIGGER = """
    params:
      who: world
      times: 2
    tasks:
      hello:
        run: echo "hello {{ params.who }} x{{ params.times }}"
      after:
        deps: [hello]
        run: echo after
"""


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_trigger_says_what_is_wrong_and_keeps_the_form_then_runs_with_the_options(project, pipe, write_pipeline,
                                                                                 serve, new_page, shots):
    write_pipeline("greet", TRIGGER)
    server = serve("--actions")
    page = new_page(server.url)
    page.goto(server.url + "/pipelines/greet")
    page.locator("#trigger summary").click()
    page.fill('input[name="param.who"]', "Ada")
    for field, value, said in [("date", "2026-13-45", "Date '2026-13-45'"),
                               ("param.times", "two", "Param times 'two': expected a whole number"),
                               ("only", "helo", "did you mean hello?")]:
        page.goto(server.url + "/pipelines/greet")
        page.locator("#trigger summary").click()
        page.fill('input[name="param.who"]', "Ada")
        page.fill(f'input[name="{field}"]', value)
        page.locator('form.trigger button[type="submit"]').click()
        error = page.locator('[data-field="form-error"]')
        expect(error).to_contain_text(said)
        # The form is open again with what was typed in it.
        assert page.locator(f'form.trigger input[name="{field}"]').input_value() == value
        assert page.locator('input[name="param.who"]').input_value() == "Ada"
        assert "Traceback" not in page.content()
    page.screenshot(path=str(shots / "trigger-error-1280.png"), full_page=True)
    assert pipe("status", "greet", "--json").returncode != 0 or '"runs": []' in pipe("status", "greet", "--json").stdout
    # A dry run first: pipe's own plan, nothing run. (The calendar writes its day in the field.)
    page.goto(server.url + "/pipelines/greet")
    page.locator("#trigger summary").click()
    page.fill('input[data-pick-for="date"]', "2026-09-01")
    assert page.locator('form.trigger input[name="date"]').input_value() == "2026-09-01"
    page.fill('form.trigger input[name="date"]', "")
    page.fill('input[name="only"]', "hello")
    page.locator('button[name="dry_run"]').click()
    plan = page.locator('[data-field="plan"]').inner_text()
    assert "hello" in plan, plan
    assert page.locator('input[name="only"]').input_value() == "hello"
    # Then the run, with --only and a param: a manual run that ran hello alone.
    page.fill('input[name="param.who"]', "Grace")
    page.locator('form.trigger button[type="submit"]').click()
    page.wait_for_url(re.compile(r".*/runs/[0-9]{8}T[0-9]{9}Z-manual-[0-9a-f]{4}$"))
    run_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
    doc = json.loads(pipe("status", "greet", "--run", run_id, "--json").stdout)["run"]
    assert doc["params"]["who"] == "Grace", doc["params"]
    assert doc["tasks"]["hello"]["state"] == "succeeded"
    assert doc["tasks"].get("after", {}).get("state") in (None, "skipped"), doc["tasks"]     # --only hello
    assert pipe("logs", "greet", "hello", "--run", run_id).stdout == "hello Grace x2\n"
    # The refused forms were answered 400 (Chromium says so on its console): expected here.
    page.problems[:] = [p for p in page.problems if "status of 400" not in p]


def test_two_triggers_at_once_each_go_to_their_own_run(project, pipe, write_pipeline, serve):
    write_pipeline("pair", "params: {tag: x}\ntasks: {a: {run: 'sleep 0.5; echo {{ params.tag }}'}}\n")
    server = serve("--actions")
    csrf = csrf_of(httpx.get(server.url + "/pipelines/pair").text)
    from concurrent.futures import ThreadPoolExecutor

    def trigger(tag):
        r = httpx.post(f"{server.url}/pipelines/pair/trigger", data={"csrf": csrf, "param.tag": tag}, timeout=60)
        said = re.search(r'data-field="form-error">([^<]*)<', r.text)
        assert r.status_code == 303, (r.status_code, said.group(1) if said else r.text[-2000:])
        return tag, r.headers["location"].rsplit("/", 1)[1]

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(trigger, ["one", "two", "three", "four"]))
    assert len({rid for _, rid in got}) == 4, got
    for tag, rid in got:
        doc = json.loads(pipe("status", "pair", "--run", rid, "--json").stdout)["run"]
        assert doc["params"]["tag"] == tag, (tag, rid, doc["params"])


GATED = """
    tasks:
      first:
        run: echo first
      slow:
        deps: [first]
        run: |
          echo "waiting"
          while [ ! -f gate ]; do sleep 0.05; done
      after:
        deps: [slow]
        run: echo after
"""


def test_cancel_a_running_run_from_its_page_as_ctrl_c(project, pipe, write_pipeline, serve, new_page, shots):
    import subprocess
    import sys

    from conftest import clean_env

    write_pipeline("gated", GATED)
    server = serve("--actions")
    run = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "gated"], cwd=project, env=clean_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        page = new_page(server.url)
        deadline = WAIT / 1000
        import time
        start = time.monotonic()
        run_id = None
        while time.monotonic() - start < deadline:
            doc = httpx.get(f"{server.url}/api/pipelines/gated/runs", params={"limit": 1}).json()
            if doc["runs"] and doc["runs"][0]["tasks"].get("slow", {}).get("state") == "running":
                run_id = doc["runs"][0]["run_id"]
                break
            time.sleep(0.1)
        assert run_id
        page.goto(f"{server.url}/pipelines/gated/runs/{run_id}")
        page.locator('form[data-action="cancel"] button').click()
        page.wait_for_url(f"{server.url}/pipelines/gated/runs/{run_id}")
        expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "interrupted", timeout=WAIT)
        assert page.locator('tr[data-task="slow"]').get_attribute("data-state") == "cancelled"
        assert page.locator('form[data-action="cancel"]').count() == 0
        assert run.wait(30) == 130 or run.returncode != 0
        doc = json.loads(pipe("status", "gated", "--run", run_id, "--json").stdout)["run"]
        assert doc["state"] == "interrupted" and doc["tasks"]["slow"]["state"] == "cancelled"
        page.screenshot(path=str(shots / "run-cancelled-1280.png"), full_page=True)
        # Cancelling it again is said, not done.
        r = httpx.post(f"{server.url}/pipelines/gated/runs/{run_id}/cancel", data={"csrf": csrf_of(page.content())})
        assert r.status_code == 400 and "not running" in r.text
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


FLAKY = """
    tasks:
      prepare:
        run: echo ready
      load:
        deps: [prepare]
        run: '[ -f ok ]'
      report:
        deps: [load]
        run: echo report
"""


def test_rerun_a_task_and_its_downstream_in_a_finished_run(project, pipe, write_pipeline, serve, new_page):
    write_pipeline("flaky", FLAKY)
    assert pipe("run", "flaky").returncode == 1
    run_id = run_id_of(pipe, "flaky")
    (project / "pipelines" / "ok").touch()
    server = serve("--actions")
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/flaky/runs/{run_id}")
    assert page.locator('tr[data-task="report"]').get_attribute("data-state") == "upstream_failed"
    page.locator('tr[data-task="load"] form[data-action="rerun"] button').click()
    page.wait_for_url(f"{server.url}/pipelines/flaky/runs/{run_id}")
    expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "succeeded", timeout=WAIT)
    doc = json.loads(pipe("status", "flaky", "--run", run_id, "--json").stdout)["run"]
    assert doc["tasks"]["load"]["attempt"] == 2 and doc["tasks"]["report"]["state"] == "succeeded"
    assert doc["tasks"]["prepare"]["attempt"] == 1          # upstream of it: kept, not rerun
    # Without a CSRF token, or a task the run does not have: refused.
    assert httpx.post(f"{server.url}/pipelines/flaky/runs/{run_id}/tasks/load/rerun").status_code == 403
    r = httpx.post(f"{server.url}/pipelines/flaky/runs/{run_id}/tasks/nope/rerun",
                   data={"csrf": csrf_of(page.content())})
    assert r.status_code == 400 and "no task 'nope'" in html.unescape(r.text)


COLOURS = r"""
    tasks:
      paint:
        run: |
          printf '\033[1;31merror\033[0m: <b>not bold</b> & \033[32mgreen\033[0m\n'
          printf '\033]0;a title\007plain \033[2Kline\n'
          for i in $(seq 3 120); do echo "line $i"; done
          printf '\033[38;5;4mblue\033[39m <script>alert(1)</script>\n'
"""


def test_a_log_shows_ansi_colours_numbered_lines_and_opens_at_its_top(project, pipe, write_pipeline, serve,
                                                                     new_page, shots):
    write_pipeline("paint", COLOURS)
    assert pipe("run", "paint").returncode == 0
    run_id = run_id_of(pipe, "paint")
    server = serve()
    page = new_page(server.url, viewport={"width": 1280, "height": 600})
    url = f"{server.url}/pipelines/paint/runs/{run_id}/tasks/paint/log"
    page.goto(url)
    log = page.locator("#log")
    # The text is the log's, without its escape sequences; the colours are classes.
    text = log.text_content()
    assert text.startswith("error: <b>not bold</b> & green\nplain line\nline 3\n"), text[:80]
    assert text.endswith("blue <script>alert(1)</script>\n")
    red = page.locator("#L1 .a-fg1")
    assert red.inner_text() == "error" and "a-b" in red.get_attribute("class")
    assert page.evaluate("getComputedStyle(document.querySelector('#L1 .a-fg1')).fontWeight") == "700"
    assert page.locator("#L1 .a-fg2").inner_text() == "green"
    assert page.locator("#L121 .a-fg4").inner_text() == "blue"
    assert page.locator("#log b, #log script").count() == 0
    # A finished log opens at its top.
    assert page.evaluate("window.scrollY") == 0
    assert page.locator('#L1 a.n').get_attribute("href") == "#L1"
    page.screenshot(path=str(shots / "log-ansi-1280.png"))
    # Each line has its link; the address of a line opens the page there, the line marked.
    page.locator("#L60 a.n").click()
    assert page.url.endswith("#L60")
    page.goto(url + "#L100")
    page.reload()
    assert page.evaluate("window.scrollY") > 0
    assert page.evaluate("document.querySelector(':target').id") == "L100"
    # Find: the lines that hold the text.
    page.fill("#log-find", "line 11")
    expect(page.locator("#log-found")).to_have_text("11 lines")          # 11, 110-119
    assert page.locator("#log .ln.hit").count() == 11
    # Wrap toggle.
    page.uncheck("#wrap")
    assert "nowrap" in log.get_attribute("class")


LIVE_COLOURS = r"""
    tasks:
      paint:
        run: |
          printf 'before \033[33myel'
          while [ ! -f gate ]; do sleep 0.05; done
          printf 'low\033[0m after\nnext <i>line</i>\n'
"""


def test_a_running_log_renders_its_new_colours_and_lines_live(project, write_pipeline, serve, new_page):
    import subprocess
    import sys
    import time

    from conftest import clean_env

    write_pipeline("paint", LIVE_COLOURS)
    server = serve()
    run = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "paint"], cwd=project, env=clean_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = httpx.get(f"{server.url}/api/pipelines/paint/runs", params={"limit": 1}).json()
            if doc["runs"] and doc["runs"][0]["tasks"].get("paint", {}).get("state") == "running":
                break
            time.sleep(0.1)
        run_id = doc["runs"][0]["run_id"]
        page = new_page(server.url)
        page.goto(f"{server.url}/pipelines/paint/runs/{run_id}/tasks/paint/log")
        expect(page.locator("#log")).to_have_text("before yel", timeout=WAIT)
        assert page.locator("#follow").count() == 1              # a running attempt: followed
        (project / "pipelines" / "gate").touch()
        expect(page.locator("#log")).to_have_text("before yellow after\nnext <i>line</i>\n", timeout=WAIT)
        # The colour goes on across the two writes, and stops where the log said.
        assert page.locator("#L1 .a-fg3").all_inner_texts() == ["yel", "low"]
        assert page.locator("#L2 a.n").get_attribute("href") == "#L2"
        assert page.locator("#log i").count() == 0
        assert run.wait(30) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def forty_tasks() -> str:
    """40 tasks: 8 chains of 4 from one start, joined by 7 more at the end (wide and deep)."""
    lines = ["tasks:", "  start: {run: 'true'}"]
    for c in range(8):
        for k in range(4):
            dep = "start" if k == 0 else f"c{c}_s{k - 1}"
            lines.append(f"  c{c}_s{k}: {{run: 'true', deps: [{dep}]}}")
    for j in range(7):
        lines.append(f"  join_{j}: {{run: 'true', deps: [c{j}_s3, c{j + 1}_s3]}}")
    return "\n".join(lines) + "\n"


def nodes_inside(page, box_selector: str) -> list[str]:
    """The graph's nodes not wholly inside the visible part of its box."""
    return page.evaluate("""sel => {
        const box = document.querySelector(sel).getBoundingClientRect();
        return [...document.querySelectorAll(sel + ' g.node')].filter(g => {
            const r = g.getBoundingClientRect();
            return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
                   r.bottom > box.bottom + 0.5 || r.width < 20;
        }).map(g => g.dataset.task);
    }""", box_selector)


def test_a_40_task_graph_fits_the_page_and_shows_before_the_first_run(project, pipe, write_pipeline, serve,
                                                                      new_page, shots):
    write_pipeline("forty", forty_tasks())
    server = serve()
    page = new_page(server.url, viewport={"width": 1280, "height": 800})
    # Before any run: the file's graph on the pipeline's page, every task pending.
    page.goto(f"{server.url}/pipelines/forty")
    assert page.locator("#grid svg.dag g.node").count() == 40
    assert page.locator('#grid svg.dag g.node[data-state="pending"]').count() == 40
    assert nodes_inside(page, "#grid .graphbox") == []
    page.screenshot(path=str(shots / "pipeline-graph-before-a-run-1280.png"), full_page=True)
    assert pipe("run", "forty").returncode == 0
    run_id = run_id_of(pipe, "forty")
    page.goto(f"{server.url}/pipelines/forty/runs/{run_id}#graph")
    assert page.locator("#graph svg.dag g.node").count() == 40
    assert nodes_inside(page, "#graph .graphbox") == []
    box = page.evaluate("document.querySelector('#graph .graphbox').getBoundingClientRect().width")
    assert box <= 1280
    page.locator("#graph").screenshot(path=str(shots / "run-graph-40-tasks-1280.png"))
    # Actual size: bigger than the page, the box scrolls.
    page.click("[data-zoom]")
    assert page.locator("[data-zoom]").get_attribute("aria-pressed") == "true"
    assert page.evaluate("(() => { const b = document.querySelector('#graph .graphbox');"
                         " return b.scrollWidth > b.clientWidth || b.scrollHeight > b.clientHeight; })()")
    page.click("[data-zoom]")
    assert nodes_inside(page, "#graph .graphbox") == []


def test_the_pages_pass_an_axe_core_scan_and_a_skip_link_leads_past_the_header(project, pipe, write_pipeline,
                                                                               serve, new_page, axe, shots):
    write_pipeline("model", MODEL)
    write_pipeline("daily", DAILY)
    write_pipeline("paint", COLOURS)
    write_pipeline("broken", "tasks:\n  a: {run: echo, deps: [nowhere]}\n")
    assert pipe("run", "model").returncode == 1
    assert pipe("backfill", "daily", "--start", "2026-09-01", "--end", "2026-09-04").returncode == 1
    assert pipe("run", "paint").returncode == 0
    run_id = run_id_of(pipe, "model")
    server = serve("--actions")
    pages = ["/", "/pipelines/model", "/pipelines/daily", f"/pipelines/model/runs/{run_id}",
             f"/pipelines/model/runs/{run_id}/tasks/check/log", f"/pipelines/paint/runs/{run_id_of(pipe, 'paint')}"
             "/tasks/paint/log", "/pipelines/broken", "/pipelines/nope"]
    for scheme in ("light", "dark"):
        page = new_page(server.url, color_scheme=scheme)
        for path in pages:
            page.goto(server.url + path)
            if path == "/pipelines/model":
                page.locator("#trigger summary").click()
            found = axe(page)
            assert found == [], (scheme, path, found)
        page.problems[:] = [p for p in page.problems if "status of 404" not in p]     # /pipelines/nope
    # The first Tab reaches the skip link; following it puts the keyboard in the content.
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/daily")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.screenshot(path=str(shots / "skip-link-1280.png"))
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('main')")


def test_a_live_update_keeps_the_keyboard_focus(project, write_pipeline, serve, new_page):
    import subprocess
    import sys
    import time

    from conftest import clean_env

    write_pipeline("gated", GATED)
    server = serve()
    run = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "gated"], cwd=project, env=clean_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            doc = httpx.get(f"{server.url}/api/pipelines/gated/runs", params={"limit": 1}).json()
            if doc["runs"] and doc["runs"][0]["tasks"].get("slow", {}).get("state") == "running":
                break
            time.sleep(0.1)
        run_id = doc["runs"][0]["run_id"]
        page = new_page(server.url)
        page.goto(f"{server.url}/pipelines/gated/runs/{run_id}")
        link = page.locator('tr[data-task="first"] td a')
        link.focus()
        href = link.get_attribute("href")
        (project / "pipelines" / "gate").touch()
        page.wait_for_selector('[data-run-state="succeeded"]', timeout=WAIT)
        # The region was swapped: the focused link is a new element, focused all the same.
        assert page.evaluate("document.activeElement.getAttribute('href')") == href
        assert page.evaluate("document.activeElement.closest('tr').dataset.task") == "first"
        assert run.wait(30) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


TOKEN = "s3cret-token-of-the-team"


def test_sign_in_styled_with_an_expiring_cookie_and_sign_out(project, pipe, write_pipeline, serve, new_page, axe,
                                                             shots):
    import time

    write_pipeline("alpha", "tasks: {a: {run: echo a}}\n")
    server = serve("--token", TOKEN)
    for width, height in ((1280, 800), (390, 844)):
        page = new_page(server.url, viewport={"width": width, "height": height})
        page.goto(server.url + "/pipelines/alpha")
        assert page.locator("h1").inner_text() == "Sign in to pipe serve"
        # Styled like the rest (its style inline, allowed by its hash: before signing in no file
        # may be read), the same header, nothing of the state shown.
        assert page.locator("header.top").count() == 1
        assert page.evaluate("getComputedStyle(document.querySelector('section.signin')).borderRadius") == "8px"
        assert page.evaluate("getComputedStyle(document.querySelector('button')).color") == "rgb(255, 255, 255)"
        assert "state folder" not in page.inner_text("body")
        assert axe(page) == []
        page.screenshot(path=str(shots / f"signin-{width}.png"))
        page.problems[:] = [p for p in page.problems if "status of 401" not in p]
    page.fill("#token", "wrong-token-wrong-token")
    page.click('form.signin button[type="submit"]')
    expect(page.locator('[data-field="signin-error"]')).to_have_text("Wrong token: try again.")
    page.fill("#token", TOKEN)
    page.click('form.signin button[type="submit"]')
    page.wait_for_url(server.url + "/pipelines/alpha")
    cookie = next(c for c in page.context.cookies() if c["name"] == "pipe_session")
    # It expires: in 12 hours, from now.
    assert 12 * 3600 - 120 < cookie["expires"] - time.time() <= 12 * 3600 + 5, cookie
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    value = cookie["value"]
    expiry, nonce, mac = value.split(".")
    # Its expiry is signed: a later one written in is refused.
    forged = f"{int(expiry) + 86400}.{nonce}.{mac}"
    assert httpx.get(server.url + "/api/pipelines", cookies={"pipe_session": forged}).status_code == 401
    assert httpx.get(server.url + "/api/pipelines", cookies={"pipe_session": value}).status_code == 200
    # Sign out: the cookie is gone from the browser and refused by the server.
    page.click("form.signout button")
    page.wait_for_url(re.compile(r"/signin\?signedout=1$"))
    expect(page.locator('[data-field="signed-out"]')).to_have_text("You are signed out.")
    assert not [c for c in page.context.cookies() if c["name"] == "pipe_session"]
    assert httpx.get(server.url + "/api/pipelines", cookies={"pipe_session": value}).status_code == 401
    page.goto(server.url + "/")
    assert page.locator("h1").inner_text() == "Sign in to pipe serve"
    page.problems[:] = [p for p in page.problems if "status of 401" not in p]


def test_screenshots_of_every_page_at_1280_and_390_px(project, pipe, write_pipeline, serve, new_page, shots):
    """The pages as a person sees them on a laptop and on a phone (kept as CI artifacts); on
    the phone nothing is wider than the screen."""
    write_pipeline("model", MODEL)
    write_pipeline("daily", DAILY)
    write_pipeline("paint", COLOURS)
    write_pipeline("forty", forty_tasks())
    assert pipe("backfill", "daily", "--start", "2026-08-20", "--end", "2026-09-06").returncode == 1
    assert pipe("run", "model").returncode == 1
    assert pipe("run", "paint").returncode == 0
    assert pipe("run", "forty").returncode == 0
    server = serve("--actions")
    model_run, paint_run = run_id_of(pipe, "model"), run_id_of(pipe, "paint")
    pages = {"overview": "/", "grid": "/pipelines/daily", "run": f"/pipelines/model/runs/{model_run}",
             "run-40": f"/pipelines/forty/runs/{run_id_of(pipe, 'forty')}",
             "log": f"/pipelines/paint/runs/{paint_run}/tasks/paint/log"}
    for scheme in ("light", "dark"):
        for width, height in ((1280, 800), (390, 844)):
            page = new_page(server.url, viewport={"width": width, "height": height}, color_scheme=scheme)
            for name, path in pages.items():
                page.goto(server.url + path)
                page.screenshot(path=str(shots / f"{name}-{scheme}-{width}.png"), full_page=name != "log")
                if name == "grid":
                    page.locator("#grid").screenshot(path=str(shots / f"grid-only-{scheme}-{width}.png"))
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, (name, scheme, width, wide)


def test_the_run_page_lists_its_notifications_and_their_results(project, pipe, write_pipeline, serve, new_page):
    (project / "pipelines" / "alert.sh").write_text("#!/bin/sh\necho sent >> alerts.txt\n")
    (project / "pipelines" / "alert.sh").chmod(0o755)
    write_pipeline("noisy", """
        notify:
          run: ./alert.sh
          manual: true
          when: [failure]
        tasks:
          a:
            run: exit 1
    """)
    assert pipe("run", "noisy").returncode == 1
    run_id = run_id_of(pipe, "noisy")
    doc = json.loads(pipe("status", "noisy", "--run", run_id, "--json").stdout)["run"]
    assert doc["notifications"], doc
    server = serve()
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/noisy/runs/{run_id}")
    rows = page.locator("#notifications tbody tr")
    assert rows.count() == len(doc["notifications"])
    first, sent = rows.first, doc["notifications"][0]
    assert first.get_attribute("data-notify-ok") == ("true" if sent["ok"] else "false")
    assert sent["target"] in first.inner_text() and "failed" in first.inner_text()
    assert ("delivered" in first.inner_text()) == bool(sent["ok"])


def write_finished_run(project, pipeline: str, when, tasks: list[str], n: int, failed: bool, kind: str) -> str:
    """A finished run's folder as pipe writes it (run_started, each task, run_finished)."""
    from datetime import timedelta

    run_id = f"{when:%Y%m%dT%H%M%S}{when.microsecond // 1000:03d}Z-{kind}-{n % 65536:04x}"
    run_dir = project / ".pipe" / pipeline / "runs" / run_id
    (run_dir / "logs").mkdir(parents=True)
    logical = when - timedelta(hours=1)
    events = [{"event": "run_started", "time": when.isoformat(), "format": 1, "run_id": run_id, "pipeline": pipeline,
               "file": None, "kind": kind, "logical_date": logical.isoformat(), "interval_start": logical.isoformat(),
               "interval_end": when.isoformat(), "params": {}, "tasks": tasks, "executor": "local", "pid": 1,
               "pid_start": "1", "host": "elsewhere"}]
    for i, t in enumerate(tasks):
        bad = failed and i == len(tasks) - 1
        events.append({"event": "task", "time": when.isoformat(), "task": t, "state": "running", "attempt": 1})
        events.append({"event": "task", "time": (when + timedelta(seconds=2)).isoformat(), "task": t,
                       "state": "failed" if bad else "succeeded", "attempt": 1, "duration": 2.0,
                       "exit_code": 1 if bad else 0})
    events.append({"event": "run_finished", "time": (when + timedelta(seconds=3)).isoformat(),
                   "state": "failed" if failed else "succeeded", "counts": {}})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_id


def test_a_grid_of_5000_runs_opens_at_the_newest_and_jumps_to_a_date(project, write_pipeline, serve, new_page,
                                                                     shots):
    from datetime import datetime, timedelta, timezone

    write_pipeline("hourly", 'schedule: "@hourly"\ntasks: {a: {run: "true"}, b: {run: "true", deps: [a]}}\n')
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for n in range(5000):
        # Every 97th run failed; the run ids are in hours order, the backfill kind every 10th.
        write_finished_run(project, "hourly", start + timedelta(hours=n), ["a", "b"], n, failed=n % 97 == 0,
                           kind="backfill" if n % 10 == 0 else "scheduled")
    server = serve()
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/hourly")
    assert "100 of 5000 runs" in page.locator('[data-field="grid-count"]').inner_text()
    dates = grid_dates(page)
    last = (start + timedelta(hours=4999 - 1)).strftime("%Y-%m-%d")
    assert dates[-1] == last and dates == sorted(dates)
    # The grid opens scrolled to its newest (right) end.
    assert page.evaluate("(() => { const b = document.querySelector('.grid-scroll');"
                         " return b.scrollWidth <= b.clientWidth || b.scrollLeft + b.clientWidth >= b.scrollWidth - 2; })()")
    page.screenshot(path=str(shots / "grid-5000-runs-1280.png"))
    # Jump to a date in the middle: no paging through 50 pages of older runs.
    page.fill('input[name="date"]', "2026-06-15")
    page.click('form.filters button[type="submit"]')
    page.wait_for_url(re.compile(r"date=2026-06-15"))
    dates = grid_dates(page)
    assert dates[-1] == "2026-06-15" and len(dates) == 100
    # The failed ones only, and then the backfills only.
    page.goto(f"{server.url}/pipelines/hourly?state=failed")
    heads = page.locator("th.runhead a.sq")
    assert heads.count() == len(range(0, 5000, 97))
    assert set(heads.evaluate_all("els => els.map(e => e.dataset.state)")) == {"failed"}
    page.goto(f"{server.url}/pipelines/hourly?kind=backfill&n=1000")
    assert page.locator("th.runhead").count() == 500


def test_a_200_task_graph_is_fitted_to_the_page_without_overlap(project, write_pipeline, serve, new_page, shots):
    lines = ["tasks:", "  root: {run: 'true'}"]
    for c in range(20):
        for k in range(10):
            dep = "root" if k == 0 else f"t{c}_{k - 1}"
            lines.append(f"  t{c}_{k}: {{run: 'true', deps: [{dep}]}}")
    write_pipeline("wide", "\n".join(lines[:201]) + "\n")          # root and 199 more: 200 tasks
    server = serve()
    page = new_page(server.url, viewport={"width": 1280, "height": 800})
    page.goto(f"{server.url}/pipelines/wide")
    assert page.locator("#grid svg.dag g.node").count() == 200
    assert nodes_inside(page, "#grid .graphbox") == []
    overlaps = page.evaluate("""() => {
        const r = [...document.querySelectorAll('#grid svg.dag g.node rect')].map(e => e.getBoundingClientRect());
        let n = 0;
        for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++)
            if (r[i].left < r[j].right && r[j].left < r[i].right && r[i].top < r[j].bottom && r[j].top < r[i].bottom) n++;
        return n;
    }""")
    assert overlaps == 0
    page.locator("#grid .graphbox").screenshot(path=str(shots / "graph-200-tasks-1280.png"))


def test_mark_a_task_failed_or_succeeded_with_a_reason_kept_in_the_history(project, pipe, write_pipeline, serve,
                                                                          new_page):
    write_pipeline("flaky", FLAKY)
    assert pipe("run", "flaky").returncode == 1                  # load failed, report upstream_failed
    run_id = run_id_of(pipe, "flaky")
    server = serve("--actions")
    page = new_page(server.url)
    page.goto(f"{server.url}/pipelines/flaky/runs/{run_id}")
    # A reason is needed; the browser asks for it, the server refuses a form without one.
    r = httpx.post(f"{server.url}/pipelines/flaky/runs/{run_id}/tasks/load/mark",
                   data={"csrf": csrf_of(page.content()), "state": "succeeded", "reason": "  "})
    assert r.status_code == 400 and "say why" in r.text
    row = page.locator('tr[data-task="load"]')
    row.locator("details.mark summary").click()
    row.locator('select[name="state"]').select_option("succeeded")
    row.locator('input[name="reason"]').fill("loaded by hand <b>from the backup</b>")
    row.locator('form[data-action="mark"] button').click()
    page.wait_for_url(f"{server.url}/pipelines/flaky/runs/{run_id}")
    assert page.locator('tr[data-task="load"]').get_attribute("data-state") == "succeeded"
    reason = page.locator('tr[data-task="load"] td.reason').inner_text()
    assert "marked succeeded by" in reason and "(pipe serve)" in reason and "<b>from the backup</b>" in reason
    history = page.locator("#history li")
    assert history.count() == 1 and "loaded by hand" in history.inner_text() and "(failed)" in history.inner_text()
    assert page.locator("#history b").count() == 0                                   # text, not HTML
    doc = json.loads(pipe("status", "flaky", "--run", run_id, "--json").stdout)["run"]
    assert doc["tasks"]["load"]["state"] == "succeeded" and doc["marks"][0]["reason"].startswith("loaded by hand")
    assert doc["state"] == "failed"                       # the run's own state is what it decided
    # pipe resume goes on from there: the marked task is kept, what it held back runs.
    (project / "pipelines" / "ok").touch()
    assert pipe("resume", "flaky", run_id).returncode == 0
    doc = json.loads(pipe("status", "flaky", "--run", run_id, "--json").stdout)["run"]
    assert doc["tasks"]["load"]["attempt"] == 1 and doc["tasks"]["report"]["state"] == "succeeded"
    # Marked failed, a succeeded task is rerun by the next resume.
    page.goto(f"{server.url}/pipelines/flaky/runs/{run_id}")
    row = page.locator('tr[data-task="prepare"]')
    row.locator("details.mark summary").click()
    row.locator('select[name="state"]').select_option("failed")
    row.locator('input[name="reason"]').fill("its input was wrong")
    row.locator('form[data-action="mark"] button').click()
    page.wait_for_url(f"{server.url}/pipelines/flaky/runs/{run_id}")
    assert page.locator('tr[data-task="prepare"]').get_attribute("data-state") == "failed"
    assert page.locator("#history li").count() == 2
    assert pipe("resume", "flaky", run_id).returncode == 0
    doc = json.loads(pipe("status", "flaky", "--run", run_id, "--json").stdout)["run"]
    assert doc["tasks"]["prepare"]["attempt"] == 2 and doc["tasks"]["prepare"]["state"] == "succeeded"
    page.problems[:] = [p for p in page.problems if "status of 400" not in p]


HOSTILE_NEW = r"""
    # <script>alert('comment')</script>
    description: "<img src=x onerror=alert('desc')>"
    notify:
      run: "echo '<script>alert(9)</script>'; exit 3"
      manual: true
    tasks:
      good:
        description: "<svg onload=alert('taskdesc')>"
        run: echo 'out=<script>alert(1)</script>' >> "$PIPE_OUTPUT"
      bad:
        deps: [good]
        run: |
          printf '\033[31m<img src=x onerror=alert(2)>\033[0m\n'
          exit 1
"""


def test_hostile_outputs_descriptions_files_and_colours_run_no_script(project, pipe, write_pipeline, serve,
                                                                      new_page):
    write_pipeline("hostile", HOSTILE_NEW)
    assert pipe("run", "hostile").returncode == 1
    run_id = run_id_of(pipe, "hostile")
    server = serve("--actions")
    page = new_page(server.url)
    for path in ["/", "/pipelines/hostile", f"/pipelines/hostile/runs/{run_id}",
                 f"/pipelines/hostile/runs/{run_id}/tasks/bad/log"]:
        page.goto(server.url + path)
        page.wait_for_timeout(300)
        assert page.locator("main script, main img, main svg[onload], main [onerror]").count() == 0, path
    page.goto(f"{server.url}/pipelines/hostile/runs/{run_id}")
    assert page.locator('[data-output="out"]').inner_text() == "<script>alert(1)</script>"
    assert "<svg onload=alert('taskdesc')>" in page.locator('[data-field="description"]').inner_text()
    assert "<img src=x onerror=alert(2)>" in page.locator('[data-field="log-tail"]').inner_text()
    page.goto(f"{server.url}/pipelines/hostile")
    page.locator("details#file summary").click()
    assert "<script>alert('comment')</script>" in page.locator("#source").inner_text()
    # no dialog happened: the page fixture fails the test on any (alert opens one)


def test_the_timeline_has_round_ticks_across_the_page(project, pipe, write_pipeline, serve, new_page, shots):
    write_pipeline("steps", "tasks:\n  a: {run: 'sleep 1.2'}\n  b: {run: 'sleep 0.4', deps: [a]}\n")
    assert pipe("run", "steps").returncode == 0
    server = serve()
    page = new_page(server.url, viewport={"width": 1280, "height": 800})
    page.goto(f"{server.url}/pipelines/steps/runs/{run_id_of(pipe, 'steps')}#timeline")
    labels = page.locator("#timeline svg.gantt .ticklabel").evaluate_all("els => els.map(e => e.textContent)")
    assert labels[0] == "+0" and 3 <= len(labels) <= 9, labels
    # Round steps: each label a multiple of the first step (200ms, 0.5s, ...).
    values = [float(t.strip("+ms")) / (1000 if t.endswith("ms") else 1) for t in labels[1:]]
    step = values[0]
    assert all(abs(v / step - round(v / step)) < 1e-6 for v in values), labels
    width = page.evaluate("document.querySelector('#timeline svg.gantt').getBoundingClientRect().width")
    assert width > 1100                                  # the page's width, not 900 px
    page.locator("#timeline").screenshot(path=str(shots / "timeline-1280.png"))
