"""End-to-end tests of the example pipelines, pipelines/weather.yaml and pipelines/umbrella.yaml.

Each test copies pipelines/ into a temporary project folder, runs the real CLI there in a
subprocess (`python -m pipeline_cli`, state in <tmp>/.pipe) and checks what the pipelines
wrote under <tmp>/data/. Expected weather figures are read straight from the shipped
table, pipelines/data/seattle-weather.csv, not from the pipelines' code.
"""
from __future__ import annotations

import csv
import datetime as dt
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, clean_env, states

PIPELINES = ROOT / "pipelines"
TABLE = PIPELINES / "data" / "seattle-weather.csv"
WEATHER_TASKS = ("fetch", "clean", "dashboard")
UMBRELLA_TASKS = ("fetch_weather", "clean_weather", "fetch_sales", "clean_sales",
                  "join", "train", "evaluate", "deploy")


# ---------------------------------------------------------------- helpers

@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder holding a copy of pipelines/ (and nothing the pipelines wrote)."""
    shutil.copytree(PIPELINES, tmp_path / "pipelines",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def pipe(project: Path, *args: str, env: dict | None = None, timeout: float = 180):
    """Run `python -m pipeline_cli --state-dir <project>/.pipe ARGS` in `project`."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "pipeline_cli", "--state-dir", str(project / ".pipe"), *args],
                          cwd=project, env=clean_env({"PYTHONPATH": path, **(env or {})}), capture_output=True,
                          text=True, timeout=timeout)


def run_json(project: Path, *args: str, expect: int = 0, env: dict | None = None, timeout: float = 180) -> dict:
    """`pipe ARGS --json`: check the exit code, return the JSON document it printed."""
    result = pipe(project, *args, "--json", env=env, timeout=timeout)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def table_row(day: str) -> dict:
    """The shipped table's row for a historical date (`2014-11-03`)."""
    with open(TABLE, newline="") as f:
        return next(r for r in csv.DictReader(f) if r["date"] == day.replace("-", "/"))


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def weather_dir(project: Path) -> Path:
    return project / "data" / "weather" / "local" / "seattle"


def closed_port() -> int:
    """A local TCP port nobody listens on: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- both pipelines

def test_example_pipelines_are_valid(project):
    result = pipe(project, "validate")
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- weather

def test_weather_run_writes_the_day_and_the_dashboard(project):
    doc = run_json(project, "run", "weather", "--date", "2026-11-03")
    assert states(doc) == {t: "succeeded" for t in WEATHER_TASKS}
    expected = table_row("2014-11-03")                       # 2026 -> 2012 + 14 % 4 = 2014

    day = weather_dir(project)
    raw = json.loads((day / "raw" / "2026-11-03.json").read_text())
    assert raw["records"][0]["source_date"] == "2014-11-03"
    rows = read_csv(day / "clean" / "2026-11-03.csv")
    assert len(rows) == 1
    assert rows[0]["date"] == "2026-11-03" and rows[0]["source_date"] == "2014-11-03"
    assert float(rows[0]["temp_max_c"]) == float(expected["temp_max"])
    assert float(rows[0]["precipitation_mm"]) == float(expected["precipitation"])

    outputs = doc["tasks"]
    assert outputs["clean"]["outputs"]["rows"] == 1          # a Python task's returned dict
    assert outputs["fetch"]["outputs"]["source_date"] == "2014-11-03"

    html = (day / "dashboard.html").read_text()
    assert "<svg" in html and "</svg>" in html and "<polyline" in html
    assert "2026-11-03" in html
    assert f"{float(expected['temp_max']):.1f}" in html and f"{float(expected['temp_min']):.1f}" in html
    assert "<script" not in html                             # self-contained: no JS, no CDN
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", html)
    assert "Built " in html and "seattle-weather.csv" in html


def test_weather_unchanged_rerun_skips_fetch_and_clean(project):
    run_json(project, "run", "weather", "--date", "2026-11-03")
    raw = weather_dir(project) / "raw" / "2026-11-03.json"
    clean = weather_dir(project) / "clean" / "2026-11-03.csv"
    raw_mtime = raw.stat().st_mtime_ns

    doc = run_json(project, "run", "weather", "--date", "2026-11-03")
    assert states(doc) == {"fetch": "skipped", "clean": "skipped", "dashboard": "succeeded"}
    assert raw.stat().st_mtime_ns == raw_mtime

    # A clean file older than its raw input is out of date: only `clean` runs again.
    old = raw.stat().st_mtime - 60
    os.utime(clean, (old, old))
    doc = run_json(project, "run", "weather", "--date", "2026-11-03")
    assert states(doc) == {"fetch": "skipped", "clean": "succeeded", "dashboard": "succeeded"}
    assert raw.stat().st_mtime_ns == raw_mtime and clean.stat().st_mtime > old


def test_weather_backfill_writes_seven_days_and_shows_them_all(project):
    result = pipe(project, "backfill", "weather", "--start", "2026-11-01", "--end", "2026-11-07")
    assert result.returncode == 0, result.stdout + result.stderr

    days = [f"2026-11-0{i}" for i in range(1, 8)]
    day = weather_dir(project)
    assert sorted(p.name for p in (day / "clean").glob("*.csv")) == [f"{d}.csv" for d in days]
    assert sorted(p.name for p in (day / "raw").glob("*.json")) == [f"{d}.json" for d in days]
    html = (day / "dashboard.html").read_text()
    assert "7 day(s)" in html
    for d in days:
        expected = table_row("2014" + d[4:])
        assert d in html
        assert f"{float(expected['temp_max']):.1f}" in html
        (row,) = read_csv(day / "clean" / f"{d}.csv")
        assert float(row["temp_max_c"]) == float(expected["temp_max"])


def test_weather_open_meteo_without_network_fails_with_one_clear_line(project):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    env = {"OPEN_METEO_GEOCODING_URL": f"{url}/search", "OPEN_METEO_ARCHIVE_URL": f"{url}/archive",
           "OPEN_METEO_FORECAST_URL": f"{url}/forecast", "OPEN_METEO_TIMEOUT": "2"}
    doc = run_json(project, "run", "weather", "--date", "2026-11-03", "-p", "source=open-meteo",
                   expect=1, env=env, timeout=60)      # refused connections fail at once, no hang
    assert states(doc) == {"fetch": "failed", "clean": "upstream_failed", "dashboard": "upstream_failed"}
    assert not (project / "data" / "weather" / "open-meteo").exists() or \
        not list((project / "data" / "weather" / "open-meteo").rglob("*.json"))

    logs = pipe(project, "logs", "weather", "fetch")
    assert logs.returncode == 0, logs.stderr
    lines = [line for line in logs.stdout.splitlines() if "cannot reach Open-Meteo" in line]
    assert lines, logs.stdout
    assert lines[-1].startswith("weather.fetch.FetchError: cannot reach Open-Meteo at http://127.0.0.1:")
    assert "no network?" in lines[-1]


# ---------------------------------------------------------------- umbrella

def test_umbrella_trains_evaluates_and_deploys(project):
    doc = run_json(project, "run", "umbrella", "--date", "2026-11-08")   # a Sunday: ds = 2026-11-08
    assert states(doc) == {t: "succeeded" for t in UMBRELLA_TASKS}
    tasks = doc["tasks"]
    run_dir = project / "data" / "umbrella" / "2026-11-08"

    # The shell task's $PIPE_OUTPUT lines, and the Python tasks' returned dicts.
    weather = read_csv(run_dir / "weather.csv")
    assert len(weather) == 364
    assert tasks["clean_weather"]["outputs"]["rows"] == "364"
    assert tasks["clean_weather"]["outputs"]["dropped"] == "0"
    assert tasks["clean_weather"]["outputs"]["path"].endswith("2026-11-08/weather.csv")
    assert weather[0]["date"] == "2025-11-16" and weather[-1]["date"] == "2026-11-14"
    sales = read_csv(run_dir / "sales.csv")
    assert tasks["clean_sales"]["outputs"]["rows"] == len(sales)
    assert 340 < len(sales) <= 364                           # a few days without a count
    joined = read_csv(run_dir / "joined.csv")
    assert tasks["join"]["outputs"]["rows"] == len(joined) == len(sales)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["holdout_rows"] == 28
    assert (metrics["holdout_first"], metrics["holdout_last"]) == ("2026-10-18", "2026-11-14")
    assert metrics["r2"] > 0.8 and metrics["mae"] < metrics["baseline_mae"] / 2
    assert tasks["evaluate"]["outputs"]["mae"] == metrics["mae"]

    current = json.loads((project / "data" / "umbrella" / "current.json").read_text())
    assert current["version"] == "2026-11-08"
    assert current["metrics"] == metrics
    coefficients = current["model"]["coefficients"]         # the simulation's: 2.5 per mm, 6 at weekends
    assert abs(coefficients["precipitation_mm"] - 2.5) < 0.3
    assert abs(coefficients["weekend"] - 6) < 1.5
    assert tasks["deploy"]["outputs"]["promoted"] is True
    assert not list((project / "data" / "umbrella").glob(".*.tmp"))


def test_umbrella_deploys_only_a_model_at_least_as_good(project):
    run_json(project, "run", "umbrella", "--date", "2026-11-08")
    current = project / "data" / "umbrella" / "current.json"
    deployed = current.read_bytes()

    doc = run_json(project, "run", "umbrella", "--date", "2026-11-08", "-p", "features=weekend")
    deploy = doc["tasks"]["deploy"]
    assert deploy["state"] == "succeeded"
    assert deploy["outputs"]["promoted"] is False
    assert deploy["outputs"]["candidate_mae"] > deploy["outputs"]["deployed_mae"]
    assert current.read_bytes() == deployed                  # the better model stays

    doc = run_json(project, "run", "umbrella", "--date", "2026-11-08")   # as good: promoted again
    assert doc["tasks"]["deploy"]["outputs"]["promoted"] is True
    assert json.loads(current.read_text())["model"]["features"] == ["precipitation_mm", "temp_max_c", "weekend"]


def test_umbrella_sales_failure_keeps_the_weather_branch_and_resumes(project):
    doc = run_json(project, "run", "umbrella", "--date", "2026-11-08", "-p", "sales_source=exports/sales.csv",
                   expect=1)
    assert states(doc) == {
        "fetch_weather": "succeeded", "clean_weather": "succeeded", "fetch_sales": "failed",
        "clean_sales": "upstream_failed", "join": "upstream_failed", "train": "upstream_failed",
        "evaluate": "upstream_failed", "deploy": "upstream_failed"}
    run_dir = project / "data" / "umbrella" / "2026-11-08"
    weather = run_dir / "weather.csv"
    weather_mtime = weather.stat().st_mtime_ns
    assert not (project / "data" / "umbrella" / "current.json").exists()

    # The export appears (relative paths start in pipelines/, the tasks' folder): resume.
    export = project / "pipelines" / "exports" / "sales.csv"
    export.parent.mkdir()
    with open(export, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["date", "units"])
        for row in read_csv(weather):
            writer.writerow([row["date"], 10 + round(3 * float(row["precipitation_mm"]))])
    result = pipe(project, "resume", "umbrella")
    assert result.returncode == 0, result.stdout + result.stderr

    assert weather.stat().st_mtime_ns == weather_mtime       # the weather branch was not redone
    assert len(read_csv(run_dir / "sales.csv")) == 364        # the run's own -p sales_source was kept
    model = json.loads((project / "data" / "umbrella" / "current.json").read_text())["model"]
    assert abs(model["coefficients"]["precipitation_mm"] - 3) < 0.05


# ---------------------------------------------------------------- the task code, called directly

def _module(name: str):
    sys.path.insert(0, str(PIPELINES))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(PIPELINES))


def test_date_mapping_keeps_leap_days_and_consecutive_days():
    fetch = _module("weather.fetch")
    assert fetch.map_date(dt.date(2026, 11, 3)) == dt.date(2014, 11, 3)
    assert fetch.map_date(dt.date(2028, 2, 29)) == dt.date(2012, 2, 29)
    assert fetch.map_date(dt.date(2027, 12, 31)) == dt.date(2015, 12, 31)
    history = fetch.load_history()
    day = dt.date(2024, 1, 1)
    for _ in range(4 * 366):                                  # every day maps to a record
        assert fetch.map_date(day) in history
        day += dt.timedelta(days=1)


SIMULATE_FORTNIGHT = """
import datetime as dt, json, random, sys
random.seed(sys.argv[1])                  # whatever the global generator's state
from umbrella.sales import simulate_day
from weather.fetch import load_history
history = load_history()
print(json.dumps([simulate_day(dt.date(2026, 11, 1) + dt.timedelta(days=i), history) for i in range(14)]))
"""


def test_sales_simulation_is_seeded_by_the_date():
    """A day sells the same in every process, whatever the global random state or hash seed;
    different days sell differently."""
    days = []
    for seed, hash_seed in (("1", "0"), ("2", "12345")):
        r = subprocess.run([sys.executable, "-c", SIMULATE_FORTNIGHT, seed], cwd=PIPELINES, capture_output=True,
                           text=True, timeout=60, env=clean_env({"PYTHONHASHSEED": hash_seed}))
        assert r.returncode == 0, r.stderr
        days.append(json.loads(r.stdout))
    assert days[0] == days[1]
    assert [rows[0]["date"] for rows in days[0]] == [f"2026-11-{d:02d}" for d in range(1, 15)]
    assert len({rows[0]["units"] for rows in days[0]}) > 3          # not one figure for every day


def test_least_squares_recovers_exact_coefficients():
    model = _module("umbrella.model")
    rows = [{"units": 4 + 2 * p - 0.5 * t + 3 * w, "precipitation_mm": p, "temp_max_c": t, "weekend": w}
            for p, t, w in [(0, 10, 0), (1, 12, 1), (5, 8, 0), (2, 20, 1), (7, 15, 0), (3, 3, 1)]]
    coefficients = model.fit(rows, ["precipitation_mm", "temp_max_c", "weekend"])
    expected = {"intercept": 4, "precipitation_mm": 2, "temp_max_c": -0.5, "weekend": 3}
    assert all(abs(coefficients[k] - v) < 1e-9 for k, v in expected.items())


def test_weather_backfill_pages_show_no_day_after_their_interval(project):
    """A backfill of past days after a later day was run: each interval's page and outputs
    end at its own date, and dashboard.html stays the page of the latest interval."""
    run_json(project, "run", "weather", "--date", "2026-11-10")
    result = pipe(project, "backfill", "weather", "--start", "2026-11-01", "--end", "2026-11-07")
    assert result.returncode == 0, result.stdout + result.stderr
    day = weather_dir(project)

    page = (day / "dashboards" / "2026-11-07.html").read_text()
    assert "Latest, 2026-11-07:" in page and "2026-11-10" not in page
    assert "7 day(s), 2026-11-01 to 2026-11-07" in page
    assert "Latest, 2026-11-10:" in (day / "dashboard.html").read_text()

    doc = run_json(project, "run", "weather", "--date", "2026-11-03")    # a rerun of a past day
    assert doc["tasks"]["dashboard"]["outputs"]["last"] == "2026-11-03"
    assert doc["tasks"]["dashboard"]["outputs"]["replaced"] is False
    page = (day / "dashboards" / "2026-11-03.html").read_text()
    assert "Latest, 2026-11-03:" in page
    assert not re.search(r"2026-11-(0[4-9]|10)", page.split("<body>")[1].split("Built ")[0])
    assert "Latest, 2026-11-10:" in (day / "dashboard.html").read_text()


def test_umbrella_backfilled_week_neither_scores_nor_replaces_a_later_model(project):
    """A later week's model was trained on days after an earlier week: a run of the earlier
    week keeps it deployed and does not score it on its held-out days."""
    run_json(project, "run", "umbrella", "--date", "2026-11-15")
    current = project / "data" / "umbrella" / "current.json"
    doc = run_json(project, "run", "umbrella", "--date", "2026-11-08")
    deploy = doc["tasks"]["deploy"]["outputs"]
    assert deploy["promoted"] is False and deploy["deployed_mae"] is None
    assert deploy["newer_deployed"] is True and deploy["version"] == "2026-11-15"
    assert json.loads(current.read_text())["version"] == "2026-11-15"
