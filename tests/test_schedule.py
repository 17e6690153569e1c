"""Interval arithmetic (SPEC section 2 and 5) through the core API: pipeline_cli.schedule."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pipeline_cli.runner import window_for
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
