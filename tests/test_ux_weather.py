"""The weather example as a user meets it: the dashboard's chart is a time axis that breaks
at missing days and scales to a phone, its table and footer read right, `run --help`'s
example works offline, and a city the offline table lacks fails at once."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "pipelines"))

from weather import dashboard  # noqa: E402


def row(date: str, tmax: float = 10.0, tmin: float = 2.0, rain: float = 1.0) -> dict:
    return {"date": date, "temp_max_c": tmax, "temp_min_c": tmin, "precipitation_mm": rain, "wind_ms": 3.0,
            "condition": "rain", "source": "local", "source_date": date}


def xs(svg: str, css: str) -> list[list[float]]:
    return [[float(p.split(",")[0]) for p in pts.split()]
            for pts in re.findall(rf'<polyline points="([^"]+)" class="{css}"/>', svg)]


def test_chart_is_a_time_axis_broken_at_gaps():
    rows = [row("2026-11-05"), row("2026-11-06"), row("2026-11-07"), row("2026-11-28"), row("2026-11-29"),
            row("2026-11-30")]
    svg = dashboard.chart_svg(rows)
    lines = xs(svg, "tmax")
    assert len(lines) == 2, "no line across the gap of 20 days"
    (a, b, c), (d, e, f) = lines
    step = b - a
    assert c - b == pytest.approx(step, abs=0.2) and e - d == pytest.approx(step, abs=0.2)
    assert d - c == pytest.approx(21 * step, abs=0.5), "11-07 and 11-28 are 21 days apart on the axis"
    assert "11-17" in svg or "11-18" in svg or "11-19" in svg, "dates inside the gap are labelled"


def test_chart_scales_to_the_page():
    svg = dashboard.chart_svg([row("2026-11-05"), row("2026-11-06")])
    head = svg.split(">", 1)[0]
    assert 'viewBox="0 0 ' in head and "width=" not in head and "height=" not in head
    page = dashboard.render_page([row("2026-11-05")], "Seattle", "now", "r1", "2026-11-05", ["2026-11-05.csv"],
                                 "clean/")
    assert "svg.chart { display: block; width: 100%; height: auto; }" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert 'class="scroll"' in page, "the table scrolls inside the page, the page does not"


def test_condition_header_aligned_with_its_column_and_one_day_footer():
    page = dashboard.render_page([row("2026-11-05")], "Seattle", "now", "r1", "2026-11-05", ["2026-11-05.csv"],
                                 "clean/")
    assert '<th class="c">Condition</th>' in page and '<td class="c">rain</td>' in page
    assert "th.c, td.c { text-align: left; }" in page
    assert page.count("2026-11-05.csv") == 1, "one file is named once"
    assert "1 clean file, 2026-11-05.csv," in page
    two = dashboard.render_page([row("2026-11-05"), row("2026-11-06")], "Seattle", "now", "r1", "2026-11-06",
                                ["2026-11-05.csv", "2026-11-06.csv"], "clean/")
    assert "2 clean files, 2026-11-05.csv … 2026-11-06.csv," in two


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "p"
    shutil.copytree(ROOT / "pipelines", project / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    return project


def test_run_help_example_works_offline(tmp_path):
    project = _project(tmp_path)
    text = subprocess.run([sys.executable, "-m", "pipeline_cli", "run", "--help"], capture_output=True, text=True,
                          cwd=project, env=clean_env()).stdout
    examples = [line.strip() for line in text.split("examples:")[1].splitlines() if "weather" in line]
    assert examples and all(line.startswith("pipe run weather") for line in examples)
    for example in examples:
        argv = example.split()[1:]
        r = subprocess.run([sys.executable, "-m", "pipeline_cli", *argv], capture_output=True, text=True,
                           cwd=project, env=clean_env(), timeout=120)
        assert r.returncode == 0, (example, r.stdout, r.stderr)


def test_a_city_the_offline_table_lacks_fails_at_once(tmp_path):
    project = _project(tmp_path)
    r = subprocess.run([sys.executable, "-m", "pipeline_cli", "run", "weather", "--date", "2026-11-03",
                        "-p", "city=Paris", "--json"], capture_output=True, text=True, cwd=project,
                       env=clean_env(), timeout=120)
    assert r.returncode == 1
    fetch = json.loads(r.stdout)["tasks"]["fetch"]
    assert fetch["state"] == "failed" and fetch["attempt"] == 1, "not retried"
    log = subprocess.run([sys.executable, "-m", "pipeline_cli", "logs", "weather", "fetch"], capture_output=True,
                         text=True, cwd=project, env=clean_env()).stdout
    assert "the local table has only Seattle, not 'Paris'" in log
