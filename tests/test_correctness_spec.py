"""Issue 15: validation defects found by real clients, a review and a new user (through the CLI)."""
from __future__ import annotations

import json
import math

import pytest

from pipeline_cli import spec
from pipeline_cli.errors import SpecError


def problems(tmp_path, text: str, name: str = "p.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    try:
        spec.load(path)
    except SpecError as e:
        return [p.message for p in e.problems]
    return []


# --- item 2: the validated-spec cache never skips a check that depends on the file's name --

@pytest.mark.parametrize("command", [["run"], ["tick", "--now", "2026-12-01T06:00"]])
def test_cached_spec_of_a_badly_named_copy_is_an_error_not_a_traceback(project, write_pipeline, pipe, command):
    good = write_pipeline("good", "schedule: '@daily'\ntasks:\n  a:\n    run: echo hi\n")
    assert pipe("run", "good").returncode == 0           # caches the validated document
    (project / "pipelines" / "Bad Name.yaml").write_bytes(good.read_bytes())
    good.unlink()
    args = [*command, "Bad Name"] if command == ["run"] else command
    result = pipe(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Bad Name.yaml:1:1: the file name 'Bad Name' is not a valid pipeline name" in result.stderr


# --- item 1: every duration is bounded; .nan and .inf are refused --------------------------

@pytest.mark.parametrize("field, value, fragment", [
    ("timeout", "400d", "'400d' is longer than the longest duration pipe takes (365d)"),
    ("timeout", "99999999999", "must be at most 31536000 (365 days)"),
    ("retry_delay", ".inf", "pipe takes no infinite or NaN numbers"),
    ("timeout", ".nan", "pipe takes no infinite or NaN numbers"),
    ("retry_delay", "-.inf", "pipe takes no infinite or NaN numbers"),
    ("retry_backoff", "1e300", "'1e300' is the text"),          # YAML 1.1 text, 1.2 number
    ("retry_backoff", "11", "must be at most 10"),
    ("retries", "1000", "must be at most 100"),
])
def test_out_of_range_durations_and_numbers_are_refused(tmp_path, field, value, fragment):
    found = problems(tmp_path, f"tasks:\n  a:\n    run: echo\n    {field}: {value}\n")
    assert any(fragment in p for p in found), found


@pytest.mark.parametrize("value", ["400d", "8761h", "1000000000s"])
def test_catchup_window_is_bounded(tmp_path, value):
    found = problems(tmp_path, f"schedule: '@daily'\ncatchup: {value}\ntasks:\n  a:\n    run: echo\n")
    assert found == [f"catchup: {value!r} is longer than the longest duration pipe takes (365d)"]


def test_defaults_duration_is_located_in_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("defaults:\n  timeout: 366d\ntasks:\n  a:\n    run: echo\n")
    with pytest.raises(SpecError) as e:
        spec.load(path)
    assert [str(p) for p in e.value.problems] == [
        f"{path}:2:12: defaults.timeout: '366d' is longer than the longest duration pipe takes (365d)"]


def test_parse_duration_bounds():
    assert spec.parse_duration("365d") == 365 * 86400
    assert spec.parse_duration(0) == 0
    for bad in (math.nan, math.inf, -1, "366d", 1e12, True):
        with pytest.raises(ValueError):
            spec.parse_duration(bad)


def test_a_long_timeout_and_a_long_retry_wait_run_without_a_traceback(write_pipeline, pipe):
    # 25d overflowed epoll's timeout (OverflowError: timeout is too large) and left the run interrupted.
    write_pipeline("long", """
        tasks:
          ok:
            run: echo done
            timeout: 25d
          flaky:
            run: "test -e marker || { touch marker; exit 1; }"
            retries: 1
            retry_delay: 0.05
            timeout: 365d
    """)
    result = pipe("run", "long")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_timeout_zero_means_no_timeout(write_pipeline, pipe):
    write_pipeline("zero", "tasks:\n  a:\n    run: sleep 0.3\n    timeout: 0\n")
    result = pipe("run", "zero")
    assert result.returncode == 0, result.stdout + result.stderr


# --- item 8: values YAML 1.1 and YAML 1.2 read differently are an error -------------------

@pytest.mark.parametrize("text, fragment", [
    ("catchup: yes", "'yes' is true to YAML 1.1 but the text 'yes' to YAML 1.2"),
    ("catchup: off", "'off' is false to YAML 1.1 but the text 'off' to YAML 1.2"),
    ("max_active_runs: 010", "'010' is 8 to YAML 1.1 but 10 to YAML 1.2"),
    ("concurrency: 0b11", "'0b11' is 3 to YAML 1.1 but the text '0b11' to YAML 1.2"),
    ("concurrency: 1_000", "'1_000' is 1000 to YAML 1.1"),
    ("params: {t: 1:30}", "'1:30' is 90 to YAML 1.1 but the text '1:30' to YAML 1.2"),
    ("params: {t: 0o17}", "'0o17' is the text '0o17' to YAML 1.1 but 15 to YAML 1.2"),
    ("params: {t: 1e3}", "'1e3' is the text '1e3' to YAML 1.1 but 1000.0 to YAML 1.2"),
    ("params: {t: 08}", "'08' is the text '08' to YAML 1.1 but 8 to YAML 1.2"),
    ("params: {t: [on, No]}", "'on' is true to YAML 1.1"),
])
def test_yaml_11_and_12_disagreements_are_errors(tmp_path, text, fragment):
    found = problems(tmp_path, f"{text}\nschedule: '@daily'\ntasks:\n  a:\n    run: echo\n")
    assert any(fragment in p and "quote it to keep it as text, or write" in p for p in found), found


@pytest.mark.parametrize("text", ["catchup: true", "description: 'yes'", "max_active_runs: 10", "concurrency: 0x10",
                                  "params: {t: '1:30', u: 1.5, v: .5, w: -3, x: +4, y: ~, z: 5.}",
                                  "params: {v: \"on\", w: 3.10, x: 1.2.3, y: nope, z: 2026-11-01}"])
def test_values_both_yaml_versions_agree_on_are_accepted(tmp_path, text):
    assert problems(tmp_path, f"{text}\nschedule: '@daily'\ntasks:\n  a:\n    run: echo\n") == []


def test_a_task_named_on_in_deps_must_be_quoted(tmp_path):
    found = problems(tmp_path, "tasks:\n  'on':\n    run: echo\n  b:\n    run: echo\n    deps: [on]\n")
    assert len(found) == 1 and "'on' is true to YAML 1.1" in found[0]
    assert problems(tmp_path, "tasks:\n  'on':\n    run: echo\n  b:\n    run: echo\n    deps: ['on']\n") == []


# --- item 16: messages that say what is wrong -------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("env: {\"A=B\": x}", "'A=B' is not an environment variable name: a name without '=' (e.g. DATA_DIR)"),
    ("secrets: [\"1BAD\"]", "secrets.0: '1BAD' is not an environment variable name: letters, digits and '_', "
                            "not starting with a digit"),
    ("start_date: 2026-02-30", "'2026-02-30' is not a date that exists (day is out of range for month)"),
    ("start_date: '2026-02-30'", "start_date: '2026-02-30' is not a date that exists (day is out of range for month)"),
    ("start_date: 'soon'", "start_date: 'soon' is not a date such as 2026-11-01 (or an ISO date-time)"),
])
def test_messages_name_the_real_problem(tmp_path, text, expected):
    assert problems(tmp_path, f"{text}\ntasks:\n  a:\n    run: echo\n") == [expected]


# --- item 19: param names are shell variable names -----------------------------------------

def test_param_name_with_dash_is_refused_where_it_stands(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("params:\n  city: x\n  max-n: 3\ntasks:\n  a:\n    run: echo\n")
    with pytest.raises(SpecError) as e:
        spec.load(path)
    assert [str(p) for p in e.value.problems] == [
        f"{path}:3:3: 'max-n' is not a parameter name: letters, digits and '_', starting with a letter or '_'"]


def test_params_differing_only_in_case_are_refused(tmp_path):
    assert problems(tmp_path, "params: {city: a, CITY: b}\ntasks:\n  a:\n    run: echo\n") == [
        "params 'city' and 'CITY' would both be passed as PIPE_PARAM_CITY; rename one"]


@pytest.mark.parametrize("text", ["2026-11-01", "2026-11-01 06:00:00", "2001-12-14t21:59:43.10-05:00"])
def test_dates_keep_the_text_a_yaml_12_tool_reads(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(f"params: {{when: {text}}}\ntasks:\n  a:\n    run: echo\n")
    assert spec.load(path).params == {"when": text}


def test_start_date_with_a_space_is_read_in_the_pipelines_zone(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("timezone: Europe/Amsterdam\nstart_date: 2026-11-01 06:00:00\ntasks:\n  a:\n    run: echo\n")
    assert spec.load(path).start_date.isoformat() == "2026-11-01T06:00:00+01:00"


def test_a_cache_folder_that_cannot_be_made_only_makes_loading_slower(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("tasks:\n  a:\n    run: echo\n")
    (tmp_path / "afile").write_text("in the way")
    assert spec.load(path, cache=tmp_path / "afile" / "cache" / "specs").name == "p"
