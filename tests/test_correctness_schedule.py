"""Issue 15: schedules, tick, list and backfill (items 4, 11, 17, 18, 23 and the tick children)."""
from __future__ import annotations

import functools
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from pipeline_cli.schedule import Schedule, cron_problem

UTC = timezone.utc


def write(write_pipeline, name="s", schedule="@daily", extra="", run="echo {{ ds }} >> ../{{ pipeline }}.txt"):
    return write_pipeline(name, f"schedule: {json.dumps(schedule)}\n{extra}tasks:\n  a:\n    run: {json.dumps(run)}\n")


# --- item 4: dates at the edges of the calendar are exit 2 with a message ------------------

@pytest.mark.parametrize("args", [
    ["run", "s", "--date", "9999-12-31"],
    ["tick", "--now", "0001-01-01"],
    ["tick", "--now", "9999-12-31T23:59"],
    ["run", "s", "--date", "0001-01-01T00:00+01:00"],
    ["tick", "--now", "0001-01-01T00:00+01:00"],
    ["backfill", "s", "--start", "9999-12-30", "--end", "9999-12-31"],
])
def test_dates_at_the_edges_are_a_message_not_a_traceback(write_pipeline, pipe, args):
    write(write_pipeline)
    result = pipe(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "year 1" in result.stderr and "9999" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [["--state-dir", "/proc/x", "run", "s"], ["--state-dir", "afile", "run", "s"],
                                  ["--state-dir", "afile", "tick", "--now", "2026-11-02T00:00Z"]])
def test_unusable_state_folder_is_a_message_not_a_traceback(project, write_pipeline, pipe, args):
    write(write_pipeline)
    (project / "afile").write_text("not a folder")
    result = pipe(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip(), result.stderr


@pytest.mark.parametrize("expr", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *"])
def test_a_schedule_that_never_fires_is_refused(expr):
    assert "never fires" in cron_problem(expr)


@pytest.mark.parametrize("expr", ["0 0 29 2 *", "0 0 31 * *", "@yearly"])
def test_rare_schedules_are_accepted(expr):
    assert cron_problem(expr) is None


# --- item 23: cron times in daylight-saving hours, as Airflow 3's CronDataIntervalTimetable ---
# Expected values follow Airflow 3's reading (SPEC 2): a wall time in a repeated hour is the
# later copy (fold=1); one in a skipped hour is moved on by the gap.

DST_CASES = [
    # zone, cron, from (UTC), to (UTC), the intervals in between as local ISO texts
    ("Europe/Amsterdam", "30 2 * * *", "2026-10-23T12:00", "2026-10-27T00:00",      # back: 03:00 -> 02:00
     [("2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+01:00"),
      ("2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00")]),
    ("Europe/Amsterdam", "30 2 * * *", "2026-03-27T12:00", "2026-03-31T00:00",      # forward: 02:00 -> 03:00
     [("2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00"),
      ("2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00")]),
    ("America/New_York", "30 1 * * *", "2026-10-31T12:00", "2026-11-03T12:00",      # back: 02:00 -> 01:00
     [("2026-11-01T01:30:00-05:00", "2026-11-02T01:30:00-05:00"),
      ("2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00")]),
    ("America/New_York", "30 2 * * *", "2026-03-07T12:00", "2026-03-10T12:00",      # forward: 02:00 -> 03:00
     [("2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00"),
      ("2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00")]),
    ("Australia/Sydney", "30 2 * * *", "2026-04-03T12:00", "2026-04-06T00:00",      # back: 03:00 -> 02:00
     [("2026-04-04T02:30:00+11:00", "2026-04-05T02:30:00+10:00"),
      ("2026-04-05T02:30:00+10:00", "2026-04-06T02:30:00+10:00")]),
    ("Australia/Sydney", "30 2 * * *", "2026-10-02T12:00", "2026-10-05T00:00",      # forward: 02:00 -> 03:00
     [("2026-10-03T02:30:00+10:00", "2026-10-04T03:30:00+11:00"),
      ("2026-10-04T03:30:00+11:00", "2026-10-05T02:30:00+11:00")]),
    ("Europe/Amsterdam", "*/30 2 * * *", "2026-10-24T23:00", "2026-10-25T03:00",   # not every hour: later copy only
     [("2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00")]),
    ("Europe/Amsterdam", "30 * * * *", "2026-10-24T23:00", "2026-10-25T02:00",     # every hour: both copies
     [("2026-10-25T01:30:00+02:00", "2026-10-25T02:30:00+02:00"),
      ("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00")]),
]


def u(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("zone, expr, frm, to, expected", DST_CASES, ids=[f"{c[0]}-{c[1]}-{c[2][:7]}" for c in DST_CASES])
def test_intervals_at_daylight_saving_hours_are_airflows(zone, expr, frm, to, expected):
    s = Schedule(expr, zone)
    got = [(i.start.isoformat(), i.end.isoformat()) for i in s.intervals(u(frm), u(to))]
    assert got == expected
    for start, end in expected:       # every way of asking agrees with the chain
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        assert s.next_after(a).isoformat() == end
        assert s.before(b).isoformat() == start
        assert s.at_or_before(b).isoformat() == end
        assert s.interval_for(b).start.isoformat() == end
        assert s.latest_complete(b).start.isoformat() == start


@pytest.mark.parametrize("zone, gap_end", [("Europe/Amsterdam", "2026-03-29T03:30:00+02:00"),
                                          ("America/New_York", "2026-03-08T03:30:00-04:00"),
                                          ("Australia/Sydney", "2026-10-04T03:30:00+11:00")])
def test_the_interval_ending_right_after_a_skipped_hour_is_due(zone, gap_end):
    """Airflow 3.3.2 with catchup: false never creates it (its _get_prev answers 03:30 for
    03:30, apache/airflow#70089); pipe does."""
    s = Schedule("30 2 * * *", zone)
    end = datetime.fromisoformat(gap_end)
    for now in (end, end.replace(minute=45), end.replace(hour=12)):
        latest = s.latest_complete(now)
        assert latest.end.isoformat() == gap_end
        assert latest.start.date().isoformat() < gap_end[:10]


def test_tick_catchup_false_runs_the_interval_after_the_skipped_hour(write_pipeline, pipe, project):
    write(write_pipeline, schedule="30 2 * * *", extra="timezone: Europe/Amsterdam\nworkdir: .\n",
          run="echo {{ ts }} >> ../ran.txt")
    assert pipe("tick", "--now", "2026-03-28T12:00Z").returncode == 0
    assert pipe("tick", "--now", "2026-03-29T01:45Z").returncode == 0      # 03:45 CEST
    assert (project / "ran.txt").read_text().split() == ["2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00"]


# --- item 18: tick runs due intervals of one pipeline concurrently, up to max_active_runs -----

RENDEZVOUS = ("touch ../started-{{ ds_nodash }}{{ ts[11:13] }}; i=0; "
              "while [ $(ls ../ | grep -c '^started-') -lt 2 ]; do i=$((i+1)); "
              "[ $i -gt 400 ] && exit 1; sleep 0.05; done; echo {{ ts }} >> ../ran.txt")


def test_tick_runs_intervals_of_one_pipeline_at_once_up_to_max_active_runs(write_pipeline, pipe, project):
    # Each run waits until two runs have started: one after the other, the first gives up and fails.
    write(write_pipeline, schedule="@hourly", run=RENDEZVOUS,
          extra="start_date: 2026-11-05\ncatchup: true\nmax_active_runs: 2\n")
    result = pipe("tick", "--now", "2026-11-05T02:10Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted((project / "ran.txt").read_text().split()) == ["2026-11-05T00:00:00+00:00",
                                                                  "2026-11-05T01:00:00+00:00"]


def test_tick_never_runs_more_than_max_active_runs_at_once(write_pipeline, pipe, project):
    # mkdir is atomic: a second run inside the first's span finds the folder and fails.
    write(write_pipeline, schedule="@hourly",
          run="mkdir ../busy || exit 1; sleep 0.2; echo {{ ts }} >> ../ran.txt; rmdir ../busy",
          extra="start_date: 2026-11-05\ncatchup: true\nmax_active_runs: 1\n")
    result = pipe("tick", "--now", "2026-11-05T03:10Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "ran.txt").read_text().split() == ["2026-11-05T00:00:00+00:00", "2026-11-05T01:00:00+00:00",
                                                         "2026-11-05T02:00:00+00:00"]


# --- tick's per-pipeline children are a library call, not a hidden CLI option ---------------

def test_tick_has_no_hidden_pipeline_file_option(write_pipeline, pipe):
    from conftest import ROOT

    for source in ("cli.py", "entry.py", "commands.py", "commands/__init__.py", "commands/runs.py"):
        path = ROOT / "pipeline_cli" / source
        if path.exists():
            assert "pipeline-file" not in path.read_text() and "pipeline_file" not in path.read_text(), source
    write(write_pipeline)
    result = pipe("tick", "--pipeline-file", "pipelines/s.yaml")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_a_failing_pipeline_child_does_not_stop_the_others(write_pipeline, pipe, project):
    write(write_pipeline, name="bad", run="exit 3")
    write(write_pipeline, name="good")
    result = pipe("tick", "--now", "2026-11-05T00:10Z")
    assert result.returncode == 1
    assert (project / "good.txt").read_text().split() == ["2026-11-04"]


# --- item 17: backfill honours start_date ---------------------------------------------------

def test_backfill_before_start_date_is_refused_with_the_fix(write_pipeline, pipe, project):
    write(write_pipeline, extra="start_date: 2026-11-03\n")
    result = pipe("backfill", "s", "--start", "2026-11-01", "--end", "2026-11-04")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "before the pipeline's start_date 2026-11-03" in result.stderr and "start at 2026-11-03" in result.stderr
    assert not (project / "s.txt").exists()
    result = pipe("backfill", "s", "--start", "2026-11-03", "--end", "2026-11-04")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "s.txt").read_text().split() == ["2026-11-03", "2026-11-04"]


# --- item 11: `pipe list` and `pipe tick` reckon "due" in one place ---------------------------

def test_next_due_is_now_when_tick_would_run_something(project, write_pipeline):
    from pipeline_cli import scheduling as scheduler, spec
    from pipeline_cli.state import StateDir

    path = write(write_pipeline)
    p = spec.load(path)
    state = StateDir(project / ".pipe")
    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    plan = scheduler.due(p, state, now)
    assert [i.start.isoformat() for i in plan.intervals] == ["2026-11-30T00:00:00+00:00"]
    assert scheduler.next_due(p, state, now).isoformat() == "2026-12-01T00:00:00+00:00"     # due: tick runs it now


def test_list_shows_the_interval_tick_would_run(write_pipeline, pipe):
    write(write_pipeline)
    listed = json.loads(pipe("list", "--json").stdout)["pipelines"][0]["next_due"]
    planned = pipe("tick", "--dry-run").stdout
    assert listed <= datetime.now(UTC).isoformat()
    assert f".. {listed}" in planned, (listed, planned)


def test_catchup_window_of_the_readme_worked_example(write_pipeline, pipe, project):
    """README, Scheduling: tick at 2026-11-05 09:00 with history 2026-11-01 and `catchup: 2d`
    runs only 04 (SPEC 5: intervals that *started* within the window; 03 started at 00:00)."""
    write(write_pipeline, name="weather", extra="start_date: 2026-11-01\ncatchup: 2d\n")
    assert pipe("tick", "--now", "2026-11-02T00:01Z").returncode == 0
    assert pipe("tick", "--now", "2026-11-05T09:00Z").returncode == 0
    assert (project / "weather.txt").read_text().split() == ["2026-11-01", "2026-11-04"]


def test_start_date_in_the_repeated_hour_compares_in_real_time():
    """start_date 02:45+02:00 (the first copy) in the pipeline's own zone: the cron time
    02:30+01:00 (the second copy) comes 45 minutes after it in real time, although its wall
    time is earlier; comparing wall times (as Python does for one tzinfo) would skip it."""
    zone = ZoneInfo("Europe/Amsterdam")
    start_date = datetime(2026, 10, 25, 2, 45, tzinfo=zone, fold=0)
    s = Schedule("30 2 * * *", "Europe/Amsterdam", start_date)
    got = s.intervals(start_date, u("2026-10-27T02:00"))
    assert [i.start.isoformat() for i in got] == ["2026-10-25T02:30:00+01:00", "2026-10-26T02:30:00+01:00"]
    assert s.latest_complete(u("2026-10-26T02:00")).start.isoformat() == "2026-10-25T02:30:00+01:00"


# Airflow 3's chain for a schedule that does not fire every hour, written from its source
# (airflow/timetables/_cron.py, CronMixin._get_next with _should_fix_dst False): the next
# wall time after the current one's wall time, by croniter on naive times, made aware with
# fold=1 (airflow.utils.timezone.make_aware), a wall time in a gap moved on by the gap.
def airflow_next(expr: str, zone: ZoneInfo, current: datetime) -> datetime:
    from croniter import croniter

    naive = current.astimezone(zone).replace(tzinfo=None)
    wall = croniter(expr, naive).get_next(datetime)
    later = wall.replace(tzinfo=zone, fold=1)
    if later.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall:
        return later.astimezone(UTC)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def test_chains_agree_with_airflows_get_next_around_every_2026_transition():
    import random

    from croniter import croniter

    rng = random.Random(15)
    zones = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "America/Havana",
             "Pacific/Chatham", "Europe/London"]
    minutes = ["0", "15", "30", "45", "*/20", "5,35", "59"]
    hours = ["0", "1", "2", "3", "1-3", "*/2", "2,14", "0-2", "23"]
    days = [("*", "*", "*"), ("*", "*", "0"), ("1", "*", "*"), ("*", "3,4,10,11", "*")]
    checked = 0
    for _ in range(400):
        zone = ZoneInfo(rng.choice(zones))
        m, h, (dom, mon, dow) = rng.choice(minutes), rng.choice(hours), rng.choice(days)
        expr = f"{m} {h} {dom} {mon} {dow}"
        if croniter(expr).expanded[1] == ["*"]:
            continue
        # a start near one of the zone's transitions of 2026
        transitions = _transitions(zone.key)
        begin = rng.choice(transitions) - timedelta_h(rng.randint(1, 60))
        s = Schedule(expr, zone.key)
        ours = s.first_start_at_or_after(begin).astimezone(UTC)
        theirs = ours
        for _ in range(12):
            ours = s.next_after(ours).astimezone(UTC)
            theirs = airflow_next(expr, zone, theirs)
            assert ours == theirs, (expr, zone.key, begin)
        checked += 1
    assert checked > 200


@functools.cache
def _transitions(key: str) -> list[datetime]:
    zone, t, found = ZoneInfo(key), datetime(2026, 1, 1, tzinfo=UTC), []
    while t.year == 2026:
        if (t + timedelta_h(1)).astimezone(zone).utcoffset() != t.astimezone(zone).utcoffset():
            found.append(t)
        t += timedelta_h(1)
    return found


def timedelta_h(n: int):
    from datetime import timedelta

    return timedelta(hours=n)


@pytest.mark.parametrize("start, end", [("1900-01-01", "2000-01-01"), ("2000-01-01", "2100-01-01"),
                                        ("0001-01-02", "9998-12-31")])
def test_backfill_of_centuries_is_refused_before_it_starts(write_pipeline, pipe, project, start, end):
    """Counted from the cron fields (tests/test_schedule.py: without walking the intervals)."""
    write(write_pipeline, schedule="*/5 * * * *")
    result = pipe("backfill", "s", "--start", start, "--end", end)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "holds more than 100,000 intervals" in result.stderr
    assert not (project / "s.txt").exists()
