"""`end_date` on pipelines (SPEC 12): no interval starting at or after it is scheduled by tick
or run by backfill, and `pipe list` says the schedule has ended. Through the real CLI."""
from __future__ import annotations

import json

PIPE = """\
schedule: "@daily"
start_date: 2026-11-01
end_date: 2026-11-04
catchup: true
workdir: ..
tasks:
  rec:
    run: echo {{ ds }} >> ran.txt
"""


def ran(project) -> list[str]:
    path = project / "ran.txt"
    return sorted(path.read_text().split()) if path.exists() else []


def test_end_date_in_the_middle_of_a_backfill(project, write_pipeline, pipe):
    write_pipeline("d", PIPE)
    dry = pipe("backfill", "d", "--start", "2026-11-01", "--end", "2026-11-07", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["count"] == 3 and doc["end_date"].startswith("2026-11-04")
    assert "end_date" in dry.stderr and "not run" in dry.stderr
    r = pipe("backfill", "d", "--start", "2026-11-01", "--end", "2026-11-07", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [i["start"][:10] for i in doc["intervals"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert {i["state"] for i in doc["intervals"]} == {"succeeded"}
    assert ran(project) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    # A range that starts at the end_date has nothing to run: said, exit 2.
    r = pipe("backfill", "d", "--start", "2026-11-04", "--end", "2026-11-07")
    assert r.returncode == 2 and "end_date" in r.stderr and "Traceback" not in r.stderr


def test_tick_never_runs_past_end_date_and_list_says_it_ended(project, write_pipeline, pipe):
    write_pipeline("d", PIPE)
    r = pipe("tick", "--now", "2026-11-10T00:05:00+00:00")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ran(project) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    again = pipe("tick", "--now", "2026-11-12T00:05:00+00:00", "--dry-run")
    assert "nothing due" in again.stdout and "ended" in again.stdout and "end_date" in again.stdout
    assert pipe("tick", "--now", "2026-11-12T00:05:00+00:00").returncode == 0
    assert ran(project) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    listed = pipe("list", "--json")
    row = json.loads(listed.stdout)["pipelines"][0]
    assert row["ended"] is True and row["next_due"] is None and row["end_date"].startswith("2026-11-04")
    text = pipe("list").stdout
    assert "ended 2026-11-04" in text


def test_before_end_date_tick_runs_and_list_shows_the_next_due(project, write_pipeline, pipe):
    write_pipeline("d", PIPE)
    r = pipe("tick", "--now", "2026-11-02T00:05:00+00:00")
    assert r.returncode == 0, r.stderr
    assert ran(project) == ["2026-11-01"]
    doc = json.loads(pipe("tick", "--now", "2026-11-02T00:06:00+00:00", "--dry-run", "--json").stdout)
    assert doc["pipelines"][0]["next_due"].startswith("2026-11-03")
    # the last interval, 11-03 .. 11-04, ends at the end_date: it is the schedule's last due time
    doc = json.loads(pipe("tick", "--now", "2026-11-03T00:06:00+00:00", "--dry-run", "--json").stdout)
    assert [d["start"][:10] for d in doc["pipelines"][0]["due"]] == ["2026-11-02"]


def test_end_date_mistakes_are_located(project, write_pipeline, pipe):
    write_pipeline("d", PIPE.replace("end_date: 2026-11-04", "end_date: 2026-10-01"))
    r = pipe("validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "d.yaml:3:" in r.stderr and "not after start_date" in r.stderr
    write_pipeline("d", PIPE.replace("end_date: 2026-11-04", "end_date: 2026-02-30"))
    r = pipe("validate")
    assert r.returncode == 2 and "d.yaml:3:" in r.stderr and "not a date that exists" in r.stderr
    write_pipeline("d", PIPE.replace("end_date: 2026-11-04", "end_date: soon"))
    r = pipe("validate")
    assert r.returncode == 2 and "d.yaml:3:" in r.stderr and "end_date" in r.stderr
