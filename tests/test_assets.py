"""Assets between pipelines (SPEC 10) through the real CLI: a weekly pipeline waits for the 7
daily partitions of its upstream's asset (due only once all exist, waiting said, run once),
`run --date` refuses a waiting interval unless --ignore-wait, `pipe assets` and `pipe asset
mark`, a re-production is a newer version that starts nothing, and the cross-file errors
(no producer, two producers, a cycle) at file:line:column, also for one file validated alone."""
from __future__ import annotations

import json

from conftest import ST, cli

DAILY = """\
schedule: "@daily"
start_date: 2026-11-02
catchup: true
max_active_runs: 7
tasks:
  fetch: {run: "test ! -e ../stop-{{ ds }}"}
  clean: {deps: [fetch], run: "echo {{ ds }} >> ../daily.out", produces: [weather_clean]}
"""
WEEKLY = """\
schedule: "0 0 * * 1"
start_date: 2026-11-02
catchup: true
wait_for: [weather_clean]
tasks:
  train: {run: "echo {{ ds }} >> ../weekly.out"}
"""


def lines(project, name) -> list[str]:
    path = project / name
    return path.read_text().split() if path.exists() else []


def test_a_weekly_run_waits_for_the_seven_daily_partitions_and_runs_once(project, write_pipeline):
    write_pipeline("daily", DAILY)
    write_pipeline("weekly", WEEKLY)
    (project / "stop-2026-11-05").write_text("")          # that day's fetch fails: no partition
    assert cli(project, "tick", "--now", "2026-11-09T00:10:00+00:00").returncode == 1
    assert len(lines(project, "daily.out")) == 6 and lines(project, "weekly.out") == []
    dry = cli(project, "tick", "--now", "2026-11-09T00:11:00+00:00", "--dry-run").stdout
    assert "weekly" in dry and "waits for weather_clean 2026-11-05" in dry, dry
    listed = cli(project, "list").stdout
    assert "waiting for weather_clean 2026-11-05" in listed, listed
    row = [r for r in json.loads(cli(project, "list", "--json").stdout)["pipelines"] if r["name"] == "weekly"][0]
    assert row["waiting_for"][0]["interval_start"] == "2026-11-02T00:00:00+00:00" and row["overdue"] is False
    assert cli(project, "tick", "--now", "2026-11-09T00:12:00+00:00").returncode in (0, 1)
    assert lines(project, "weekly.out") == []                   # still waiting
    r = cli(project, "run", "weekly", "--date", "2026-11-02")
    assert r.returncode == 2 and "waits for weather_clean 2026-11-05" in r.stderr and "--ignore-wait" in r.stderr
    (project / "stop-2026-11-05").unlink()
    assert cli(project, "resume", "daily", json.loads(cli(project, "status", "daily", "--json", "--state",
                                                                "failed").stdout)["run"]["run_id"]).returncode == 0
    assert cli(project, "tick", "--now", "2026-11-09T00:13:00+00:00").returncode == 0
    assert lines(project, "weekly.out") == ["2026-11-02"]
    for minute in (14, 15):
        assert cli(project, "tick", "--now", f"2026-11-09T00:{minute}:00+00:00").returncode == 0
    assert lines(project, "weekly.out") == ["2026-11-02"]       # once


def test_assets_mark_and_a_reproduction_that_starts_nothing(project, write_pipeline):
    write_pipeline("daily", DAILY)
    write_pipeline("weekly", WEEKLY)
    assert cli(project, "run", "daily", "--date", "2026-11-02").returncode == 0
    doc = json.loads(cli(project, "assets", "--json").stdout)
    [asset] = doc["assets"]
    assert asset["asset"] == "weather_clean" and asset["producers"] == ["daily.clean"]
    assert asset["consumers"] == ["weekly"] and asset["partitions"] == 1
    assert asset["latest"]["start"] == "2026-11-02T00:00:00+00:00" and asset["latest"]["by"] == "run"
    r = cli(project, "asset", "mark", "weather_clean", "--date", "2026-11-03T12:00:00+00:00")
    assert r.returncode == 0, r.stderr
    detail = json.loads(cli(project, "assets", "weather_clean", "--json").stdout)["assets"][0]
    marked = [p for p in detail["produced"] if p["start"] == "2026-11-03T00:00:00+00:00"]
    assert marked and marked[0]["run_id"] is None and marked[0]["by"].startswith("mark by ")
    r = cli(project, "run", "weekly", "--date", "2026-11-02", "--ignore-wait")
    assert r.returncode == 0, r.stderr
    weekly = json.loads(cli(project, "status", "weekly", "--json").stdout)["run"]
    assert [(c["asset"], c["start"], c["version"]) for c in weekly["consumed"]] == [
        ("weather_clean", "2026-11-02T00:00:00+00:00", 1), ("weather_clean", "2026-11-03T00:00:00+00:00", 1)]
    assert "stale" not in weekly
    before = sorted((project / ST / "weekly").glob("runs/*"))
    assert cli(project, "run", "daily", "--date", "2026-11-02").returncode == 0      # produced again
    detail = json.loads(cli(project, "assets", "weather_clean", "--json").stdout)["assets"][0]
    again = [p for p in detail["produced"] if p["start"] == "2026-11-02T00:00:00+00:00"]
    assert again[0]["version"] == 2
    after = sorted((project / ST / "weekly").glob("runs/*"))
    assert after == before                                   # a re-production starts nothing by itself
    weekly = json.loads(cli(project, "status", "weekly", "--json").stdout)["run"]
    assert [(s["start"], s["version"], s["now"]) for s in weekly["stale"]] == [("2026-11-02T00:00:00+00:00", 1, 2)]
    assert "stale: weather_clean 2026-11-02T00:00:00+00:00 was produced again (version 2)" in \
        cli(project, "status", "weekly").stdout
    r = cli(project, "asset", "mark", "nothing_makes_this", "--date", "2026-11-02")
    assert r.returncode == 2 and "no pipeline of" in r.stderr


def test_cross_file_asset_errors_are_located(project, write_pipeline):
    write_pipeline("daily", DAILY)
    write_pipeline("daily2", DAILY)
    write_pipeline("weekly", WEEKLY.replace("[weather_clean]", "[weather_clen]"))
    r = cli(project, "validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("pipelines/daily2.yaml:7:75: tasks.clean.produces: asset 'weather_clean' is produced by daily.clean "
            "already; an asset has one producer") in r.stderr, r.stderr
    assert ("pipelines/weekly.yaml:4:12: wait_for: no pipeline of pipelines/ produces 'weather_clen' (a task with "
            "`produces: [weather_clen]`); did you mean 'weather_clean'?") in r.stderr, r.stderr
    (project / "pipelines" / "daily2.yaml").unlink()
    write_pipeline("weekly", WEEKLY)
    write_pipeline("ca", 'schedule: "@daily"\nwait_for: [b_out]\ntasks:\n  a: {run: echo, produces: [a_out]}\n')
    write_pipeline("cb", 'schedule: "@daily"\nwait_for: [a_out]\ntasks:\n  b: {run: echo, produces: [b_out]}\n')
    r = cli(project, "validate", "pipelines/ca.yaml")           # one file alone, against its folder
    assert r.returncode == 2
    assert "pipelines/ca.yaml:2:11: a cycle of pipelines through assets: ca -> cb -> ca" in r.stderr, r.stderr
    write_pipeline("ca", 'wait_for: [b_out]\ntasks:\n  a: {run: echo}\n')
    r = cli(project, "validate", "pipelines/ca.yaml")
    assert r.returncode == 2 and "pipelines/ca.yaml:1:1: wait_for: only a pipeline with a cron `schedule:`" in r.stderr
