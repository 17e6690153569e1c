"""Fetch the weather of the training window (the weather branch's first task).

The window is the `days` days that end where the run's data interval ends (exclusive),
so a weekly run on logical date 2026-11-08 trains on the year up to 2026-11-14. The
records come from `weather.fetch` (the shipped table, or Open-Meteo) and are written
as delivered, in the shipped table's columns; the shell task `clean_weather` cleans them.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from weather import atomic_write
from weather.clean import condition_of_wmo
from weather.fetch import as_date, fetch_records

COLUMNS = ("date", "source_date", "precipitation", "temp_max", "temp_min", "wind", "weather")


def window(context: dict, days: int) -> tuple[dt.date, dt.date]:
    """First and last day of the `days`-day window ending with the run's data interval."""
    last = as_date(context["data_interval_end"]) - dt.timedelta(days=1)
    return last - dt.timedelta(days=int(days) - 1), last


def _row(record: dict, source: str) -> dict:
    v = record["values"]
    if source != "local":               # Open-Meteo's names -> the table's names
        code = v["weather_code"]
        v = {"precipitation": v["precipitation_sum"], "temp_max": v["temperature_2m_max"],
             "temp_min": v["temperature_2m_min"], "wind": v["wind_speed_10m_max"],
             "weather": "" if code is None else condition_of_wmo(code)}
    row = {"date": record["day"], "source_date": record["source_date"], **v}
    return {k: "" if row.get(k) is None else row[k] for k in COLUMNS}


def fetch(city: str, out: str, days: int = 364, source: str = "local", context: dict | None = None) -> dict:
    """Task `fetch_weather`: write the window's raw daily weather to the CSV `out`.

    Outputs: path, rows, first, last.
    """
    first, last = window(context, days)
    document = fetch_records(city, first, last, source)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_row(r, source) for r in document["records"])
    atomic_write(out, buffer.getvalue())
    return {"path": str(out), "rows": len(document["records"]),
            "first": first.isoformat(), "last": last.isoformat()}
