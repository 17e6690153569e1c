"""Build the weather dashboard: one self-contained HTML page per interval, rebuilt by every run.

The page shows the last `days` clean days present up to the run's interval (whatever run
wrote them; never a day after the interval, so a backfill's page is what that day saw): an inline
SVG chart of the daily temperatures (lines) and precipitation (bars), the latest
observation, a table of every day shown, when the page was built, by which run, and
from which files and source. No JavaScript, no external file: it opens from disk.
"""
from __future__ import annotations

import datetime as dt
import html
import math
import os
import re
from pathlib import Path

from weather import atomic_write
from weather.clean import read_rows
from weather.fetch import DATASET, as_date

DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.csv$")
PAGE_DATE = re.compile(r'<meta name="pipe-logical-date" content="([^"]*)">')
W, H = 760, 320                       # the chart's coordinates (its viewBox): it scales to the page
LEFT, RIGHT, TOP, BOTTOM = 48, 52, 28, 44


def _nice(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= raw."""
    power = 10 ** math.floor(math.log10(max(raw, 1e-9)))
    return min(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= raw)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round axis ticks covering [low, high]."""
    step = _nice((high - low) / count)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def _segments(rows: list[dict]) -> list[list[int]]:
    """Indexes of rows in runs of consecutive days: a line is broken where a day is missing."""
    runs: list[list[int]] = []
    previous = None
    for i, r in enumerate(rows):
        day = dt.date.fromisoformat(r["date"])
        if previous is None or (day - previous).days != 1:
            runs.append([])
        runs[-1].append(i)
        previous = day
    return runs


def chart_svg(rows: list[dict]) -> str:
    """An SVG chart of temp_max_c/temp_min_c (left axis) and precipitation_mm (right axis)
    on a time axis: a day's position is its date, and the lines break where days are missing.
    It scales to the width of the page (viewBox, no fixed size)."""
    first = dt.date.fromisoformat(rows[0]["date"])
    offsets = [(dt.date.fromisoformat(r["date"]) - first).days for r in rows]
    span = offsets[-1] + 1                                # days on the axis, gaps included
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    band = plot_w / span
    t_ticks = _ticks(min(r["temp_min_c"] for r in rows) - 1, max(r["temp_max_c"] for r in rows) + 1)
    p_step = _nice(max(max(r["precipitation_mm"] for r in rows), 5.0) / (len(t_ticks) - 1))
    p_ticks = [i * p_step for i in range(len(t_ticks))]       # on the same grid lines
    t_lo, t_hi, p_hi = t_ticks[0], t_ticks[-1], p_ticks[-1]

    def x(i):
        return LEFT + band * (offsets[i] + 0.5)

    def yt(t):
        return TOP + plot_h * (t_hi - t) / (t_hi - t_lo)

    def yp(p):
        return TOP + plot_h * (1 - p / p_hi)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" class="chart" '
           'preserveAspectRatio="xMidYMid meet" role="img" aria-label="Daily temperature and precipitation">']
    for t in t_ticks:                                     # grid and left axis
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{yt(t):.1f}" y2="{yt(t):.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{yt(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for p in p_ticks:                                     # right axis
        out.append(f'<text x="{W - RIGHT + 6}" y="{yp(p) + 4:.1f}" class="rain-label">{p:g}</text>')
    out.append(f'<text x="{LEFT - 6}" y="{TOP - 12}" text-anchor="end">°C</text>'
               f'<text x="{W - RIGHT + 6}" y="{TOP - 12}" class="rain-label">mm</text>')
    for i, r in enumerate(rows):                          # precipitation bars
        top = yp(r["precipitation_mm"])
        out.append(f'<rect x="{x(i) - band * 0.35:.1f}" y="{top:.1f}" width="{band * 0.7:.1f}" '
                   f'height="{TOP + plot_h - top:.1f}" class="rain"><title>{r["date"]}: '
                   f'{r["precipitation_mm"]:.1f} mm</title></rect>')
    for key, css in (("temp_max_c", "tmax"), ("temp_min_c", "tmin")):   # temperature lines
        for segment in _segments(rows):                   # one line per run of consecutive days
            points = " ".join(f"{x(i):.1f},{yt(rows[i][key]):.1f}" for i in segment)
            out.append(f'<polyline points="{points}" class="{css}"/>')
        out.extend(f'<circle cx="{x(i):.1f}" cy="{yt(r[key]):.1f}" r="3" class="{css}">'
                   f'<title>{r["date"]}: {r[key]:.1f} °C</title></circle>' for i, r in enumerate(rows))
    every = max(1, math.ceil(span / 10))                  # at most ~10 date labels, evenly in time
    for k in range(0, span, every):
        day = first + dt.timedelta(days=k)
        out.append(f'<text x="{LEFT + band * (k + 0.5):.1f}" y="{H - BOTTOM + 18}" '
                   f'text-anchor="middle">{day.isoformat()[5:]}</text>')
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" class="axis"/>'
               f'<g class="legend" transform="translate({LEFT},{H - 8})">'
               '<rect x="0" y="-9" width="12" height="10" class="rain"/><text x="16" y="0">precipitation (mm)</text>'
               '<line x1="160" x2="178" y1="-4" y2="-4" class="tmax"/><text x="184" y="0">max °C</text>'
               '<line x1="250" x2="268" y1="-4" y2="-4" class="tmin"/><text x="274" y="0">min °C</text></g>')
    out.append("</svg>")
    return "\n".join(out)


STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 800px; padding: 0 1rem;
       color: #222; }
svg.chart { display: block; width: 100%; height: auto; }
.scroll { overflow-x: auto; }
h1 { margin-bottom: .2rem; } .meta { color: #555; font-size: 13px; }
.latest { font-size: 1.3rem; margin: 1rem 0; } .latest b { font-size: 1.6rem; }
svg text { font-size: 11px; fill: #444; } .grid { stroke: #e5e5e5; } .axis { stroke: #999; }
.rain { fill: #7fb3e6; } .rain-label { fill: #2f6fae; }
polyline.tmax, polyline.tmin, .legend line { fill: none; stroke-width: 2; }
.tmax { stroke: #d9480f; fill: #d9480f; } .tmin { stroke: #6741d9; fill: #6741d9; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th.c, td.c { text-align: left; }
"""


def _files_said(files: list[str]) -> str:
    """`1 clean file: 2026-11-03.csv`, or `30 clean files: first … last`."""
    e = html.escape
    if len(files) == 1:
        return f"1 clean file, {e(files[0])},"
    return f"{len(files)} clean files, {e(files[0])} … {e(files[-1])},"


def render_page(rows: list[dict], city: str, built_at: str, run_id: str, ds: str,
                files: list[str], clean_dir: str) -> str:
    """The whole HTML page for `rows` (oldest first)."""
    e = html.escape
    last = rows[-1]
    sources = sorted({r["source"] for r in rows})
    origin = "; ".join(DATASET + ", each day mapped to a 2012-2015 record" if s == "local"
                       else "Open-Meteo daily API" for s in sources)
    table = "\n".join(
        f'<tr><td>{e(r["date"])}</td><td class="c">{e(r["condition"])}</td>'
        f'<td>{r["temp_max_c"]:.1f}</td><td>{r["temp_min_c"]:.1f}</td>'
        f'<td>{r["precipitation_mm"]:.1f}</td><td>{r["wind_ms"]:.1f}</td><td>{e(r["source_date"])}</td></tr>'
        for r in reversed(rows))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="pipe-logical-date" content="{e(ds)}">
<title>Weather in {e(city)} — {e(rows[0]["date"])} to {e(last["date"])}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Weather in {e(city)}</h1>
<p class="meta">{len(rows)} day(s), {e(rows[0]["date"])} to {e(last["date"])}.</p>
<p class="latest">Latest, {e(last["date"])}: <b>{last["temp_max_c"]:.1f} °C</b> max,
{last["temp_min_c"]:.1f} °C min, {last["precipitation_mm"]:.1f} mm of rain,
wind {last["wind_ms"]:.1f} m/s, {e(last["condition"])}.</p>
{chart_svg(rows)}
<div class="scroll"><table>
<thead><tr><th>Date</th><th class="c">Condition</th><th>Max °C</th><th>Min °C</th><th>Rain mm</th>
<th>Wind m/s</th><th>Record of</th></tr></thead>
<tbody>
{table}
</tbody>
</table></div>
<p class="meta">Built {e(built_at)} by run <code>{e(run_id)}</code> (logical date {e(ds)})
from {_files_said(files)} in <code>{e(clean_dir)}</code> (beside this page).
Source: {e(origin)}.</p>
</body>
</html>
"""


def _page_date(path: Path) -> str | None:
    """The logical date a page was built for (its `pipe-logical-date` meta tag), if any."""
    try:
        found = PAGE_DATE.search(path.read_text(encoding="utf-8"))
    except OSError:
        return None
    return found.group(1) if found else None


def main(clean_dir: str, out: str, city: str = "Seattle", days: int = 30, context: dict | None = None) -> dict:
    """Task `dashboard`: the page of the run's interval from the last `days` clean CSVs in
    `clean_dir` dated before the end of its data interval: a day after the interval is never
    shown, even when a later run already wrote it (a backfill of past days, a rerun).

    The interval's page is written to `dashboards/<ds>.html` beside `out`; `out` itself is
    the latest interval's page: it is replaced unless it shows a later logical date.
    Outputs: path (the interval's page), latest (`out`), replaced (whether `out` was
    rewritten), days (how many are shown), first, last (their dates).
    """
    context = context or {}
    ds = str(context.get("ds", "?"))
    end = context.get("data_interval_end")
    until = as_date(end).isoformat() if end else "9999-12-31"   # exclusive: days before the interval's end
    files = sorted(p.name for p in Path(clean_dir).iterdir()
                   if DAY_FILE.match(p.name) and p.name[:10] < until)[-int(days):]
    if not files:
        raise FileNotFoundError(f"no clean day before {until} in {clean_dir}")
    rows = [row for name in files for row in read_rows(Path(clean_dir) / name)]
    built_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    latest = Path(out)
    own = latest.parent / "dashboards" / f"{ds}.html"
    page = render_page(rows, city, built_at, str(context.get("run_id", "?")), ds, files,
                       os.path.relpath(clean_dir, own.parent) + "/")
    atomic_write(own, page)
    shown = _page_date(latest)
    replaced = shown is None or shown <= ds
    if replaced:
        atomic_write(latest, render_page(rows, city, built_at, str(context.get("run_id", "?")), ds, files,
                                         os.path.relpath(clean_dir, latest.parent) + "/"))
    return {"path": str(own), "latest": str(latest), "replaced": replaced,
            "days": len(rows), "first": rows[0]["date"], "last": rows[-1]["date"]}
