"""Issue 15 item 9: the shipped JSON Schema and `pipe validate` agree on what is valid.

Each document is written as JSON (which is YAML), so an editor, check-jsonschema and pipe
all read the same values; the jsonschema library plays the editor's part."""
from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from conftest import ROOT

SCHEMA = json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())
RUN = {"run": "echo"}

INVALID = {
    "both_run_and_python": {"tasks": {"a": {"run": "echo", "python": "m:f"}}},
    "neither_run_nor_python": {"tasks": {"a": {"deps": []}}},
    "with_without_python": {"tasks": {"a": {"run": "echo", "with": {"x": 1}}}},
    "timeout_too_long": {"tasks": {"a": {**RUN, "timeout": 31536001}}},
    "retry_delay_negative": {"tasks": {"a": {**RUN, "retry_delay": -1}}},
    "retries_too_many": {"tasks": {"a": {**RUN, "retries": 101}}},
    "retry_backoff_too_big": {"tasks": {"a": {**RUN, "retry_backoff": 10.5}}},
    "retry_backoff_below_one": {"tasks": {"a": {**RUN, "retry_backoff": 0.5}}},
    "param_with_dash": {"params": {"max-n": 1}, "tasks": {"a": RUN}},
    "env_name_with_equals": {"env": {"A=B": "x"}, "tasks": {"a": RUN}},
    "secret_starting_with_digit": {"secrets": ["1BAD"], "tasks": {"a": RUN}},
    "bad_task_id": {"tasks": {"1a": RUN}},
    "bad_name": {"name": "Weather", "tasks": {"a": RUN}},
    "no_tasks": {"tasks": {}},
    "unknown_field": {"tasks": {"a": {**RUN, "retry": 1}}},
    "run_in_defaults": {"defaults": {"run": "echo"}, "tasks": {"a": RUN}},
    "bad_trigger": {"tasks": {"a": {**RUN, "trigger": "always"}}},
    "bad_schedule": {"schedule": "daily", "tasks": {"a": RUN}},
    "bad_catchup": {"catchup": "yes", "tasks": {"a": RUN}},
    "bad_start_date": {"start_date": "1 Nov 2026", "tasks": {"a": RUN}},
    "empty_run": {"tasks": {"a": {"run": ""}}},
    "empty_argv": {"tasks": {"a": {"run": []}}},
    "bad_python_entry": {"tasks": {"a": {"python": "weather.fetch"}}},
    "duplicate_dep": {"tasks": {"a": RUN, "b": {**RUN, "deps": ["a", "a"]}}},
    "concurrency_zero": {"concurrency": 0, "tasks": {"a": RUN}},
}

VALID = {
    "run": {"tasks": {"a": RUN}},
    "python_with": {"tasks": {"a": {"python": "json:dumps", "with": {"obj": "{{ ds }}"}}}},
    "longest_durations": {"catchup": "365d", "schedule": "@daily",
                          "tasks": {"a": {**RUN, "timeout": 31536000, "retry_delay": "365d", "retries": 100,
                                          "retry_backoff": 10}}},
    "timeout_zero": {"tasks": {"a": {**RUN, "timeout": 0}}},
    "params": {"params": {"max_n": 1, "city": None}, "tasks": {"a": RUN}},
}

# What the schema cannot say (no JSON Schema keyword for it): pipe validate alone refuses these.
BEYOND_THE_SCHEMA = {
    "duration_string_too_long": {"tasks": {"a": {**RUN, "timeout": "400d"}}},
    "unknown_dependency": {"tasks": {"a": {**RUN, "deps": ["b"]}}},
    "cycle": {"tasks": {"a": {**RUN, "deps": ["b"]}, "b": {**RUN, "deps": ["a"]}}},
    "unknown_timezone": {"timezone": "Mars/Olympus", "tasks": {"a": RUN}},
    "params_differing_in_case": {"params": {"a": 1, "A": 2}, "tasks": {"t": RUN}},
    "undeclared_param_in_template": {"tasks": {"a": {"run": "echo {{ params.x }}"}}},
    "python_module_not_found": {"tasks": {"a": {"python": "no_such_module_here:f"}}},
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    """pipe validate's verdict on every document of the tables, from one CLI call."""
    import subprocess
    import sys

    from conftest import clean_env

    folder = tmp_path_factory.mktemp("schema-agreement")
    (folder / "pipelines").mkdir()
    docs = {**INVALID, **VALID, **BEYOND_THE_SCHEMA}
    for name, doc in docs.items():
        (folder / "pipelines" / f"{name.replace('_', '-')}.yaml").write_text(json.dumps(doc))
    result = subprocess.run([sys.executable, "-m", "pipeline_cli", "validate"], cwd=folder, env=clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr
    out = result.stdout + result.stderr
    return {name: f"{name.replace('_', '-')}.yaml: ok" not in out for name in docs}, out


@pytest.mark.parametrize("name", sorted(INVALID))
def test_schema_and_pipe_validate_both_refuse(name, verdicts):
    assert not Draft202012Validator(SCHEMA).is_valid(INVALID[name])
    refused, out = verdicts
    assert refused[name], out


@pytest.mark.parametrize("name", sorted(VALID))
def test_schema_and_pipe_validate_both_accept(name, verdicts):
    Draft202012Validator(SCHEMA).validate(VALID[name])
    refused, out = verdicts
    assert not refused[name], out


@pytest.mark.parametrize("name", sorted(BEYOND_THE_SCHEMA))
def test_what_only_pipe_validate_refuses(name, verdicts):
    Draft202012Validator(SCHEMA).validate(BEYOND_THE_SCHEMA[name])
    refused, out = verdicts
    assert refused[name], out


def test_the_packaged_schema_is_the_shipped_one():
    assert (ROOT / "pipeline_cli" / "pipeline.schema.json").read_bytes() == \
        (ROOT / "schemas" / "pipeline.schema.json").read_bytes()
