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


NAMED = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@once")
# The named schedules as the cron expressions they stand for (@once has none: see Once).
CRON_OF = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
           "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *"}
ONCE = "@once"
# Each cron field: its name, its lowest and its highest value.
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 6))


class OutOfRange(UsageError):
    """An interval that would start or end outside the dates Python can hold (years 1 to 9999)."""


@contextlib.contextmanager
def _in_range(expr: str, t: datetime):
    try:
        yield
    except (OverflowError, ValueError) as e:
        if isinstance(e, ValueError) and "out of range" not in str(e):     # croniter: "year 0 is out of range"
            raise
        raise OutOfRange(f"schedule {expr!r} has no interval around {t.isoformat()} that pipe can "
                         "represent (dates run from year 1 to 9999)") from None


def cron_problem(expr: str) -> str | None:
    """Why a schedule is not a 5-field cron expression or a named one; None when it is."""
    from croniter import croniter

    if expr in NAMED:
        return None
    if expr.startswith("@"):
        import difflib

        close = difflib.get_close_matches(expr, NAMED, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (the named ones are {', '.join(NAMED)})"
        return f"schedule {expr!r} is not a named schedule{hint}"
    if len(expr.split()) != 5:
        return f"schedule {expr!r} is not a 5-field cron expression or one of {', '.join(NAMED)}"
    if not croniter.is_valid(expr):
        return f"schedule {expr!r} is not a valid cron expression (minute hour day-of-month month day-of-week)"
    why = _step_problem(expr)
    if why:
        return why
    from croniter import CroniterBadDateError

    try:
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, OverflowError):
        return f"schedule {expr!r} never fires (a day that no month has, such as 31 February?)"
    return None


def _step_problem(expr: str) -> str | None:
    """A step larger than its field (`*/61` in the minutes) selects the field's first value
    alone: cron takes it, but nobody means it. Refused, saying what it would do."""
    for text, (name, lo, hi) in zip(expr.split(), FIELDS):
        for part in text.split(","):
            base, sep, step = part.partition("/")
            if sep and step.isdigit() and int(step) > hi - lo:
                first = base.split("-")[0] if base not in ("*", "?") else str(lo)
                return (f"schedule {expr!r}: the step /{step} in the {name} field {part!r} is larger than the field "
                        f"({lo}-{hi}), so it selects {name} {first} alone; write {first} for that, or a step of at "
                        f"most {hi - lo}")
    return None


class Schedule:
    """The intervals of a cron schedule (`Schedule("@once", ...)` makes a Once)."""

    once = False

    def __new__(cls, expr: str, tz: str = "UTC", start_date: datetime | None = None):
        if cls is Schedule and expr == ONCE:
            return super().__new__(Once)
        return super().__new__(cls)

    def __init__(self, expr: str, tz: str = "UTC", start_date: datetime | None = None):
        from croniter import croniter

        self._croniter = croniter
        self.expr = expr
        self.cron = CRON_OF.get(expr, expr)
        self.tz = ZoneInfo(tz)
        self.start_date = start_date
        # As Airflow 3's CronDataIntervalTimetable: a schedule that fires in every hour (its hour
        # field is `*` once croniter has normalised it: @hourly, */15 * * * *) steps in absolute
        # time, so it runs in both copies of an hour that a fall-back night repeats. Any other
        # schedule is a set of wall-clock times: one in a repeated hour is the later copy
        # (fold=1), one in an hour that a spring-forward night skips is moved on by the gap
        # (02:30 -> 03:30). See _wall_next / _wall_prev.
        self._fixed_time = croniter(self.cron).expanded[1] != ["*"]

    def _local(self, t: datetime) -> datetime:
        return t.astimezone(self.tz)

    def next_after(self, t: datetime) -> datetime:
        """The first cron time strictly after t."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_next(t)
            return self._fix(self._croniter(self.cron, self._local(t)).get_next(datetime))

    def at_or_before(self, t: datetime) -> datetime:
        """The latest cron time at or before t (cron times are whole minutes)."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_prev(t, inclusive=True)
            floor = self._local(t).replace(second=0, microsecond=0)
            found = self._fix(self._croniter(self.cron, floor + _SECOND).get_prev(datetime))
        return self._forward(found, t, True)

    def before(self, t: datetime) -> datetime:
        """The latest cron time strictly before t."""
        with _in_range(self.expr, t):
            if self._fixed_time:
                return self._wall_prev(t, inclusive=False)
            found = self._fix(self._croniter(self.cron, self._local(t)).get_prev(datetime))
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
        return self._place(self._croniter(self.cron, wall).get_next(datetime))

    def _anchor(self, t: datetime) -> datetime:
        """A cron time hours before t and clear of any daylight-saving change before it, so
        that it is a cron time of the chain whatever came earlier: walks start there."""
        wall = self._local(t).replace(tzinfo=None, fold=0) - 2 * _SHIFT
        it = self._croniter(self.cron, wall)
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

    def starting_in(self, first: datetime, last: datetime, limit: int) -> list[Interval] | None:
        """Every interval starting in [first, last], oldest first (`pipe backfill`); None when
        there are more than `limit` (the walk stops there)."""
        out: list[Interval] = []
        start = self.first_start_at_or_after(first)
        while _u(start) <= _u(last):
            if len(out) == limit:
                return None
            end = self._after_cron_time(start)
            out.append(Interval(start, end))
            start = end
        return out

    def count_about(self, first: datetime, last: datetime, enough: int) -> int | None:
        """About how many cron times lie in [first, last], from the cron fields alone (no walk:
        a century of `*/5` is counted at once): the cron times of each whole day the range
        holds, within an hour's worth per daylight-saving change. Counting stops once it is
        past `enough`. None for what the fields cannot say (L, W, #)."""
        import calendar
        from datetime import date

        fields = self._croniter(self.cron).expanded
        sets = []
        for values, (_, lo, hi) in zip(fields, FIELDS):
            if values == ["*"]:
                sets.append(None)
            elif all(isinstance(v, int) for v in values):
                sets.append({v % 7 for v in values} if hi == 6 else set(values))
            else:
                return None
        if getattr(self._croniter(self.cron), "nth_weekday_of_month", None):
            return None
        minutes, hours, doms, months, dows = sets
        per_day = (60 if minutes is None else len(minutes)) * (24 if hours is None else len(hours))

        def day_ok(d: date) -> bool:
            if months is not None and d.month not in months:
                return False
            dom_ok = doms is None or d.day in doms
            dow_ok = dows is None or (d.isoweekday() % 7) in dows
            if doms is not None and dows is not None:
                return d.day in doms or (d.isoweekday() % 7) in dows     # cron: either one
            return dom_ok and dow_ok

        by_shape: dict[tuple[int, int, int], int] = {}

        def month_days(year: int, month: int) -> int:
            weekday, n = calendar.monthrange(year, month)
            key = (month, weekday, n)
            if key not in by_shape:
                by_shape[key] = sum(day_ok(date(year, month, k)) for k in range(1, n + 1))
            return by_shape[key]

        with _in_range(self.expr, first):
            a, b = self._local(first).date(), self._local(last).date()
        # Whole days strictly inside the range: the first and last days may be partial.
        a, b = a + timedelta(days=1) if a < date.max else a, b - timedelta(days=1) if b > date.min else b
        if b < a:
            return 0
        days = 0
        year, month = a.year, a.month
        while (year, month) <= (b.year, b.month):
            if (year, month) in ((a.year, a.month), (b.year, b.month)):
                n = calendar.monthrange(year, month)[1]
                lo = a.day if (year, month) == (a.year, a.month) else 1
                hi = b.day if (year, month) == (b.year, b.month) else n
                days += sum(day_ok(date(year, month, k)) for k in range(lo, hi + 1))
            else:
                days += month_days(year, month)
            if days * per_day > enough:
                break
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return days * per_day

    def describe(self) -> str:
        return describe_cron(self.expr)


class Once(Schedule):
    """`@once`: one interval, `[start_date, start_date]` (as Airflow's OnceTimetable), run
    once when start_date has passed and never again; without a start_date, at the first
    tick (the scheduler decides that from the ledger: this class knows only start_date)."""

    once = True

    def __init__(self, expr: str = ONCE, tz: str = "UTC", start_date: datetime | None = None):
        self.expr = self.cron = ONCE
        self.tz = ZoneInfo(tz)
        self.start_date = start_date

    def the_interval(self, now: datetime) -> Interval:
        """The one interval: at start_date, or (without one) at now's minute."""
        at = self.start_date if self.start_date is not None else now.replace(second=0, microsecond=0)
        at = self._local(at)
        return Interval(at, at)

    def interval_for(self, d: datetime) -> Interval:
        d = self._local(d)
        return Interval(d, d)

    def interval_at(self, start: datetime) -> Interval:
        return self.interval_for(start)

    def latest_complete(self, now: datetime) -> Interval | None:
        if self.start_date is None or _u(self.start_date) > _u(now):
            return None
        return self.the_interval(now)

    def intervals(self, from_: datetime, now: datetime, limit: int = 100_000):
        latest = self.latest_complete(now)
        return [latest] if latest is not None and _u(latest.start) >= _u(from_) else []

    def next_due(self, after: datetime) -> datetime | None:
        if self.start_date is None:
            return None
        return self._local(self.start_date) if _u(self.start_date) > _u(after) else None

    def next_after(self, t: datetime) -> datetime:
        raise UsageError("an @once schedule has no cron times")

    at_or_before = before = next_after

    def starting_in(self, first: datetime, last: datetime, limit: int) -> list[Interval] | None:
        return self.intervals(first, last)

    def count_about(self, first: datetime, last: datetime, enough: int) -> int | None:
        return len(self.intervals(first, last))


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


_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_NAMED_WORDS = {"@hourly": "every hour", "@daily": "every day at 00:00", "@weekly": "at 00:00 on Sundays",
                "@monthly": "at 00:00 on the 1st of every month",
                "@quarterly": "at 00:00 on the 1st of January, April, July and October",
                "@yearly": "at 00:00 on 1 January", "@once": "once"}


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 5] -> [(1, 3), (5, 5)]."""
    out: list[tuple[int, int]] = []
    for v in sorted(values):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _ranges(values: list[int], name=str, to=" to ") -> str:
    return _and([name(a) if a == b else f"{name(a)}{to}{name(b)}" if b > a + 1 else f"{name(a)} and {name(b)}"
                 for a, b in _runs(values)])


def _every(values: list[int], size: int) -> int | None:
    """k when values are 0, k, 2k, ... covering the field evenly (so the gap is always k)."""
    if len(values) < 2 or values[0] != 0:
        return None
    k = values[1]
    return k if size % k == 0 and values == list(range(0, size, k)) else None


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def describe_cron(expr: str) -> str:
    """A few true words for `pipe list` and the web: `*/45 * * * *` fires at :00 and :45
    (a 45- then a 15-minute gap), so it reads "every hour at minutes 0 and 45"."""
    if expr in _NAMED_WORDS:
        return _NAMED_WORDS[expr]
    from croniter import croniter

    try:
        minutes, hours, doms, months, dows = croniter(CRON_OF.get(expr, expr)).expanded
    except Exception:
        return f"cron {expr}"
    if any(not isinstance(v, int) for field in (minutes, hours, doms, months, dows) for v in field if v != "*"):
        return f"cron {expr}"
    minutes = list(range(60)) if minutes == ["*"] else sorted(minutes)
    hours = list(range(24)) if hours == ["*"] else sorted(hours)
    days_words = ""
    if doms != ["*"] or dows != ["*"]:
        parts = []
        if doms != ["*"]:
            parts.append("on the " + _ranges(doms, _ordinal) + (" of every month" if months == ["*"] else ""))
        if dows != ["*"]:
            week = sorted({d % 7 for d in dows}, key=lambda d: (d + 6) % 7)        # Monday first
            places = [(d + 6) % 7 for d in week]
            if len(week) > 2 and places == list(range(places[0], places[0] + len(week))):
                parts.append(f"on {_DAYS[week[0]]} to {_DAYS[week[-1]]}")
            else:
                parts.append("on " + _and([_DAYS[d] + "s" for d in week]))
        days_words = " or ".join(parts)
    month_words = "" if months == ["*"] else "in " + _ranges(months, lambda m: _MONTHS[m - 1])
    every_hour = len(hours) == 24
    if every_hour and len(minutes) == 60:
        time_words = "every minute"
    elif every_hour and _every(minutes, 60):
        time_words = f"every {_every(minutes, 60)} minutes"
    elif every_hour:
        time_words = (f"every hour at minute {minutes[0]}" if len(minutes) == 1 else
                      f"every hour at minutes {_and([str(m) for m in minutes])}")
    elif len(minutes) * len(hours) <= 4:
        time_words = "at " + _and([f"{h:02d}:{m:02d}" for h in hours for m in minutes])
    elif len(minutes) == 60:
        time_words = "every minute " + _and([f"from {a:02d}:00 to {b:02d}:59" for a, b in _runs(hours)])
    elif len(minutes) == 1 and len(_runs(hours)) == 1:
        (a, b), = _runs(hours)
        time_words = f"every hour from {a:02d}:{minutes[0]:02d} to {b:02d}:{minutes[0]:02d}"
    elif len(minutes) == 1 and _every(hours, 24):
        time_words = f"every {_every(hours, 24)} hours at minute {minutes[0]}"
    else:
        time_words = (f"at minute{'s' if len(minutes) > 1 else ''} {_ranges(minutes, str)} of hours "
                      + _ranges(hours, lambda h: f"{h:02d}"))
    if not days_words and not month_words and not every_hour and len(minutes) * len(hours) <= 4:
        return f"every day {time_words}"
    return " ".join(w for w in (time_words, days_words, month_words) if w)
