"""`pipe tick`, `pipe backfill` and friends (SPEC section 5) through the CLI in real subprocesses."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import clean_env, task_reached, wait_until

UTC = timezone.utc


def pipeline_text(schedule: str, *, extra: str = "", run: str | None = None, tz: str = "UTC") -> str:
    run = run or "echo {{ ds }} {{ data_interval_start }} >> {{ pipeline }}.txt"
    return (f'schedule: "{schedule}"\ntimezone: {tz}\nworkdir: ..\n{extra}'
            f"tasks:\n  rec:\n    run: {json.dumps(run)}\n")


@pytest.fixture
def env(project, write_pipeline, pipe):
    class Env:
        root = project

        def write(self, name, schedule, **kw):
            return write_pipeline(name, pipeline_text(schedule, **kw))

        def tick(self, now, *more, timeout=120):
            return pipe("--state-dir", "state", "--pipelines-dir", "pipelines", "tick", "--now", now, *more,
                        timeout=timeout)

        def cli(self, *args, **kw):
            return pipe("--state-dir", "state", "--pipelines-dir", "pipelines", *args, **kw)

        def runs(self, name):
            path = project / f"{name}.txt"
            if not path.exists():
                return []
            return [line.split()[1] for line in path.read_text().splitlines() if line.strip()]

        def popen(self, *args):
            return subprocess.Popen([sys.executable, "-m", "pipeline_cli", "--state-dir", "state",
                                     "--pipelines-dir", "pipelines", *args], cwd=project, env=clean_env(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True)

    return Env()


def hours(first: str, n: int, step=timedelta(hours=1)) -> list[str]:
    t = datetime.fromisoformat(first)
    return [(t + k * step).isoformat() for k in range(n)]


def days(first: str, n: int) -> list[str]:
    return hours(first, n, timedelta(days=1))


# --- what is due -----------------------------------------------------------------------------

def test_first_tick_runs_only_latest_interval(env):
    env.write("d", "@daily", extra="start_date: 2026-11-01\n")
    r = env.tick("2026-11-05T03:00:00+00:00")
    assert r.returncode == 0, r.stderr
    assert env.runs("d") == ["2026-11-04T00:00:00+00:00"]


def test_first_tick_catchup_true_runs_all_from_start_date(env):
    env.write("d", "@daily", extra="start_date: 2026-11-01\ncatchup: true\n")
    r = env.tick("2026-11-05T03:00:00+00:00")
    assert r.returncode == 0, r.stderr
    assert env.runs("d") == days("2026-11-01T00:00:00+00:00", 4)


@pytest.mark.parametrize("schedule, now, expected", [
    ("@hourly", "2026-11-05T03:20:00+00:00", ["2026-11-05T02:00:00+00:00"]),
    ("*/15 * * * *", "2026-11-05T03:20:00+00:00", ["2026-11-05T03:00:00+00:00"]),
    ("30 6 * * *", "2026-11-05T03:20:00+00:00", ["2026-11-03T06:30:00+00:00"]),
])
def test_first_tick_cron_kinds(env, schedule, now, expected):
    env.write("p", schedule)
    r = env.tick(now)
    assert r.returncode == 0, r.stderr
    assert env.runs("p") == expected


def test_missed_intervals_after_pause(env):
    env.write("a", "@hourly", extra="start_date: 2026-11-05\ncatchup: true\n")
    env.write("b", "@hourly", extra="start_date: 2026-11-05\n")
    assert env.tick("2026-11-05T01:00:00+00:00").returncode == 0
    assert env.runs("a") == ["2026-11-05T00:00:00+00:00"]
    assert env.runs("b") == ["2026-11-05T00:00:00+00:00"]
    # paused for 4 hours
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert r.returncode == 0, r.stderr
    assert env.runs("a") == hours("2026-11-05T00:00:00+00:00", 5)
    assert env.runs("b") == ["2026-11-05T00:00:00+00:00", "2026-11-05T04:00:00+00:00"]


def test_catchup_window(env):
    env.write("w", "@daily", extra="start_date: 2026-10-01\ncatchup: 7d\n")
    r = env.tick("2026-11-10T12:00:00+00:00")
    assert r.returncode == 0, r.stderr
    # intervals that started within 7 days before now
    assert env.runs("w") == days("2026-11-04T00:00:00+00:00", 6)
    # with history, after a pause: still only the window
    r = env.tick("2026-11-20T12:00:00+00:00")
    assert env.runs("w")[6:] == days("2026-11-14T00:00:00+00:00", 6)


def test_start_date_in_future_nothing(env):
    env.write("f", "@hourly", extra="start_date: 2027-01-01\ncatchup: true\n")
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert env.runs("f") == []
    d = env.tick("2026-11-05T05:10:00+00:00", "--dry-run")
    assert "nothing due" in d.stdout and "2027-01-01" in d.stdout


def test_quiet_when_nothing_due_and_second_tick_same_now(env):
    env.write("h", "@hourly")
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert r.returncode == 0 and env.runs("h") == ["2026-11-05T04:00:00+00:00"]
    for _ in range(2):
        r = env.tick("2026-11-05T05:10:00+00:00")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = env.tick("2026-11-05T05:59:00+00:00")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert env.runs("h") == ["2026-11-05T04:00:00+00:00"]


def test_invalid_file_reported_and_skipped(env, write_pipeline):
    write_pipeline("bad", "schedule: '@hourly'\ntasks:\n  x: {run: echo, deps: [nope]}\n")
    env.write("good", "@hourly")
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert "bad.yaml" in r.stderr and "Traceback" not in r.stderr
    assert r.returncode != 0
    assert env.runs("good") == ["2026-11-05T04:00:00+00:00"]


def test_failed_run_exit_1(env):
    env.write("x", "@hourly", run="echo {{ ds }} {{ data_interval_start }} >> x.txt; exit 3")
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert r.returncode == 1
    assert env.runs("x") == ["2026-11-05T04:00:00+00:00"]


def test_dry_run_says_what_and_why(env):
    env.write("h", "@hourly", extra="start_date: 2026-11-05\ncatchup: true\n")
    d = env.tick("2026-11-05T02:10:00+00:00", "--dry-run")
    assert d.returncode == 0, d.stderr
    assert "would run" in d.stdout and "2026-11-05T00:00:00+00:00" in d.stdout and "2026-11-05T01:00:00+00:00" in d.stdout
    assert env.runs("h") == []
    env.tick("2026-11-05T02:10:00+00:00")
    d = env.tick("2026-11-05T02:10:00+00:00", "--dry-run")
    assert "nothing due" in d.stdout and "2026-11-05T03:00:00+00:00" in d.stdout
    assert env.runs("h") == hours("2026-11-05T00:00:00+00:00", 2)


# --- concurrency, locks, crashes ----------------------------------------------------------------

def test_running_pipeline_left_alone(env, project):
    # The first tick's task runs until the test releases it: the second tick must return
    # while it runs (if it waited for the first, it would time out here).
    env.write("s", "@hourly", run="while [ ! -e release ]; do sleep 0.05; done; "
                                  "echo {{ ds }} {{ data_interval_start }} >> s.txt")
    first = env.popen("tick", "--now", "2026-11-05T05:10:00+00:00")
    wait_until(lambda: task_reached(project / "state", "s", "rec", "running"), "the first tick's task to start")
    r = env.tick("2026-11-05T06:10:00+00:00", timeout=60)
    assert r.returncode == 0, r.stderr
    assert first.poll() is None and env.runs("s") == []       # the first is still at its task
    (project / "release").touch()
    first.wait(30)
    assert env.runs("s") == ["2026-11-05T04:00:00+00:00"]
    r = env.tick("2026-11-05T06:10:00+00:00")
    assert env.runs("s") == ["2026-11-05T04:00:00+00:00", "2026-11-05T05:00:00+00:00"]


def test_max_active_runs(env, project):
    # a manual run is active; with max_active_runs 1 tick leaves the pipeline alone
    env.write("m", "@hourly", run="while [ ! -e release ]; do sleep 0.05; done; "
                                  "echo {{ ds }} {{ data_interval_start }} >> m.txt")
    manual = env.popen("run", "m", "--date", "2026-11-05T01:00:00+00:00")
    wait_until(lambda: task_reached(project / "state", "m", "rec", "running"), "the manual run's task to start")
    r = env.tick("2026-11-05T05:10:00+00:00", timeout=60)
    assert r.returncode == 0
    (project / "release").touch()
    manual.wait(30)
    assert env.runs("m") == ["2026-11-05T01:00:00+00:00"]
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert env.runs("m") == ["2026-11-05T01:00:00+00:00", "2026-11-05T04:00:00+00:00"]


def test_max_active_runs_two_catches_up(env):
    env.write("m2", "@hourly", extra="start_date: 2026-11-05\ncatchup: true\nmax_active_runs: 2\n")
    r = env.tick("2026-11-05T04:10:00+00:00")
    assert r.returncode == 0, r.stderr
    assert sorted(env.runs("m2")) == hours("2026-11-05T00:00:00+00:00", 4)      # two at a time: any order


# Concurrent ticks and a tick killed mid-run: tests/reliability/test_concurrency.py::test_sixteen_ticks_at_once
# and tests/reliability/test_crash.py::test_tick_killed_then_next_tick.


# --- schedule changes and the cache -----------------------------------------------------------

def test_schedule_change_goes_on_from_last_interval(env):
    env.write("sc", "@daily")
    env.tick("2026-11-05T00:10:00+00:00")
    env.tick("2026-11-06T00:10:00+00:00")
    assert env.runs("sc") == days("2026-11-04T00:00:00+00:00", 2)
    env.write("sc", "@hourly")
    r = env.tick("2026-11-06T05:10:00+00:00")
    assert r.returncode == 0, r.stderr
    assert env.runs("sc")[2:] == ["2026-11-06T04:00:00+00:00"]
    env.write("sc", "@hourly", extra="catchup: true\n")
    env.tick("2026-11-06T08:10:00+00:00")
    assert env.runs("sc")[3:] == hours("2026-11-06T05:00:00+00:00", 3)


def test_schedule_change_catchup_true_starts_at_last_end(env):
    env.write("sc2", "@daily", extra="start_date: 2026-11-04\ncatchup: true\n")
    env.tick("2026-11-06T00:10:00+00:00")
    assert env.runs("sc2") == days("2026-11-04T00:00:00+00:00", 2)
    env.write("sc2", "@hourly", extra="start_date: 2026-11-04\ncatchup: true\n")
    env.tick("2026-11-06T03:10:00+00:00")
    assert env.runs("sc2")[2:] == hours("2026-11-06T00:00:00+00:00", 3)


def test_cache_invalidated_by_edit(env):
    env.write("ce", "@daily")
    env.tick("2026-11-05T00:10:00+00:00")
    r = env.tick("2026-11-05T05:10:00+00:00")
    assert (r.stdout, r.stderr) == ("", "")
    assert env.runs("ce") == ["2026-11-04T00:00:00+00:00"]
    env.write("ce", "@hourly")
    env.tick("2026-11-05T05:20:00+00:00")
    assert env.runs("ce") == ["2026-11-04T00:00:00+00:00", "2026-11-05T04:00:00+00:00"]


def test_cache_new_file_seen(env):
    env.write("n1", "@daily")
    env.tick("2026-11-05T00:10:00+00:00")
    assert env.tick("2026-11-05T05:10:00+00:00").stdout == ""
    env.write("n2", "@hourly")
    env.tick("2026-11-05T05:20:00+00:00")
    assert env.runs("n2") == ["2026-11-05T04:00:00+00:00"]


# --- DST through tick ------------------------------------------------------------------------------

def test_tick_daily_amsterdam_across_dst(env):
    env.write("ams", "@daily", tz="Europe/Amsterdam", extra="start_date: 2026-03-27\ncatchup: true\n")
    r = env.tick("2026-04-01T00:30:00+00:00")
    assert r.returncode == 0, r.stderr
    path = env.root / "ams.txt"
    got = path.read_text().split("\n")
    ds = [line.split()[0] for line in got if line]
    assert ds == ["2026-03-27", "2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    assert env.runs("ams")[2] == "2026-03-29T00:00:00+01:00"
    assert env.runs("ams")[3] == "2026-03-30T00:00:00+02:00"


def test_tick_hourly_amsterdam_fall_back(env):
    env.write("amh", "@hourly", tz="Europe/Amsterdam", extra="start_date: 2026-10-24T23:00:00\ncatchup: true\n")
    env.tick("2026-10-25T00:30:00+00:00")      # 02:30 CEST
    env.tick("2026-10-25T01:30:00+00:00")      # 02:30 CET
    env.tick("2026-10-25T03:30:00+00:00")
    got = [datetime.fromisoformat(s).astimezone(UTC) for s in env.runs("amh")]
    assert got == [datetime(2026, 10, 24, 21, tzinfo=UTC) + timedelta(hours=k) for k in range(6)]


# --- backfill and history ---------------------------------------------------------------------------

def test_backfill_skip_rerun_and_kinds(env):
    env.write("bf", "@daily")
    r = env.cli("backfill", "bf", "--start", "2026-11-01", "--end", "2026-11-07")
    assert r.returncode == 0, r.stderr
    assert env.runs("bf") == days("2026-11-01T00:00:00+00:00", 7)
    r = env.cli("backfill", "bf", "--start", "2026-11-01", "--end", "2026-11-07")
    assert r.returncode == 0 and env.runs("bf") == days("2026-11-01T00:00:00+00:00", 7)
    assert "7 skipped" in r.stdout
    r = env.cli("backfill", "bf", "--start", "2026-11-01", "--end", "2026-11-07", "--rerun")
    assert r.returncode == 0
    assert env.runs("bf") == days("2026-11-01T00:00:00+00:00", 7) * 2
    # tick does not redo what backfill ran: its latest interval (11-07) is done
    r = env.tick("2026-11-08T00:10:00+00:00")
    assert env.runs("bf")[14:] == []
    r = env.tick("2026-11-09T00:10:00+00:00")
    assert env.runs("bf")[14:] == ["2026-11-08T00:00:00+00:00"]
    r = env.cli("run", "bf", "--date", "2026-11-09")
    assert r.returncode == 0, r.stderr
    # run --date claims the interval: tick does not run 11-09 again
    env.tick("2026-11-10T00:10:00+00:00")
    assert env.runs("bf")[14:] == ["2026-11-08T00:00:00+00:00", "2026-11-09T00:00:00+00:00"]
    st = json.loads(env.cli("status", "bf", "--json").stdout)
    kinds = [r["kind"] for r in reversed(st["pipelines"][0]["runs"])]   # oldest first
    assert set(kinds) == {"backfill", "scheduled", "manual"}
    assert kinds[-2:] == ["scheduled", "manual"]


def test_backfill_failing_interval_exit_1(env):
    env.write("bff", "@daily", run="echo {{ ds }} {{ data_interval_start }} >> bff.txt; test {{ ds }} != 2026-11-02")
    r = env.cli("backfill", "bff", "--start", "2026-11-01", "--end", "2026-11-03")
    assert r.returncode == 1
    assert env.runs("bff") == days("2026-11-01T00:00:00+00:00", 3)
    # the failed one is not skipped next time
    r = env.cli("backfill", "bff", "--start", "2026-11-01", "--end", "2026-11-03")
    assert env.runs("bff")[3:] == ["2026-11-02T00:00:00+00:00"]


def test_run_date_and_latest(env):
    env.write("rd", "30 6 * * *")
    r = env.cli("run", "rd", "--date", "2026-11-03T06:29:00")
    assert r.returncode == 0, r.stderr
    r = env.cli("run", "rd", "--date", "2026-11-03T06:30:00")
    assert env.runs("rd") == ["2026-11-02T06:30:00+00:00", "2026-11-03T06:30:00+00:00"]
    def latest_interval(now):       # the start of the last daily 06:30 interval that has ended
        last = now.replace(hour=6, minute=30, second=0, microsecond=0)
        if last > now:
            last -= timedelta(days=1)
        return (last - timedelta(days=1)).isoformat()

    before = datetime.now(UTC)      # the run reads the clock between these two
    r = env.cli("run", "rd")
    after = datetime.now(UTC)
    assert r.returncode == 0, r.stderr
    assert env.runs("rd")[2] in {latest_interval(before), latest_interval(after)}


def test_list_shows_next_due(env):
    env.write("ls", "@hourly")

    def hour_of(t):
        return t.replace(minute=0, second=0, microsecond=0)

    before = datetime.now(UTC)      # list reads the clock between these two
    r = env.cli("list", "--json")
    after = datetime.now(UTC)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)["pipelines"][0]
    nxt = datetime.fromisoformat(row["next_due"])
    # The last hour has ended and tick has not run it: it is due, as tick reckons it (issue 15).
    assert nxt in {hour_of(before), hour_of(after)}
    assert env.tick(after.isoformat()).returncode == 0
    nxt = datetime.fromisoformat(json.loads(env.cli("list", "--json").stdout)["pipelines"][0]["next_due"])
    assert nxt == hour_of(after) + timedelta(hours=1)     # also if the hour turns after the tick
    r = env.cli("list")
    assert "ls" in r.stdout and "next due" in r.stdout
    import re
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:00:00\+00:00", r.stdout)


# --- a simulated day ----------------------------------------------------------------------------------

class _InProcess:
    """Stands in for scheduling.ticking.start_child (a fork per due pipeline): runs it in this process."""

    def __init__(self, function, *args):
        self.code = function(*args)

    def wait(self):
        return self.code


def test_simulated_day_every_minute(env, project, monkeypatch, capsys):
    """Every minute of 24 hours through commands.tick in-process (the child processes of a tick
    replaced by in-process calls to speed this up; test_simulated_hours_cli uses real processes)."""
    env.write("hr", "@hourly", extra="start_date: 2026-11-05\n")
    env.write("q", "*/15 * * * *", extra="start_date: 2026-11-05\n")
    from pipeline_cli import commands
    from pipeline_cli.scheduling import ticking as scheduler

    monkeypatch.setattr(scheduler, "start_child", _InProcess)
    monkeypatch.chdir(project)
    g = commands.Globals(Path("pipelines"), Path("state"))
    t = datetime(2026, 11, 5, tzinfo=UTC)
    capsys.readouterr()
    from pipeline_cli.errors import exit_code_of

    for minute in range(24 * 60 + 1):
        now = (t + timedelta(minutes=minute)).isoformat()
        assert exit_code_of(commands.tick(g, now)) == 0, now
        out = capsys.readouterr()
        assert (out.out, out.err) == ("", ""), now      # quiet when every run succeeded (SPEC section 5)
    assert env.runs("hr") == hours("2026-11-05T00:00:00+00:00", 24)
    assert env.runs("q") == hours("2026-11-05T00:00:00+00:00", 96, timedelta(minutes=15))


def test_simulated_hours_cli(env):
    """Every 5 minutes of 2 hours through the real CLI."""
    env.write("hr", "@hourly", extra="start_date: 2026-11-05\n")
    env.write("q", "*/15 * * * *", extra="start_date: 2026-11-05\n")
    t = datetime(2026, 11, 5, tzinfo=UTC)
    for minute in range(0, 2 * 60 + 1, 5):
        r = env.tick((t + timedelta(minutes=minute)).isoformat())
        assert r.returncode == 0, r.stderr
        if minute % 15:
            assert (r.stdout, r.stderr) == ("", ""), minute
    assert env.runs("hr") == hours("2026-11-05T00:00:00+00:00", 2)
    assert env.runs("q") == hours("2026-11-05T00:00:00+00:00", 8, timedelta(minutes=15))
