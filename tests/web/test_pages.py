"""The web UI's pages as a person reads and uses them (issue 24): Debian's Chromium driven
by Playwright against real `pipe serve` and `pipe run` processes. Screenshots go to the
`shots` folder ($PIPE_TEST_ARTIFACTS/web-screenshots in CI)."""
from __future__ import annotations

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
    page = new_page(server.url)
    page.goto(server.url + "/")
    last = page.locator('tr[data-pipeline="alpha-sales"] [data-field="last-run"]')
    assert "just now" in last.inner_text() and re.search(r"0\.\ds", last.inner_text()), last.inner_text()
    absolute = last.locator("time").get_attribute("title")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", absolute), absolute
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
