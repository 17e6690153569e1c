"""Fetch daily weather: from the shipped Seattle table (default) or the live Open-Meteo API.

Source `local` (no network): `pipelines/data/seattle-weather.csv`, the Seattle daily
weather of 2012-2015 shipped by the `vega_datasets` package (see data/README.md). A
logical date is mapped to a record by `map_date`: the same month and day in year
2012 + (year - 2012) % 4. The cycle is four years long and starts on a leap year, so
every leap year maps to 2012 and a 29 February always finds its record, and consecutive
days map to consecutive records except once every four years (31 Dec -> 1 Jan 2012).

Source `open-meteo`: the Open-Meteo geocoding, archive (older days) and forecast (recent
days) APIs, through urllib with a timeout (OPEN_METEO_TIMEOUT, default 10 s). The URLs
can be changed with OPEN_METEO_GEOCODING_URL, OPEN_METEO_ARCHIVE_URL and
OPEN_METEO_FORECAST_URL. Without a network the task fails with one clear line.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from weather import atomic_write

HISTORY = Path(__file__).resolve().parent.parent / "data" / "seattle-weather.csv"
HISTORY_CITY = "Seattle"
DATASET = "seattle-weather.csv (vega_datasets 0.9.0, NOAA daily records, Seattle 2012-2015)"
SOURCES = ("local", "open-meteo")
DAILY_VARIABLES = ("temperature_2m_max", "temperature_2m_min", "precipitation_sum",
                   "wind_speed_10m_max", "weather_code")


class FetchError(RuntimeError):
    """The weather could not be fetched; the message says why in one line."""


def as_date(value) -> dt.date:
    """A date from a `date`, a `datetime` or an ISO string (`2026-11-03` or a date-time)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def map_date(day: dt.date) -> dt.date:
    """The date of the historical record used for logical date `day` (see module doc)."""
    return day.replace(year=2012 + (day.year - 2012) % 4)


def load_history(path: str | os.PathLike = HISTORY) -> dict[dt.date, dict[str, str]]:
    """The shipped table as {date: row}; the CSV's dates look like `2012/01/31`."""
    with open(path, newline="", encoding="utf-8") as f:
        return {dt.date.fromisoformat(row["date"].replace("/", "-")): row
                for row in csv.DictReader(f)}


def local_records(city: str, days: list[dt.date], history=None) -> list[dict]:
    """Raw records of `days` from the shipped table, as delivered (strings)."""
    if city.strip().lower() != HISTORY_CITY.lower():
        raise FetchError(f"the local table has only {HISTORY_CITY}, not {city!r}: "
                         "use -p source=open-meteo for other cities")
    history = load_history() if history is None else history
    records = []
    for day in days:
        source_day = map_date(day)
        row = history.get(source_day)
        if row is None:
            raise FetchError(f"no record for {source_day} (mapped from {day}) in {HISTORY.name}")
        values = {k: v for k, v in row.items() if k != "date"}
        records.append({"day": day.isoformat(), "source_date": source_day.isoformat(),
                        "values": values})
    return records


def _get_json(url: str, query: dict) -> dict:
    """GET `url?query` as JSON; network trouble is tried once more after a pause (the task
    itself is not retried by pipe: a wrong city or source fails at once), and then becomes
    a one-line FetchError."""
    try:
        return _get_json_once(url, query)
    except _Unreachable:
        time.sleep(float(os.environ.get("OPEN_METEO_RETRY_DELAY", "2")))
    try:
        return _get_json_once(url, query)
    except _Unreachable as e:
        raise FetchError(str(e)) from None


class _Unreachable(Exception):
    """Network trouble: worth one more try."""


def _get_json_once(url: str, query: dict) -> dict:
    full = f"{url}?{urllib.parse.urlencode(query)}"
    timeout = float(os.environ.get("OPEN_METEO_TIMEOUT", "10"))
    request = urllib.request.Request(full, headers={"User-Agent": "pipe-example-weather/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        try:
            reason = json.load(e).get("reason", e.reason)
        except Exception:
            reason = e.reason
        raise FetchError(f"Open-Meteo answered HTTP {e.code} for {url}: {reason}") from None
    except ValueError as e:
        raise FetchError(f"Open-Meteo sent something that is not JSON from {url}: {e}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or str(e) or type(e).__name__
        raise _Unreachable(f"cannot reach Open-Meteo at {url} ({reason}; timeout {timeout:g} s): "
                           "no network? the default -p source=local needs none") from None


def geocode(city: str) -> dict:
    """Latitude, longitude and name of `city` from the Open-Meteo geocoding API."""
    url = os.environ.get("OPEN_METEO_GEOCODING_URL", "https://geocoding-api.open-meteo.com/v1/search")
    found = _get_json(url, {"name": city, "count": 1, "format": "json"}).get("results") or []
    if not found:
        raise FetchError(f"Open-Meteo does not know a city named {city!r}")
    return found[0]


def open_meteo_records(city: str, start: dt.date, end: dt.date) -> list[dict]:
    """Raw daily records of [start, end] from Open-Meteo (archive, or forecast for recent days)."""
    place = geocode(city)
    recent = end > dt.date.today() - dt.timedelta(days=6)   # the archive lags about 5 days
    url = (os.environ.get("OPEN_METEO_FORECAST_URL", "https://api.open-meteo.com/v1/forecast")
           if recent else
           os.environ.get("OPEN_METEO_ARCHIVE_URL", "https://archive-api.open-meteo.com/v1/archive"))
    data = _get_json(url, {
        "latitude": place["latitude"], "longitude": place["longitude"],
        "start_date": start.isoformat(), "end_date": end.isoformat(),
        "daily": ",".join(DAILY_VARIABLES), "wind_speed_unit": "ms", "timezone": "auto",
    })
    daily = data.get("daily") or {}
    records = []
    for i, day in enumerate(daily.get("time", [])):
        values = {name: daily.get(name, [None] * (i + 1))[i] for name in DAILY_VARIABLES}
        records.append({"day": day, "source_date": day, "values": values})
    if len(records) != (end - start).days + 1:
        raise FetchError(f"Open-Meteo returned {len(records)} days for {start}..{end}")
    return records


def fetch_records(city: str, start: dt.date, end: dt.date, source: str = "local") -> dict:
    """The raw document for the days [start, end]: {city, source, dataset, records}."""
    if source not in SOURCES:
        raise FetchError(f"unknown source {source!r}: expected one of {', '.join(SOURCES)}")
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if source == "local":
        return {"city": HISTORY_CITY, "source": source, "dataset": DATASET,
                "records": local_records(city, days)}
    return {"city": city, "source": source, "dataset": "Open-Meteo daily API",
            "records": open_meteo_records(city, start, end)}


def main(city: str, day: str, out: str, source: str = "local") -> dict:
    """Task `fetch`: write the raw weather of one logical day to `out` (JSON).

    The file holds only what was fetched (no time stamp), so a rerun for the same day
    writes the same bytes. Outputs: path, source, source_date.
    """
    day = as_date(day)
    document = fetch_records(city, day, day, source)
    atomic_write(out, json.dumps(document, indent=2) + "\n")
    record = document["records"][0]
    return {"path": str(out), "source": source, "source_date": record["source_date"]}
