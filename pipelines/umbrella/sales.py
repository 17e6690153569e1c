"""The sales branch: fetch a shop's daily umbrella sales and clean them.

The shop is simulated (source `simulated`, the default) so that the model has a real
effect to find and the data needs no network. For a sales day D, with the Seattle
weather of the record D maps to (see `weather.fetch.map_date`):

    units = max(0, round(12 + 2.5 * precipitation_mm + 6 * weekend
                         - 0.4 * (temp_max_c - 15) + noise))

where weekend is 1 on Saturday and Sunday of D, and noise is Gaussian (sd 3) drawn from
a generator seeded by D, so a day always sells the same. The export is realistically
untidy, also seeded by D: about 1 day in 25 is sent twice and 1 in 50 has no count.

Any other source is read as the path of a CSV export with the columns `date,units`
(relative to the pipeline's working directory); a missing file fails the task.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
from pathlib import Path

from umbrella.weather import window
from weather import atomic_write
from weather.fetch import load_history, map_date

BASE, RAIN, WEEKEND, HEAT, NOISE = 12.0, 2.5, 6.0, -0.4, 3.0


def simulate_day(day: dt.date, history: dict) -> list[dict]:
    """The export rows of one day (usually one; two when re-sent; units may be blank)."""
    record = history[map_date(day)]
    rng = random.Random(f"umbrella-sales/{day.isoformat()}")
    mean = (BASE + RAIN * float(record["precipitation"]) + WEEKEND * (day.weekday() >= 5)
            + HEAT * (float(record["temp_max"]) - 15))
    units = max(0, round(mean + rng.gauss(0, NOISE)))
    row = {"date": day.isoformat(), "units": "" if rng.random() < 0.02 else str(units)}
    return [row, dict(row)] if rng.random() < 0.04 else [row]


def read_export(path: str, first: dt.date, last: dt.date) -> list[dict]:
    """The rows of a CSV export `path` whose date falls in [first, last]."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"sales export not found: {path} (the default -p sales_source=simulated needs none)")
    with open(path, newline="", encoding="utf-8") as f:
        return [{"date": r["date"], "units": r["units"]} for r in csv.DictReader(f)
                if first.isoformat() <= r["date"] <= last.isoformat()]


def _write(out: str, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=("date", "units"), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out, buffer.getvalue())


def fetch(out: str, days: int = 364, source: str = "simulated", context: dict | None = None) -> dict:
    """Task `fetch_sales`: write the window's raw sales export to the CSV `out`. Outputs: path, rows."""
    first, last = window(context, days)
    if source == "simulated":
        history = load_history()
        rows = [row for i in range((last - first).days + 1)
                for row in simulate_day(first + dt.timedelta(days=i), history)]
    else:
        rows = read_export(source, first, last)
    _write(out, rows)
    return {"path": str(out), "rows": len(rows)}


def clean(raw: str, out: str) -> dict:
    """Task `clean_sales`: drop re-sent days and days without a valid count.

    Outputs: path, rows (days kept), dropped (export rows dropped).
    """
    with open(raw, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kept: dict[str, dict] = {}
    for row in rows:
        units = row["units"].strip()
        if row["date"] in kept or not units.isdigit():
            continue
        dt.date.fromisoformat(row["date"])            # a bad date is an error, not noise
        kept[row["date"]] = {"date": row["date"], "units": int(units)}
    clean_rows = sorted(kept.values(), key=lambda r: r["date"])
    _write(out, clean_rows)
    return {"path": str(out), "rows": len(clean_rows), "dropped": len(rows) - len(clean_rows)}
