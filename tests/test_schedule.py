"""Interval arithmetic (SPEC section 2 and 5) through the core API: pipeline_cli.schedule."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pipeline_cli.run import interval_for as window_for
from pipeline_cli.model import Pipeline
from pipeline_cli.schedule import Schedule, cron_problem

UTC = timezone.utc
AMS = ZoneInfo("Europe/Amsterdam")


def u(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def starts(intervals) -> list[str]:
    return [i.start.isoformat() for i in intervals]


# --- named schedules and cron --------------------------------------------------------------

@pytest.mark.parametrize("expr, now, start, end", [
    ("@daily", "2026-11-03T10:20:00", "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00"),
    ("@hourly", "2026-11-03T10:20:00", "2026-11-03T09:00:00+00:00", "2026-11-03T10:00:00+00:00"),
    ("*/15 * * * *", "2026-11-03T10:20:00", "2026-11-03T10:00:00+00:00", "2026-11-03T10:15:00+00:00"),
    ("30 6 * * *", "2026-11-03T10:20:00", "2026-11-02T06:30:00+00:00", "2026-11-03T06:30:00+00:00"),
    ("30 6 * * *", "2026-11-03T06:29:59", "2026-11-01T06:30:00+00:00", "2026-11-02T06:30:00+00:00"),
    # exactly at the end of an interval: that interval has ended (end <= now)
    ("@daily", "2026-11-03T00:00:00", "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00"),
    ("@hourly", "2026-11-03T10:00:00", "2026-11-03T09:00:00+00:00", "2026-11-03T10:00:00+00:00"),
    ("@weekly", "2026-11-03T10:00:00", "2026-10-25T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),
    ("@monthly", "2026-11-03T10:00:00", "2026-10-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),
])
def test_latest_complete(expr, now, start, end):
    i = Schedule(expr).latest_complete(u(now))
    assert (i.start.isoformat(), i.end.isoformat()) == (start, end)
    assert i.end <= u(now)


@pytest.mark.parametrize("expr, d, start, end", [
    ("@daily", "2026-11-03T10:20:00", "2026-11-03T00:00:00+00:00", "2026-11-04T00:00:00+00:00"),
    ("@daily", "2026-11-03T00:00:00", "2026-11-03T00:00:00+00:00", "2026-11-04T00:00:00+00:00"),
    ("@hourly", "2026-11-03T10:59:59", "2026-11-03T10:00:00+00:00", "2026-11-03T11:00:00+00:00"),
    ("*/15 * * * *", "2026-11-03T10:15:00", "2026-11-03T10:15:00+00:00", "2026-11-03T10:30:00+00:00"),
    ("*/15 * * * *", "2026-11-03T10:14:59", "2026-11-03T10:00:00+00:00", "2026-11-03T10:15:00+00:00"),
    ("30 6 * * *", "2026-11-03T06:29:00", "2026-11-02T06:30:00+00:00", "2026-11-03T06:30:00+00:00"),
    ("30 6 * * *", "2026-11-03T06:30:00", "2026-11-03T06:30:00+00:00", "2026-11-04T06:30:00+00:00"),
])
def test_interval_for_date(expr, d, start, end):
    i = Schedule(expr).interval_for(u(d))
    assert (i.start.isoformat(), i.end.isoformat()) == (start, end)


def test_intervals_every_15_minutes():
    s = Schedule("*/15 * * * *")
    got = s.intervals(u("2026-11-03T10:00:00"), u("2026-11-03T11:07:00"))
    assert starts(got) == ["2026-11-03T10:00:00+00:00", "2026-11-03T10:15:00+00:00",
                           "2026-11-03T10:30:00+00:00", "2026-11-03T10:45:00+00:00"]
    assert all(a.end == b.start for a, b in zip(got, got[1:]))
    # from_ between cron times: starts at the next cron time
    assert starts(s.intervals(u("2026-11-03T10:01:00"), u("2026-11-03T10:45:00"))) == [
        "2026-11-03T10:15:00+00:00", "2026-11-03T10:30:00+00:00"]


def test_start_date_bounds_intervals():
    s = Schedule("@daily", "UTC", u("2026-11-02T00:00:00"))
    assert s.latest_complete(u("2026-11-02T12:00:00")) is None
    i = s.latest_complete(u("2026-11-03T00:00:00"))
    assert i.start == u("2026-11-02T00:00:00")
    assert starts(s.intervals(u("2026-10-01T00:00:00"), u("2026-11-05T01:00:00"))) == [
        "2026-11-02T00:00:00+00:00", "2026-11-03T00:00:00+00:00", "2026-11-04T00:00:00+00:00"]
    assert s.next_due(u("2026-10-01T00:00:00")) == u("2026-11-03T00:00:00")


def test_next_due():
    assert Schedule("@hourly").next_due(u("2026-11-03T10:20:00")) == u("2026-11-03T11:00:00")
    assert Schedule("*/15 * * * *").next_due(u("2026-11-03T10:15:00")) == u("2026-11-03T10:30:00")


def test_timezone_reading():
    s = Schedule("@daily", "Europe/Amsterdam")
    i = s.latest_complete(u("2026-11-03T10:00:00"))
    assert i.start.isoformat() == "2026-11-02T00:00:00+01:00"
    assert i.end.isoformat() == "2026-11-03T00:00:00+01:00"
    # 23:30 UTC on 2 Nov is 00:30 on 3 Nov in Amsterdam: the 2 Nov interval has ended
    i = s.latest_complete(u("2026-11-02T23:30:00"))
    assert i.start.isoformat() == "2026-11-02T00:00:00+01:00"


@pytest.mark.parametrize("expr", ["@daily", "@hourly", "*/15 * * * *", "0 6 * * 1-5", "@weekly"])
def test_valid_cron(expr):
    assert cron_problem(expr) is None


@pytest.mark.parametrize("expr", ["* * * *", "61 * * * *", "@every5m", "0 6 * * * *"])
def test_invalid_cron(expr):
    assert cron_problem(expr)


# --- daylight saving time --------------------------------------------------------------------

@pytest.mark.parametrize("first, last", [("2026-03-25", "2026-04-02"), ("2026-10-21", "2026-10-29")])
def test_daily_across_dst_one_interval_per_calendar_day(first, last):
    s = Schedule("@daily", "Europe/Amsterdam")
    frm = datetime.fromisoformat(first).replace(tzinfo=AMS)
    now = datetime.fromisoformat(last).replace(tzinfo=AMS)
    got = s.intervals(frm, now)
    days = [i.start.date().isoformat() for i in got]
    d0 = datetime.fromisoformat(first).date()
    assert days == [(d0 + timedelta(days=k)).isoformat() for k in range(8)]
    for i in got:
        assert (i.start.hour, i.start.minute) == (0, 0)
        assert (i.end.hour, i.end.minute) == (0, 0)
        assert i.end.date() == i.start.date() + timedelta(days=1)
    lengths = {i.start.date().isoformat(): (i.end - i.start).total_seconds() / 3600 for i in got}
    real = {k: (datetime.fromisoformat(i.end.isoformat()).astimezone(UTC)
                - i.start.astimezone(UTC)).total_seconds() / 3600 for k, i in zip(lengths, got)}
    if first.startswith("2026-03"):
        assert real["2026-03-29"] == 23
    else:
        assert real["2026-10-25"] == 25
    assert sorted(set(real.values()) - {24.0}) in ([23.0], [25.0])
    # latest_complete and interval_for agree on the change day
    change = "2026-03-29" if first.startswith("2026-03") else "2026-10-25"
    d = datetime.fromisoformat(change + "T12:00:00").replace(tzinfo=AMS)
    i = s.interval_for(d)
    assert i.start.date().isoformat() == change and i.start.hour == 0
    nxt = datetime.fromisoformat(change).replace(tzinfo=AMS) + timedelta(days=1, minutes=5)
    assert s.latest_complete(nxt).start.date().isoformat() == change


@pytest.mark.parametrize("frm, now", [
    ("2026-03-28T20:00:00+00:00", "2026-03-29T06:00:00+00:00"),
    ("2026-10-24T20:00:00+00:00", "2026-10-25T06:00:00+00:00"),
])
def test_hourly_across_dst_no_hour_twice_none_missing(frm, now):
    s = Schedule("@hourly", "Europe/Amsterdam")
    got = s.intervals(u(frm), u(now))
    utc_starts = [i.start.astimezone(UTC) for i in got]
    expected = [u(frm) + timedelta(hours=k) for k in range(10)]
    assert utc_starts == expected
    assert len(set(utc_starts)) == len(utc_starts)
    for i in got:
        assert (i.end.astimezone(UTC) - i.start.astimezone(UTC)).total_seconds() == 3600
        assert i.start.minute == 0
    for a, b in zip(got, got[1:]):
        assert a.end.astimezone(UTC) == b.start.astimezone(UTC)
    # distinct ledger keys (the key is the UTC start)
    assert len({i.key for i in got}) == len(got)


def test_hourly_fall_back_each_step():
    """Walking latest_complete minute by minute through the fall-back night yields each real hour once."""
    s = Schedule("@hourly", "Europe/Amsterdam")
    t = u("2026-10-24T22:00:00")
    seen = []
    while t <= u("2026-10-25T04:00:00"):
        i = s.latest_complete(t)
        if not seen or seen[-1] != i.key:
            seen.append(i.key)
        assert (i.end.astimezone(UTC) - i.start.astimezone(UTC)) == timedelta(hours=1)
        assert i.end.astimezone(UTC) <= t
        t += timedelta(minutes=1)
    assert seen == [(u("2026-10-24T21:00:00") + timedelta(hours=k)).isoformat() for k in range(7)]


def test_hourly_interval_for_ambiguous_hour():
    s = Schedule("@hourly", "Europe/Amsterdam")
    # 02:30 CEST (00:30 UTC) and 02:30 CET (01:30 UTC) are different hours
    a = s.interval_for(u("2026-10-25T00:30:00"))
    b = s.interval_for(u("2026-10-25T01:30:00"))
    assert a.start.astimezone(UTC) == u("2026-10-25T00:00:00")
    assert b.start.astimezone(UTC) == u("2026-10-25T01:00:00")
    assert a.end.astimezone(UTC) == b.start.astimezone(UTC)


# --- run --date / run without a date ----------------------------------------------------------

def _pipeline(schedule, tz="UTC"):
    return Pipeline(name="p", path="/nonexistent/p.yaml", folder="/nonexistent", tasks={},
                    schedule=schedule, timezone=tz)


def test_window_for_date_and_latest():
    p = _pipeline("30 6 * * *", "Europe/Amsterdam")
    w = window_for(p, datetime(2026, 11, 3, 6, 29, tzinfo=AMS), u("2026-11-10T00:00:00"))
    assert w.start.isoformat() == "2026-11-02T06:30:00+01:00"
    assert w.end.isoformat() == "2026-11-03T06:30:00+01:00"
    w = window_for(p, datetime(2026, 11, 3, 6, 30, tzinfo=AMS), u("2026-11-10T00:00:00"))
    assert w.start.isoformat() == "2026-11-03T06:30:00+01:00"
    w = window_for(p, None, u("2026-11-03T05:40:00"))     # 06:40 in Amsterdam
    assert w.start.isoformat() == "2026-11-02T06:30:00+01:00"
    assert w.end.isoformat() == "2026-11-03T06:30:00+01:00"


def test_exactly_at_the_repeated_hour():
    """01:00 UTC on 2026-10-25 is 02:00 CET (fold=1): a cron time itself, and the start of its interval."""
    s = Schedule("@hourly", "Europe/Amsterdam")
    t = u("2026-10-25T01:00:00")
    assert s.at_or_before(t).astimezone(UTC) == t
    assert s.interval_for(t).start.astimezone(UTC) == t
    assert s.latest_complete(t).start.astimezone(UTC) == u("2026-10-25T00:00:00")
    assert [i.start.astimezone(UTC) for i in s.intervals(t, u("2026-10-25T03:30:00"))] == [
        u("2026-10-25T01:00:00"), u("2026-10-25T02:00:00")]
    assert s.next_due(u("2026-10-25T00:30:00")).astimezone(UTC) == t


@pytest.mark.parametrize("expr", ["30 2 * * *", "0 2 * * *", "15 2 * * 0"])
def test_fixed_time_in_repeated_hour_runs_once(expr):
    """As Airflow 3's CronDataIntervalTimetable (SPEC 2): a fixed-time job in the hour a
    fall-back night repeats runs once that day, at the later copy of the time (fold=1)."""
    s = Schedule(expr, "Europe/Amsterdam")
    got = s.intervals(u("2026-10-23T00:00:00"), u("2026-11-10T00:00:00"))
    day_list = [i.start.date().isoformat() for i in got]
    assert len(day_list) == len(set(day_list))
    assert "2026-10-25" in day_list
    i = s.interval_for(u("2026-10-25T01:45:00"))       # 02:45 CET, the second copy of the hour
    assert i.start.date().isoformat() == "2026-10-25"
    assert i.start.utcoffset() == timedelta(hours=1)       # the later copy: +01:00
    assert i.start.astimezone(UTC) >= u("2026-10-25T01:00:00")
    assert s.latest_complete(u("2026-10-26T12:00:00")).start.date().isoformat() in ("2026-10-25", "2026-10-18")


def test_wildcard_hour_in_repeated_hour_runs_twice():
    s = Schedule("30 * * * *", "Europe/Amsterdam")
    got = s.intervals(u("2026-10-24T23:00:00"), u("2026-10-25T03:00:00"))
    assert [i.start.astimezone(UTC) for i in got] == [u("2026-10-24T23:30:00") + timedelta(hours=k) for k in range(3)]


# --- what `pipe list` says a schedule does, and the named schedules -----------------------------

@pytest.mark.parametrize("expr, words", [
    ("*/45 * * * *", "every hour at minutes 0 and 45"),      # :00 and :45, not every 45 minutes
    ("*/15 * * * *", "every 15 minutes"),
    ("*/7 * * * *", "every hour at minutes 0, 7, 14, 21, 28, 35, 42, 49 and 56"),
    ("* * * * *", "every minute"),
    ("5 * * * *", "every hour at minute 5"),
    ("30 6 * * *", "every day at 06:30"),
    ("0 0 * * 0", "at 00:00 on Sundays"),
    ("0 0 * * sun", "at 00:00 on Sundays"),
    ("0 0 * * 7", "at 00:00 on Sundays"),
    ("30 6 * * 1-5", "at 06:30 on Monday to Friday"),
    ("0 0 * * 1,3,5", "at 00:00 on Mondays, Wednesdays and Fridays"),
    ("0 9-17 * * mon-fri", "every hour from 09:00 to 17:00 on Monday to Friday"),
    ("0 0 1,15 * *", "at 00:00 on the 1st and 15th of every month"),
    ("0 0 1 * 1", "at 00:00 on the 1st of every month or on Mondays"),       # cron: either day rule
    ("0 12 * 1,7 *", "at 12:00 in January and July"),
    ("0 */6 * * *", "every day at 00:00, 06:00, 12:00 and 18:00"),
    ("@quarterly", "at 00:00 on the 1st of January, April, July and October"),
    ("@once", "once"),
])
def test_descriptions_say_what_the_schedule_does(expr, words):
    from pipeline_cli.schedule import describe_cron

    assert describe_cron(expr) == words


@pytest.mark.parametrize("expr, field", [("*/61 * * * *", "minute"), ("0 */24 * * *", "hour"),
                                         ("0 0 */31 * *", "day-of-month"), ("0 0 1 */12 *", "month"),
                                         ("0 0 * * */7", "day-of-week")])
def test_a_step_larger_than_its_field_is_refused(expr, field):
    why = cron_problem(expr)
    assert why and f"in the {field} field" in why and "alone" in why, why


def test_steps_that_fit_are_accepted():
    assert cron_problem("*/59 * * * *") is None and cron_problem("0 */23 * * *") is None


def test_step_refused_at_its_place_in_the_file(write_pipeline, pipe):
    write_pipeline("s", 'description: x\nschedule: "*/61 * * * *"\ntasks:\n  a: {run: echo}\n')
    r = pipe("validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "s.yaml:2:11:" in r.stderr and "/61" in r.stderr, r.stderr


def test_quarterly_is_the_first_of_every_third_month():
    s = Schedule("@quarterly")
    got = s.intervals(u("2026-01-01T00:00:00"), u("2027-01-01T00:00:00"))
    assert starts(got) == ["2026-01-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", "2026-07-01T00:00:00+00:00",
                           "2026-10-01T00:00:00+00:00"]
    assert cron_problem("@quarterly") is None and cron_problem("@once") is None


def test_named_schedules_are_in_the_schema_and_a_misspelt_one_is_named():
    import json
    import re

    from conftest import ROOT

    pattern = json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())["properties"]["schedule"]["pattern"]
    for name in ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@once"):
        assert re.match(pattern, name), name
    assert "did you mean '@daily'" in cron_problem("@dayly")


# --- counting intervals without walking them (backfill's bound) ---------------------------------

class _Counting(Schedule):
    steps = 0

    def _after_cron_time(self, c):
        type(self).steps += 1
        return super()._after_cron_time(c)


@pytest.mark.parametrize("expr, first, last, about", [
    ("*/5 * * * *", "2026-11-01", "2026-11-11", 288 * 9),          # whole days strictly inside the range
    ("@daily", "2026-01-01", "2027-01-01", 364),
    ("0 0 * * 1-5", "2026-11-01", "2026-11-30", 20),
    ("0 0 29 2 *", "2000-01-01", "2100-01-01", 25),             # 2000 to 2096
    ("0 6 1,15 * 1", "2026-11-01", "2026-12-01", 6),              # the 15th, and Mondays 2, 9, 16, 23, 30
])
def test_count_about(expr, first, last, about):
    assert Schedule(expr).count_about(u(first + "T00:00:00"), u(last + "T00:00:00"), 10**9) == about


def test_a_century_of_five_minutes_is_refused_without_walking_it():
    from pipeline_cli.errors import UsageError
    from pipeline_cli.scheduling import backfill_intervals

    p = _pipeline("*/5 * * * *")
    sched = _Counting("*/5 * * * *")
    _Counting.steps = 0
    with pytest.raises(UsageError, match="holds more than 100,000 intervals"):
        backfill_intervals(p, sched, u("1900-01-01T00:00:00"), u("2000-01-01T00:00:00"), u("2026-11-01T00:00:00"))
    assert _Counting.steps == 0
    got = backfill_intervals(p, sched, u("2026-10-01T00:00:00"), u("2026-10-01T01:00:00"), u("2026-11-01T00:00:00"))
    assert len(got) == 13 and _Counting.steps == 13
