"""Which intervals tick runs after runs of every kind (manual `run --date`, backfill, tick),
in the past and the future, with `catchup` false, true and a window: the pure part
(scheduling.plan), then the same through the CLI in subprocesses with `pipe tick --now`."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest

from conftest import clean_env

from pipeline_cli.scheduling import Claim, plan
from pipeline_cli.schedule import Schedule

UTC = timezone.utc
NOW = datetime(2026, 11, 5, 3, 0, tzinfo=UTC)
START = datetime(2026, 11, 1, tzinfo=UTC)


def day(text: str) -> datetime:
    full = text if text[:4].isdigit() and text[4] == "-" else f"2026-{text}"
    return datetime.fromisoformat(full).replace(tzinfo=UTC)


def claim(kind: str, d: str) -> Claim:
    start = day(d)
    return Claim(start, start + timedelta(days=1), kind == "T")


def starts(intervals) -> list[str]:
    return [i.start.astimezone(UTC).strftime("%m-%d") for i in intervals]


WINDOW = 2 * 86400      # catchup: 2d

# (history, what tick runs at NOW with catchup false, true, 2d). M: run --date (manual), B:
# backfill, T: tick. Dates are 2026 unless given in full. start_date is 2026-11-01.
CASES = [
    ("nothing run yet", [], ["11-04"], ["11-01", "11-02", "11-03", "11-04"], ["11-04"]),
    ("run --date of the latest day (the catchup trap)", [("M", "11-04")], [], ["11-01", "11-02", "11-03"], []),
    ("run --date of a past day", [("M", "11-02")], ["11-04"], ["11-01", "11-03", "11-04"], ["11-04"]),
    ("run --date of a future day (a typo of the year)", [("M", "2027-11-04")], ["11-04"],
     ["11-01", "11-02", "11-03", "11-04"], ["11-04"]),
    ("run --date of tomorrow", [("M", "11-05")], ["11-04"], ["11-01", "11-02", "11-03", "11-04"], ["11-04"]),
    ("backfill of the past", [("B", "11-01"), ("B", "11-02")], ["11-04"], ["11-03", "11-04"], ["11-04"]),
    ("backfill of the latest days", [("B", "11-03"), ("B", "11-04")], [], ["11-01", "11-02"], []),
    ("tick history", [("T", "11-01"), ("T", "11-02")], ["11-04"], ["11-03", "11-04"], ["11-04"]),
    ("tick history and a manual run after it", [("T", "11-01"), ("T", "11-02"), ("M", "11-03")], ["11-04"],
     ["11-04"], ["11-04"]),
    ("tick history and a manual run of the latest", [("T", "11-01"), ("M", "11-04")], [], ["11-02", "11-03"], []),
    ("tick history and a future manual run", [("T", "11-01"), ("T", "11-02"), ("M", "2027-01-01")], ["11-04"],
     ["11-03", "11-04"], ["11-04"]),
    ("tick history and a backfill of the past before it", [("B", "10-30"), ("T", "11-02")], ["11-04"],
     ["11-03", "11-04"], ["11-04"]),
    ("tick history and a backfill of the days after it", [("T", "11-01"), ("B", "11-02"), ("B", "11-03")],
     ["11-04"], ["11-04"], ["11-04"]),
    ("everything run", [("T", "11-01"), ("T", "11-02"), ("M", "11-03"), ("B", "11-04")], [], [], []),
    ("a tick given a future --now", [("T", "11-01"), ("T", "2027-01-01")], ["11-04"], ["11-02", "11-03", "11-04"],
     ["11-04"]),
]


@pytest.mark.parametrize("history, false, true, window", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_what_tick_runs_after_every_kind_of_run(history, false, true, window):
    claims = [claim(k, d) for k, d in history]
    for catchup, expected in ((False, false), (True, true), (WINDOW, window)):
        sched = Schedule("@daily", "UTC", START)
        got = plan(sched, catchup, claims, NOW)
        assert starts(got.intervals) == expected, (catchup, got)
        if expected:
            assert got.next_due == got.intervals[0].end       # due already: a time past
        else:
            assert got.next_due > NOW and got.why, got


def test_next_due_passes_over_intervals_a_person_ran_ahead():
    sched = Schedule("@daily", "UTC", START)
    claims = [claim("T", "11-04"), claim("M", "11-05"), claim("M", "11-06")]
    got = plan(sched, False, claims, NOW)
    assert got.intervals == [] and got.next_due == day("11-08")     # 11-07's interval ends then
    assert "11-04" in got.why and "has been run" in got.why


def test_a_window_shorter_than_an_interval_still_runs_the_latest():
    sched = Schedule("@daily", "UTC", START)
    assert starts(plan(sched, 3600, [], NOW).intervals) == ["11-04"]


def test_catchup_true_without_start_date_starts_at_the_latest_ended_interval():
    sched = Schedule("@daily", "UTC")
    assert starts(plan(sched, True, [], NOW).intervals) == ["11-04"]
    assert starts(plan(sched, True, [claim("T", "11-01")], NOW).intervals) == ["11-02", "11-03", "11-04"]


def test_a_schedule_change_goes_on_from_the_last_scheduled_end_not_a_manual_one():
    hourly = Schedule("@hourly", "UTC")
    # daily history up to 11-04 by tick, then a manual run of 11-04T05 (an hourly interval)
    claims = [claim("T", "11-04"), Claim(day("11-04T05:00"), day("11-04T06:00"), False)]
    got = plan(hourly, True, claims, day("11-05T03:10"))
    assert [i.start.strftime("%H") for i in got.intervals] == ["00", "01", "02"]


@pytest.mark.parametrize("start_date, history, now, runs, next_due", [
    (START, [], NOW, ["2026-11-01T00:00"], "2026-11-01T00:00"),
    (START, [("T", "2026-11-01T00:00")], NOW, [], None),
    (START, [("M", "2026-11-01T00:00")], NOW, [], None),         # a person ran it: marked as run
    (START, [("M", "2026-11-03T00:00")], NOW, ["2026-11-01T00:00"], "2026-11-01T00:00"),
    (datetime(2027, 1, 1, tzinfo=UTC), [], NOW, [], "2027-01-01T00:00"),
    (None, [], NOW, ["2026-11-05T03:00"], "2026-11-05T03:00"),   # the first tick
    (None, [("T", "2026-11-02T00:00")], NOW, [], None),          # never again
    (None, [("M", "2026-11-02T00:00")], NOW, ["2026-11-05T03:00"], "2026-11-05T03:00"),
])
def test_once(start_date, history, now, runs, next_due):
    sched = Schedule("@once", "UTC", start_date)
    claims = [Claim(day(d), day(d), k == "T") for k, d in history]
    got = plan(sched, False, claims, now)
    assert [i.start.strftime("%Y-%m-%dT%H:%M") for i in got.intervals] == runs
    assert all(i.start == i.end for i in got.intervals)
    assert (got.next_due.strftime("%Y-%m-%dT%H:%M") if got.next_due else None) == next_due


# --- through the CLI ----------------------------------------------------------------------------

def write(write_pipeline, name="d", schedule="@daily", extra="start_date: 2026-11-01\n",
          run="echo {{ ds }} >> ../{{ pipeline }}.txt"):
    return write_pipeline(name, f"schedule: {json.dumps(schedule)}\n{extra}tasks:\n  a:\n    run: {json.dumps(run)}\n")


def ran(project, name="d") -> list[str]:
    path = project / f"{name}.txt"
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize("catchup, expected", [
    ("true", ["2026-11-04", "2026-11-01", "2026-11-02", "2026-11-03"]),
    ("false", ["2026-11-04"]),
    ("2d", ["2026-11-04"]),
])
def test_run_date_of_a_past_day_does_not_make_tick_skip_the_days_before(write_pipeline, pipe, project, catchup,
                                                                         expected):
    write(write_pipeline, extra=f"start_date: 2026-11-01\ncatchup: {catchup}\n")
    assert pipe("run", "d", "--date", "2026-11-04").returncode == 0
    r = pipe("tick", "--now", "2026-11-05T03:00Z")
    assert r.returncode == 0, r.stdout + r.stderr
    assert ran(project) == expected
    r = pipe("tick", "--now", "2026-11-06T03:00Z")
    assert ran(project)[len(expected):] == ["2026-11-05"]


@pytest.mark.parametrize("catchup", ["true", "false", "2d"])
def test_a_future_dated_run_never_stops_tick(write_pipeline, pipe, project, catchup):
    write(write_pipeline, schedule="@hourly", extra=f"start_date: 2026-11-05\ncatchup: {catchup}\n",
          run="echo {{ ts }} >> ../{{ pipeline }}.txt")
    r = pipe("run", "d", "--date", "2027-11-05T02:00Z", "--json")        # a typo for 2026
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)                       # stdout holds the document alone
    assert "has not ended yet" in r.stderr and "2027-11-05T02:00:00+00:00" in r.stderr
    d = pipe("tick", "--now", "2026-11-05T03:10Z", "--dry-run")
    assert "would run" in d.stdout and "has been run" not in d.stdout, d.stdout
    assert pipe("tick", "--now", "2026-11-05T03:10Z").returncode == 0
    expected = {"true": ["00", "01", "02"], "false": ["02"], "2d": ["00", "01", "02"]}[catchup]
    assert [t[11:13] for t in ran(project)[1:]] == expected
    assert pipe("tick", "--now", "2026-11-05T04:10Z").returncode == 0
    assert ran(project)[-1].startswith("2026-11-05T03:00")
    if catchup != "false":
        return             # a year of catching up: the rest is for catchup false
    # the future interval is marked as run: tick does not run it again when it ends
    assert pipe("tick", "--now", "2027-11-05T03:10Z").returncode == 0
    assert [t for t in ran(project) if t.startswith("2027-11-05T02")] == ["2027-11-05T02:00:00+00:00"]


def test_backfill_is_not_a_schedule_either(write_pipeline, pipe, project):
    write(write_pipeline, extra="start_date: 2026-11-01\ncatchup: true\n")
    r = pipe("backfill", "d", "--start", "2026-11-03", "--end", "2026-11-04")
    assert r.returncode == 0, r.stdout + r.stderr
    assert pipe("tick", "--now", "2026-11-05T03:00Z").returncode == 0
    assert ran(project) == ["2026-11-03", "2026-11-04", "2026-11-01", "2026-11-02"]


def test_backfill_reaching_past_now_is_refused_before_anything_runs(write_pipeline, pipe, project):
    write(write_pipeline)
    r = pipe("backfill", "d", "--start", "2026-11-01", "--end", "2099-01-03")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "has not ended yet" in r.stderr and "backfill runs only intervals that have ended" in r.stderr
    assert "2099-01-03T00:00:00+00:00 .. 2099-01-04T00:00:00+00:00" in r.stderr
    assert "Traceback" not in r.stderr
    assert ran(project) == [] and not (project / ".pipe" / "d" / "intervals.jsonl").exists()


def test_run_date_in_the_past_says_nothing_about_the_future(write_pipeline, pipe):
    write(write_pipeline)
    r = pipe("run", "d", "--date", "2026-11-02")
    assert r.returncode == 0 and "not ended" not in r.stderr, r.stderr


def test_list_and_dry_run_agree_with_tick_after_a_future_run(write_pipeline, pipe, project):
    """`pipe list` (the real clock) says when tick runs next, and that it is overdue."""
    write(write_pipeline, schedule="@hourly", extra="", run="echo {{ ts }} >> ../{{ pipeline }}.txt")
    assert pipe("run", "d", "--date", "2099-01-01").returncode == 0
    before = datetime.now(UTC)
    row = json.loads(pipe("list", "--json").stdout)["pipelines"][0]
    after = datetime.now(UTC)
    hour = {t.replace(minute=0, second=0, microsecond=0) for t in (before, after)}
    assert datetime.fromisoformat(row["next_due"]) in hour and row["overdue"] is True, row
    assert "(overdue)" in pipe("list").stdout
    planned = pipe("tick", "--dry-run").stdout
    assert "would run" in planned and f".. {row['next_due']}" in planned or len(hour) == 2, planned
    assert pipe("tick").returncode == 0
    row = json.loads(pipe("list", "--json").stdout)["pipelines"][0]
    assert row["overdue"] is False and datetime.fromisoformat(row["next_due"]) > before, row
    assert "(overdue)" not in pipe("list").stdout


def test_once_runs_once_and_never_again(write_pipeline, pipe, project):
    write(write_pipeline, schedule="@once", extra="start_date: 2026-11-02T06:00:00\n",
          run="echo {{ ts }} >> ../{{ pipeline }}.txt")
    assert pipe("validate").returncode == 0
    assert pipe("tick", "--now", "2026-11-02T05:59Z").returncode == 0
    assert ran(project) == []
    for now in ("2026-11-02T06:00Z", "2026-11-03T06:00Z", "2027-01-01T00:00Z"):
        assert pipe("tick", "--now", now).returncode == 0
    assert ran(project) == ["2026-11-02T06:00:00+00:00"]
    d = pipe("tick", "--now", "2027-01-01T00:00Z", "--dry-run")
    assert "nothing due" in d.stdout and "@once" in d.stdout and "next due never" in d.stdout, d.stdout
    row = json.loads(pipe("list", "--json").stdout)["pipelines"][0]
    assert row["schedule_words"].startswith("once") and row["next_due"] is None and row["overdue"] is False
    r = pipe("backfill", "d", "--start", "2026-11-01", "--end", "2026-11-03")
    assert r.returncode == 2 and "@once" in r.stderr


def test_once_without_start_date_runs_at_the_first_tick(write_pipeline, pipe, project):
    write(write_pipeline, schedule="@once", extra="", run="echo {{ ts }} >> ../{{ pipeline }}.txt")
    for now in ("2026-11-02T06:00:40Z", "2026-11-02T06:01Z", "2026-11-05T00:00Z"):
        assert pipe("tick", "--now", now).returncode == 0
    assert ran(project) == ["2026-11-02T06:00:00+00:00"]
    assert pipe("run", "d").returncode == 0            # by hand it still runs, at now
    assert len(ran(project)) == 2


# --- tick reports a child's end when it ends ---------------------------------------------------

def test_tick_reports_a_dead_child_when_it_dies_not_after_the_slowest(write_pipeline, project):
    """One pipeline's tick process dies (killed, as the OOM killer would) while another is
    slow: the report comes while the slow one still runs."""
    # The task kills the child of tick that runs its pipeline (tick's own child, whatever
    # processes stand between it and the task).
    (project / "kill_tick_child.py").write_text(
        "import os, signal\n"
        "def parent(p):\n"
        "    return int(open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1])\n"
        "def is_tick(p):\n"
        "    return b'pipeline_cli\\x00tick' in open(f'/proc/{p}/cmdline', 'rb').read()\n"
        "p = os.getpid()\n"
        "while not (is_tick(p) and is_tick(parent(p)) and not is_tick(parent(parent(p)))):\n"
        "    p = parent(p)\n"
        "os.kill(p, signal.SIGKILL)\n")
    write(write_pipeline, name="crash", schedule="@hourly", extra="", run=f"{sys.executable} ../kill_tick_child.py")
    write(write_pipeline, name="slow", schedule="@hourly", extra="",
          run="for i in $(seq 300); do test -e ../release && exit 0; sleep 0.1; done; exit 1")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "tick", "--now", "2026-11-05T05:10Z"],
                            cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr] + [lines.put(None)], daemon=True).start()
    try:
        said = []
        while True:
            line = lines.get(timeout=60)
            if line is None or "crash:" in line:
                said.append(line)
                break
            said.append(line)
        assert said[-1] is not None, f"tick ended without a word about crash: {said}"
        assert "killed by SIGKILL" in said[-1] and "the next tick resumes" in said[-1], said
        assert proc.poll() is None and not (project / "release").exists()    # slow still runs
    finally:
        (project / "release").write_text("")
        proc.wait(60)
        proc.stdout.close()
    assert proc.returncode == 1
