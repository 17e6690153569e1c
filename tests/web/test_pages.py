"""The web UI's pages as a person reads and uses them (issue 24): Debian's Chromium driven
by Playwright against real `pipe serve` and `pipe run` processes. Screenshots go to the
`shots` folder ($PIPE_TEST_ARTIFACTS/web-screenshots in CI)."""
from __future__ import annotations

import json

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
