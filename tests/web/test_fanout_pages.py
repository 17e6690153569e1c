"""Fan-out and sensors on the web pages, in a real Chromium: the run page keeps one row per
foreach task with its instances' counts and lists the instances with their logs; a waiting
run and its sensor read as text, in their own colour."""
from __future__ import annotations

import json

from conftest import cli

FAN = """\
tasks:
  fetch:
    foreach: [Seattle, Lisbon, Osaka]
    run: 'echo "city {{ item }}"; test {{ item }} != Lisbon'
  after: {deps: [fetch], trigger: all_done, run: "true"}
"""
WAIT = """\
schedule: "@daily"
start_date: 2026-11-01
tasks:
  sales: {wait: {file: "in-{{ ds }}.csv"}, every: 1s}
  load: {deps: [sales], run: "true"}
"""


def test_a_foreach_task_and_its_instances_on_the_run_page(project, write_pipeline, serve, new_page):
    write_pipeline("fan", FAN)
    assert cli(project, "run", "fan").returncode == 1
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines")
    page = new_page(server.url)
    run_id = json.loads(cli(project, "status", "fan", "--json").stdout)["run"]["run_id"]
    page.goto(f"{server.url}/pipelines/fan/runs/{run_id}")
    row = page.locator('tr[data-task="fetch"]')
    assert row.get_attribute("data-state") == "failed"
    assert "3 instances: 1 failed, 2 succeeded" in row.inner_text()
    instances = page.locator("tr.instance")
    assert instances.count() == 3
    assert [instances.nth(i).get_attribute("data-task") for i in range(3)] == ["fetch[0]", "fetch[1]", "fetch[2]"]
    assert instances.nth(1).get_attribute("data-state") == "failed"
    page.goto(f"{server.url}/pipelines/fan")            # the grid: one row per task, the counts on its cell
    cell = page.locator('td[data-task="fetch"] a.cell').first
    assert cell.get_attribute("data-instances") == "3"
    title = cell.get_attribute("title")
    assert "3 instances: " in title and "1 failed" in title and "2 succeeded" in title
    assert page.locator('td[data-task^="fetch["]').count() == 0
    page.goto(f"{server.url}/pipelines/fan/runs/{run_id}")
    page.click('tr[data-task="fetch[1]"] a')
    page.wait_for_selector("text=city Lisbon")
    assert "fetch[1]" in page.title() or "fetch[1]" in page.inner_text("body")


def test_a_waiting_run_and_its_sensor_read_as_text(project, write_pipeline, serve, new_page):
    write_pipeline("w", WAIT)
    assert cli(project, "tick", "--now", "2026-11-02T00:10:00+00:00").returncode == 0
    server = serve("--state-dir", "st", "--pipelines-dir", "pipelines")
    page = new_page(server.url)
    run_id = json.loads(cli(project, "status", "w", "--json").stdout)["run"]["run_id"]
    page.goto(f"{server.url}/pipelines/w/runs/{run_id}")
    row = page.locator('tr[data-task="sales"]')
    assert row.get_attribute("data-state") == "waiting"
    assert "waiting for file in-2026-11-01.csv" in row.inner_text()
    state = row.locator(".state")
    colour = state.evaluate("e => getComputedStyle(e).getPropertyValue('--st').trim()")
    pending = page.locator('tr[data-task="load"] .state').evaluate(
        "e => getComputedStyle(e).getPropertyValue('--st').trim()")
    assert colour and colour != pending           # its own colour, not pending's grey
