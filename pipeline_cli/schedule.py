"""Data intervals (Airflow's meaning) of a cron schedule in a timezone.

An interval is [cron time, next cron time); its run is due once it has ended, and its
logical date is its start. Every function takes `now`; nothing here reads the clock.
Cron is read in the pipeline's timezone (so a daily run is one per calendar day across
daylight-saving changes); instants are compared in UTC.
"""
from __future__ import annotations

import re
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .errors import UsageError

UTC = timezone.utc
_SECOND = timedelta(seconds=1)
_SHIFT = timedelta(hours=3)      # longer than any daylight-saving gap or fold


@dataclass(frozen=True, order=True)
class Interval:
    start: datetime   # aware, in the pipeline's timezone
    end: datetime

    @property
    def key(self) -> str:
        """The interval's identity in the ledger: its start in UTC."""
        return self.start.astimezone(UTC).isoformat()


NAMED = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")


class OutOfRange(UsageError):
    """An interval that would start or end outside the dates Python can hold (years 1 to 9999)."""


@contextlib.contextmanager
def _in_range(expr: str, t: datetime):
    try:
        yield
    except OverflowError:
        raise OutOfRange(f"schedule {expr!r} has no interval around {t.isoformat()} that pipe can "
                         "represent (dates run from year 1 to 9999)") from None


def cron_problem(expr: str) -> str | None:
    """Why a schedule is not a 5-field cron expression or a named one; None when it is."""
    from croniter import croniter

    if expr in NAMED:
        return None
    if len(expr.split()) != 5:
        return f"schedule {expr!r} is not a 5-field cron expression or one of {', '.join(NAMED)}"
    if not croniter.is_valid(expr):
        return f"schedule {expr!r} is not a valid cron expression (minute hour day-of-month month day-of-week)"
    from croniter import CroniterBadDateError

    try:
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, OverflowError):
        return f"schedule {expr!r} never fires (a day that no month has, such as 31 February?)"
    return None


class Schedule:
    def __init__(self, expr: str, tz: str = "UTC", start_date: datetime | None = None):
        from croniter import croniter

        self._croniter = croniter
        self.expr = expr
        self.tz = ZoneInfo(tz)
        self.start_date = start_date
        # As Airflow 3's CronDataIntervalTimetable: a schedule that fires in every hour (its hour
        # field is `*` once croniter has normalised it: @hourly, */15 * * * *) steps in absolute
        # time, so it runs in both copies of an hour that a fall-back night repeats. Any other
        # schedule is a set of wall-clock times: one in a repeated hour is the later copy
        # (fold=1), one in an hour that a spring-forward night skips is moved on by the gap
        # (02:30 -> 03:30). See _wall_next / _wall_prev.
        self._fixed_time = croniter(expr).expanded[1] != ["*"]

    def _local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def next_after(self, t: datetime) -> datetime:
        """The first cron time strictly after t."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_next(t)
            return self._fix(self._croniter(self.expr, self._local(t)).get_next(datetime))

    def at_or_before(self, t: datetime) -> datetime:
        """The latest cron time at or before t (cron times are whole minutes)."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_prev(t, inclusive=True)
            floor = self._local(t).replace(second=0, microsecond=0)
            found = self._fix(self._croniter(self.expr, floor + _SECOND).get_prev(datetime))
        return self._forward(found, t, True)

    def before(self, t: datetime) -> datetime:
        """The latest cron time strictly before t."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_prev(t, inclusive=False)
            found = self._fix(self._croniter(self.expr, self._local(t)).get_prev(datetime))
        return self._forward(found, t, False)

    # --- schedules that do not fire every hour: Airflow's chain of wall-clock times ------

    def _place(self, wall: datetime) -> datetime:
        """A naive wall time of the cron as an instant: in a repeated hour the later copy
        (fold=1), in a skipped hour moved on by the gap (zoneinfo's fold=0 reading there)."""
        later = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC).astimezone(self.tz)
        if later.replace(tzinfo=None) == wall:
            return later
        return wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC).astimezone(self.tz)

    def _step(self, c: datetime) -> datetime:
        """The cron time after the cron time c, as Airflow 3's CronMixin._get_next finds it:
        the next wall time after c's wall time, placed. (After a time moved on by a gap,
        02:00 -> 03:00, the wall times it passed, 02:20 and 02:40, are not cron times.)"""
        wall = self._local(c).replace(tzinfo=None, fold=0)
        return self._place(self._croniter(self.expr, wall).get_next(datetime))

    def _anchor(self, t: datetime) -> datetime:
        """A cron time hours before t and clear of any daylight-saving change before it, so
        that it is a cron time of the chain whatever came earlier: walks start there."""
        wall = self._local(t).replace(tzinfo=None, fold=0) - 2 * _SHIFT
        it = self._croniter(self.expr, wall)
        while True:
            n = it.get_prev(datetime)
            placed = self._place(n)
            u = placed.astimezone(UTC)
            if placed.replace(tzinfo=None) == n and (u - _SHIFT).astimezone(self.tz).utcoffset() == placed.utcoffset():
                return placed

    def _wall_next(self, t: datetime) -> datetime:
        """The earliest cron time strictly after t: walk the chain from an anchor before t."""
        t_utc = t.astimezone(UTC)
        c = self._anchor(t)
        while c.astimezone(UTC) <= t_utc:
            c = self._step(c)
        return c

    def _wall_prev(self, t: datetime, inclusive: bool) -> datetime:
        """The latest cron time before t (or at t), by the same walk. Unlike Airflow 3.3.2's
        _get_prev, a time moved on by a gap (03:30) never answers itself: its previous cron
        time is the one of the day before (apache/airflow#70089)."""
        t_utc = t.astimezone(UTC)
        c = self._anchor(t)
        while True:
            n = self._step(c)
            u = n.astimezone(UTC)
            if u > t_utc or (u == t_utc and not inclusive):
                return c
            c = n

    def _forward(self, found: datetime, t: datetime, inclusive: bool) -> datetime:
        # croniter's get_prev ignores `fold`: in the repeated hour of a fall-back night it
        # answers an hour early. Step forward with next_after (which is right) to the last
        # cron time at (or strictly before) t. (Compared in UTC: an aware time in the repeated
        # hour never compares == to one in another zone, PEP 495.)
        t = t.astimezone(UTC)
        while True:
            n = self.next_after(found).astimezone(UTC)
            if n < t or (inclusive and n == t):
                found = self._local(n)
            else:
                return found

    def _fix(self, t: datetime) -> datetime:
        # croniter returns local wall times; normalise through UTC so the offset is right.
        return t.astimezone(UTC).astimezone(self.tz)

    def interval_at(self, start: datetime) -> Interval:
        return Interval(self._local(start), self.next_after(start))

    def _after_cron_time(self, c: datetime) -> datetime:
        """next_after(c) for c a cron time of the schedule: one step, no walk."""
        if self._fixed_time:
            with _in_range(self.expr, c):
                return self._step(c)
        return self.next_after(c)

    def interval_for(self, d: datetime) -> Interval:
        """The interval that starts at the latest cron time at or before d (`run --date`)."""
        return self.interval_at(self.at_or_before(d))

    def latest_complete(self, now: datetime) -> Interval | None:
        """The latest interval that has ended by now, not starting before start_date."""
        end = self.at_or_before(now)
        start = self.before(end)
        if self.start_date is not None and _u(start) < _u(self.start_date):
            return None
        return Interval(start, end)

    def first_start_at_or_after(self, t: datetime) -> datetime:
        start = self.at_or_before(t)
        return start if _u(start) >= _u(t) else self.next_after(t)

    def intervals(self, from_: datetime, now: datetime, limit: int = 100_000):
        """Every complete interval starting at or after from_ and ending by now, oldest first."""
        start = self.first_start_at_or_after(from_)
        if self.start_date is not None and _u(start) < _u(self.start_date):
            start = self.first_start_at_or_after(self.start_date)
        out = []
        while len(out) < limit:
            end = self._after_cron_time(start)
            if _u(end) > _u(now):
                break
            out.append(Interval(start, end))
            start = end
        return out

    def next_due(self, after: datetime) -> datetime:
        """When the next interval ends after `after` (the next moment a run can become due)."""
        t = self.next_after(after)
        if self.start_date is not None:
            first_end = self.next_after(self.first_start_at_or_after(self.start_date))
            t = max(t, first_end, key=_u)
        return t


def _u(t: datetime) -> datetime:
    """Aware date-times compare by wall clock when they share a tzinfo, fold ignored (PEP
    495): in a repeated hour 02:30+02:00 == 02:30+01:00. Compare them in UTC instead."""
    return t.astimezone(UTC)


_ISO_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                        r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?\Z")


def parse_instant(text: str, tz: str = "UTC") -> datetime:
    """An ISO date or date-time; one without an offset is read in tz."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as e:
        if _ISO_SHAPE.match(text.strip()):      # the right shape, but no such day or time
            raise ValueError(f"{text!r} is not a date that exists ({e})") from None
        raise ValueError(f"not an ISO date or date-time: {text!r} (expected e.g. 2026-11-01 or 2026-11-01T06:00:00+01:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    try:
        value.astimezone(UTC), value.astimezone(ZoneInfo(tz))
    except OverflowError:
        raise ValueError(f"{text!r} is too close to the ends of the calendar (year 1 or 9999) to be read "
                         f"in {'UTC' if tz == 'UTC' else 'UTC and ' + tz}") from None
    return value


def describe_cron(expr: str) -> str:
    """A few words for `pipe list`."""
    words = {"@hourly": "every hour", "@daily": "every day at 00:00", "@weekly": "every Sunday at 00:00",
             "@monthly": "on the 1st of every month at 00:00", "@yearly": "every 1 January at 00:00",
             "@annually": "every 1 January at 00:00", "@midnight": "every day at 00:00"}
    if expr in words:
        return words[expr]
    parts = expr.split()
    if len(parts) == 5:
        minute, hour, dom, month, dow = parts
        if minute.startswith("*/") and hour == dom == month == dow == "*":
            return f"every {minute[2:]} minutes"
        if minute.isdigit() and hour == dom == month == dow == "*":
            return f"every hour at minute {int(minute)}"
        if minute.isdigit() and hour.isdigit() and dom == month == "*":
            at = f"{int(hour):02d}:{int(minute):02d}"
            return f"every day at {at}" if dow == "*" else f"at {at} on weekdays {dow}"
    return f"cron {expr}"
