"""Clean and normalise raw weather records into one CSV row per day.

Both sources end up in the same columns and units (CLEAN_COLUMNS): degrees Celsius,
millimetres, metres per second, and one condition word. Values are checked for
plausibility; a record that fails is an error, not a silently dropped day.
"""
from __future__ import annotations

import csv
import io
import json

from weather import atomic_write

CLEAN_COLUMNS = ("date", "city", "source", "source_date", "temp_max_c", "temp_min_c",
                 "precipitation_mm", "wind_ms", "condition")
CONDITIONS = ("sun", "cloud", "fog", "drizzle", "rain", "snow")


def condition_of_wmo(code) -> str:
    """One of CONDITIONS for a WMO weather code (as Open-Meteo reports it)."""
    code = int(code)
    if code <= 2:
        return "sun"
    if code == 3:
        return "cloud"
    if code in (45, 48):
        return "fog"
    if 51 <= code <= 57:
        return "drizzle"
    if 71 <= code <= 77 or code in (85, 86):
        return "snow"
    return "rain"                       # 61-67 rain, 80-82 showers, 95-99 thunderstorms


def normalise(record: dict, source: str, city: str) -> dict:
    """One clean row from one raw record; raises ValueError when a value is missing or absurd."""
    v = record["values"]
    if source == "local":
        fields = (v["temp_max"], v["temp_min"], v["precipitation"], v["wind"], v["weather"])
    else:
        fields = (v["temperature_2m_max"], v["temperature_2m_min"], v["precipitation_sum"],
                  v["wind_speed_10m_max"], v["weather_code"])
    if any(f is None or f == "" for f in fields):
        raise ValueError(f"{record['day']}: missing values in {v}")
    tmax, tmin, rain, wind = (round(float(f), 1) for f in fields[:4])
    condition = fields[4].strip().lower() if source == "local" else condition_of_wmo(fields[4])
    if not (-90 <= tmin <= tmax <= 60):
        raise ValueError(f"{record['day']}: implausible temperatures min {tmin} max {tmax}")
    if not (0 <= rain <= 500 and 0 <= wind <= 120):
        raise ValueError(f"{record['day']}: implausible precipitation {rain} or wind {wind}")
    if condition not in CONDITIONS:
        raise ValueError(f"{record['day']}: unknown condition {condition!r}")
    return {"date": record["day"], "city": city, "source": source,
            "source_date": record["source_date"], "temp_max_c": tmax, "temp_min_c": tmin,
            "precipitation_mm": rain, "wind_ms": wind, "condition": condition}


def to_csv(rows: list[dict]) -> str:
    """CSV text (header + rows) in CLEAN_COLUMNS order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CLEAN_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_rows(path) -> list[dict]:
    """The rows of a clean CSV, numbers as floats."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("temp_max_c", "temp_min_c", "precipitation_mm", "wind_ms"):
            row[key] = float(row[key])
    return rows


def main(raw: str, out: str) -> dict:
    """Task `clean`: normalise the raw JSON `raw` into the clean CSV `out`. Outputs: path, rows."""
    with open(raw, encoding="utf-8") as f:
        document = json.load(f)
    rows = [normalise(r, document["source"], document["city"]) for r in document["records"]]
    atomic_write(out, to_csv(rows))
    return {"path": str(out), "rows": len(rows)}
