"""The quick schema check (pipeline_cli/schemacheck.py) held to its promise.

`compile_schema` answers True only for a document the schema CERTAINLY accepts, and False
when unsure; spec.py then asks jsonschema (the authority) for the verdict and messages.

- Soundness: whenever the quick check says True, jsonschema must agree. Checked with
  hypothesis on real pipeline documents mutated at random paths and on arbitrary JSON-like
  values; systematically with every field set to each value of a catalogue of near misses;
  and on random small schemas built from the keywords the quick check knows.
- Usefulness: every valid pipeline of the repository passes the quick check (otherwise the
  fast path is dead, and a check that always answers False would pass the soundness tests).
- compile_schema on small schemas: unknown keywords, $ref, and each keyword's edge cases.
"""
from __future__ import annotations

import copy
import math
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from pipeline_cli import spec
from pipeline_cli.spec import schema_check as spec_schema, yamldoc as spec_yaml
from pipeline_cli.schemacheck import compile_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = spec.schema()
TOP_FIELDS = sorted(SCHEMA["properties"])
TASK_FIELDS = sorted(SCHEMA["$defs"]["task"]["properties"])
DEFAULT_FIELDS = sorted(SCHEMA["$defs"]["defaults"]["properties"])
REPO_PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))

# No example database: the tests must not write into the project (.hypothesis/).
FUZZ = dict(deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.filter_too_much])


def quick(doc: Any) -> bool:
    """The quick check exactly as spec.py uses it."""
    return spec_schema.certainly_valid(doc)


def authority(doc: Any) -> bool:
    """jsonschema's verdict over the same (Python-pattern) schema, as spec.py uses it."""
    return spec_schema.validator().is_valid(doc)


def load(text: str, file: str = "test.yaml") -> Any:
    """The document spec.py validates: the YAML node tree built into plain values."""
    problems: list = []
    doc = spec_yaml.Document(file, problems).build(spec_yaml.compose(text, file))
    assert not problems, problems
    return doc


# --- seed documents -----------------------------------------------------------------------

HAND_WRITTEN = {
    "notify_and_cluster": """
        schedule: "@daily"
        defaults:
          executor: local
          resources: {GPU: 1}
        notify:
          to: ["json://hooks.example.com/pipe"]
          when: [failure, recovery]
          deadline: 2h
          run: ./alert.sh
          repeat: false
          manual: false
          timeout: 10s
        tasks:
          train:
            run: python train.py
            executor: local
            resources: {GPU: 1, memory: 4000000000}
          per_city:
            run: echo {{ item }}
            foreach: [Seattle, Lisbon]
            max_parallel: 1
          matrix:
            run: echo {{ item.city }} {{ item.unit }}
            foreach: {city: [Seattle, Lisbon], unit: [metric, imperial]}
          from_upstream:
            deps: [per_city]
            run: echo {{ item }}
            foreach: "{{ tasks.per_city.outputs | length }}"
          load:
            run: ./load.sh
            pool: warehouse
            pool_slots: 2
          cleaned:
            run: echo
            produces: [weather_clean, weather.daily-v2]
          sales_file:
            wait: {file: "incoming/sales-{{ ds }}.csv"}
            every: 30s
            timeout: 6h
    """,
    "every_field": """
        name: full-example
        description: Uses every field of the schema
        schedule: "30 2 * * MON-FRI"
        timezone: Europe/Amsterdam
        start_date: 2026-11-01T06:00:00+01:00
        end_date: 2027-11-01T06:00:00+01:00
        wait_for: [weather_clean]
        wait_timeout: 1d
        catchup: 7d
        max_active_runs: 2
        concurrency: 4
        params:
          city: Seattle
          days: 30
          ratio: 0.5
          nested: {a: [1, 2.5, true, null], b: {c: d}}
        env:
          DATA_DIR: data
          DAY: "{{ ds }}"
          COUNT: 3
          RATIO: 1.5
          FLAG: true
        dotenv: .env
        secrets: [API_TOKEN, _OTHER_1]
        workdir: data
        shell: [bash, -euo, pipefail, -c]
        defaults:
          description: a default description
          retries: 1
          retry_delay: 30s
          retry_backoff: 2
          timeout: 1h
          env: {A: b, N: 1}
          trigger: all_done
          sources: [in.csv]
          generates: [out.csv]
          shell: [sh, -c]
          workdir: .
        tasks:
          fetch:
            description: Fetch the data
            python: weather.fetch:main
            with: {city: "{{ params.city }}", days: 30, flags: [a, b], none: null}
            retries: 3
            retry_delay: 1.5
            retry_backoff: 1.5
            timeout: 90
            env: {X: "1", Y: 2, Z: false}
            trigger: one_success
            sources: [a.csv, "{{ ds }}.json"]
            generates: [b.csv]
            workdir: "data/{{ ds }}"
          build-site:
            run: [python3, -m, site, ""]
            deps: [fetch]
            shell: [bash, -c]
          _clean:
            run: echo hi
            deps: [fetch, build-site]
            trigger: none_failed
            timeout: 1h30m
            retry_delay: 0
            retries: 0
    """,
    "minimal": """
        tasks:
          a:
            run: echo a
    """,
    "other_values": """
        name: x
        schedule: "@hourly"
        start_date: 2026-11-01
        catchup: true
        timezone: UTC
        max_active_runs: 1
        concurrency: 1
        params: {}
        env: {}
        secrets: []
        shell: [sh]
        defaults: {}
        tasks:
          A1:
            python: pkg.mod.sub:func_1
            with: {}
            deps: []
            sources: []
            generates: []
            env: {}
            trigger: all_failed
            timeout: 500ms
            retry_delay: 1.5h
          b_:
            run: "python3 -m x --day {{ ds }}"
            deps: [A1]
            trigger: one_failed
            timeout: 0.5
          c-d:
            run: [sh]
            deps: [A1, b_]
            trigger: all_success
            description: ""
    """,
    "date_time_start_and_cron": """
        name: z-9_a
        schedule: "*/15 * * * *"
        start_date: 2026-11-01 06:00:00
        catchup: 12h
        tasks:
          only:
            run: echo
            retries: 10
            retry_backoff: 1
    """,
}


REPO_DOCS = {p.name: load(p.read_text(encoding="utf-8"), str(p)) for p in REPO_PIPELINES}
HAND_DOCS = {name: load(textwrap.dedent(text)) for name, text in HAND_WRITTEN.items()}
VALID_DOCS = {**REPO_DOCS, **HAND_DOCS}
SEEDS = [VALID_DOCS[k] for k in sorted(VALID_DOCS)]


def test_the_repository_has_pipelines_to_check():
    assert REPO_PIPELINES, "pipelines/*.yaml is empty: the seeds miss real documents"


def test_hand_written_documents_use_every_field_of_the_schema():
    """The seeds exercise the whole schema; a field added to it must be added here too."""
    docs = HAND_DOCS.values()
    top = set().union(*(d.keys() for d in docs))
    tasks = set().union(*(t.keys() for d in docs for t in d["tasks"].values()))
    defaults = set().union(*(d.get("defaults", {}).keys() for d in docs))
    assert set(TOP_FIELDS) - top == set()
    assert set(TASK_FIELDS) - tasks == set()
    assert set(DEFAULT_FIELDS) - defaults == set()


@pytest.mark.parametrize("name", sorted(VALID_DOCS))
def test_valid_pipeline_takes_the_fast_path(name):
    doc = VALID_DOCS[name]
    assert authority(doc), list(spec_schema.validator().iter_errors(doc))
    assert quick(doc), f"{name}: valid, but the quick check is unsure (the fast path is dead)"


# --- hand-picked documents the quick check must not accept -----------------------------

INVALID = {
    "unknown_top_field": "nmae: x\ntasks: {a: {run: x}}",
    "unknown_task_field": "tasks: {a: {run: x, retires: 1}}",
    "run_in_defaults": "defaults: {run: x}\ntasks: {a: {run: x}}",
    "missing_tasks": "name: x",
    "no_tasks": "tasks: {}",
    "top_level_list": "- tasks: {a: {run: x}}",
    "task_is_a_string": "tasks: {a: echo}",
    "concurrency_string": "concurrency: '4'\ntasks: {a: {run: x}}",
    "concurrency_zero": "concurrency: 0\ntasks: {a: {run: x}}",
    "max_active_runs_true": "max_active_runs: true\ntasks: {a: {run: x}}",
    "name_trailing_newline": 'name: "weather\\n"\ntasks: {a: {run: x}}',
    "name_upper_case": "name: Weather\ntasks: {a: {run: x}}",
    "name_leading_digit": "name: 1weather\ntasks: {a: {run: x}}",
    "name_65_characters": f"name: {'a' * 65}\ntasks: {{a: {{run: x}}}}",
    "task_id_trailing_newline": 'tasks: {"a\\n": {run: x}}',
    "task_id_65_characters": f"tasks: {{{'a' * 65}: {{run: x}}}}",
    "task_id_with_space": "tasks: {'a b': {run: x}}",
    "dep_id_trailing_newline": 'tasks: {a: {run: x}, b: {run: x, deps: ["a\\n"]}}',
    "retries_true": "tasks: {a: {run: x, retries: true}}",
    "retries_fraction": "tasks: {a: {run: x, retries: 1.5}}",
    "retries_negative": "tasks: {a: {run: x, retries: -1}}",
    "retries_string": "tasks: {a: {run: x, retries: '1'}}",
    "retry_backoff_below_one": "tasks: {a: {run: x, retry_backoff: 0.5}}",
    "duplicate_deps": "tasks: {a: {run: x}, b: {run: x, deps: [a, a]}}",
    "deps_not_a_list": "tasks: {a: {run: x}, b: {run: x, deps: a}}",
    "empty_run_list": "tasks: {a: {run: []}}",
    "empty_run_string": "tasks: {a: {run: ''}}",
    "run_list_empty_program": "tasks: {a: {run: ['', x]}}",
    "run_list_non_string": "tasks: {a: {run: [echo, 1]}}",
    "run_number": "tasks: {a: {run: 1}}",
    "empty_shell": "shell: []\ntasks: {a: {run: x}}",
    "shell_empty_program": "tasks: {a: {run: x, shell: ['', -c]}}",
    "python_trailing_newline": 'tasks: {a: {python: "m:f\\n"}}',
    "python_without_function": "tasks: {a: {python: weather.fetch}}",
    "with_a_list": "tasks: {a: {python: 'm:f', with: [1]}}",
    "trigger_upper_case": "tasks: {a: {run: x, trigger: ALL_SUCCESS}}",
    "timeout_negative": "tasks: {a: {run: x, timeout: -1}}",
    "timeout_with_space": "tasks: {a: {run: x, timeout: 5 m}}",
    "timeout_true": "tasks: {a: {run: x, timeout: true}}",
    "timeout_trailing_newline": 'defaults: {timeout: "5m\\n"}\ntasks: {a: {run: x}}',
    "schedule_four_fields": "schedule: '0 6 * *'\ntasks: {a: {run: x}}",
    "schedule_trailing_newline": 'schedule: "@daily\\n"\ntasks: {a: {run: x}}',
    "catchup_number": "catchup: 1\ntasks: {a: {run: x}}",
    "catchup_trailing_newline": 'catchup: "7d\\n"\ntasks: {a: {run: x}}',
    "start_date_trailing_newline": 'start_date: "2026-11-01\\n"\ntasks: {a: {run: x}}',
    "timezone_empty": "timezone: ''\ntasks: {a: {run: x}}",
    "env_name_with_equals": "env: {'A=B': x}\ntasks: {a: {run: x}}",
    "env_empty_name": "env: {'': x}\ntasks: {a: {run: x}}",
    "env_value_list": "tasks: {a: {run: x, env: {A: [1]}}}",
    "env_value_null": "tasks: {a: {run: x, env: {A: null}}}",
    "secrets_duplicate": "secrets: [A, A]\ntasks: {a: {run: x}}",
    "secrets_bad_name": "secrets: [1A]\ntasks: {a: {run: x}}",
    "secrets_number": "secrets: [1]\ntasks: {a: {run: x}}",
    "sources_non_string": "tasks: {a: {run: x, sources: [1]}}",
    "params_list": "params: [a]\ntasks: {a: {run: x}}",
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_document_is_not_accepted(name):
    doc = load(INVALID[name])
    assert not authority(doc), f"{name}: the case should be invalid to jsonschema"
    assert not quick(doc), f"{name}: the quick check accepts an invalid document"


# Valid to jsonschema, but deliberately left to it by the quick check (it is stricter).
UNSURE = {
    "retries_one_point_zero": "tasks: {a: {run: x, retries: 1.0}}",     # 1.0 is an integer to JSON Schema
    "concurrency_four_point_zero": "concurrency: 4.0\ntasks: {a: {run: x}}",
}


@pytest.mark.parametrize("name", sorted(UNSURE))
def test_integral_float_is_left_to_jsonschema(name):
    doc = load(UNSURE[name])
    assert authority(doc)
    assert not quick(doc)


# --- strategies ----------------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats()
           | st.sampled_from([0, 1, -1, 0.0, 1.0, -0.0, 0.5, 2**64, math.inf, -math.inf, math.nan])
           | st.text(max_size=8))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)

NEAR_MISSES = [
    "", " ", "\n", "a\n", "\na", "a\r", "weather\n", "Weather", "1weather", "-a", "a b", "_", "é",
    "a" * 63, "a" * 64, "a" * 65, "A" * 64, "A" * 65, "_" + "a" * 63, "\x00", "A\x00B", "A=B", "=",
    "@daily", "@daily\n", "@Daily", "@often", "0 6 * * *", "0 6 * * *\n", "0 6 * *", "0  6 * * * *",
    "7d", "7d\n", "7 d", "7D", "1h30m", "-5s", "5", "0", "1.5", "1.", ".5", "90", "1e3", "500ms",
    "2026-11-01", "2026-11-01\n", "2026-11-01T06:00:00+01:00", "2026-11-01T06:00Z\n", "26-11-01",
    "weather.fetch:main", "weather.fetch:main\n", "weather.fetch", ":main", "a.:b", "a:b:c",
    "all_success", "ALL_SUCCESS", "all_success\n", "sometimes", "sh", "-c", "UTC", ".env", "{{ ds }}",
    "1", "true", "null", "API_TOKEN", "API-TOKEN",
]
POOL: list[Any] = []        # every value inside the seed documents, whole subtrees included


def _collect(value: Any) -> None:
    POOL.append(value)
    if type(value) is dict:
        for v in value.values():
            _collect(v)
    elif type(value) is list:
        for v in value:
            _collect(v)


for _seed in SEEDS:
    _collect(_seed)

KNOWN_KEYS = sorted(set(TOP_FIELDS) | set(TASK_FIELDS) | set(DEFAULT_FIELDS)
                    | {k for d in SEEDS for k in d["tasks"]})
NEAR_MISS_KEYS = ["Name", "name\n", "retries ", "Tasks", "run_", "", "a\n", "a" * 65, "1a", "A=B"]
KEYS = st.sampled_from(KNOWN_KEYS + NEAR_MISS_KEYS) | st.text(max_size=4)
VALUES = (JSON | st.sampled_from(NEAR_MISSES)
          | st.sampled_from(POOL).map(copy.deepcopy))


def variants(v: Any) -> list[Any]:
    """Values close to v: other types of the same number, near-miss strings, edited lists."""
    out: list[Any] = [None, True, False, 0, 1, -1, 1.0, 0.5, "", [], {}, [v], {"k": v}]
    if type(v) is bool:
        out += [int(v), float(v), str(v).lower(), [v, v]]
    elif type(v) is int:
        out += [float(v), str(v), v + 1, v - 1, -v, bool(v)]
    elif type(v) is float:
        out += [str(v), -v, math.nan, math.inf, v + 0.5]
        if math.isfinite(v):
            out += [int(v)]
    elif type(v) is str:
        out += [v + "\n", "\n" + v, v.upper(), v.lower(), v.capitalize(), "1" + v, " " + v, v + " ",
                v * 2, v[:-1], v[1:], (v or "a").ljust(64, "a")[:64], (v or "a").ljust(65, "a")[:65],
                v.replace("_", "-"), v.replace("-", "_")]
    elif type(v) is list:
        out += [v + v[:1], v[:1] * 2, v[::-1], v[1:], v + [None], v + [1], v + [""]]
        if v:
            out += [v[0]]
    elif type(v) is dict:
        out += [list(v), list(v.values())]
    return out


def _paths(value: Any, prefix: tuple = ()):
    yield prefix
    if type(value) is dict:
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif type(value) is list:
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _at(doc: Any, path: tuple) -> Any:
    for part in path:
        doc = doc[part]
    return doc


OPS = ["replace_json", "replace_variant", "replace_near_miss", "replace_from_pool", "delete",
       "add_key", "rename_key", "empty", "duplicate_item"]


@st.composite
def mutated_documents(draw) -> Any:
    """A valid pipeline document with 1 to 3 random edits at random places."""
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(doc))))
        target = _at(doc, path)
        parent = _at(doc, path[:-1]) if path else None
        op = draw(st.sampled_from(OPS))
        if op == "replace_json":
            new = draw(JSON)
        elif op == "replace_variant":
            new = draw(st.sampled_from(variants(target)))
        elif op == "replace_near_miss":
            new = draw(st.sampled_from(NEAR_MISSES))
        elif op == "replace_from_pool":
            new = copy.deepcopy(draw(st.sampled_from(POOL)))
        elif op == "empty":
            new = type(target)() if type(target) in (dict, list, str) else draw(st.sampled_from(["", [], {}]))
        elif op == "delete":
            if parent is not None:
                del parent[path[-1]]
            continue
        elif op == "add_key":
            if type(target) is dict:
                target[draw(KEYS)] = draw(VALUES)
            elif type(target) is list:
                target.insert(draw(st.integers(0, len(target))), draw(VALUES))
            continue
        elif op == "rename_key":
            if type(parent) is dict:
                key = path[-1]
                new_key = draw(st.sampled_from([k for k in variants(key) if type(k) is str]) | KEYS)
                parent[new_key] = parent.pop(key)
            continue
        else:  # duplicate_item
            if type(target) is list and target:
                target.append(copy.deepcopy(draw(st.sampled_from(target))))
            elif type(target) is dict and target:
                key = draw(st.sampled_from(list(target)))
                target[draw(KEYS)] = copy.deepcopy(target[key])
            continue
        if parent is None:
            doc = new
        else:
            parent[path[-1]] = new
    return doc


def _sound(doc: Any, seen: Counter, *, only_accepted: bool = False) -> None:
    """Counts (quick, jsonschema) answers; with only_accepted, asks jsonschema only when the
    quick check says True (all soundness needs) and counts a False as (False, None)."""
    q = quick(doc)
    v = authority(doc) if q or not only_accepted else None
    seen[q, v] += 1
    assert not q or v, f"the quick check accepts a document jsonschema rejects: {doc!r}: " \
                       f"{[e.message for e in spec_schema.validator().iter_errors(doc)]}"


# --- soundness on pipeline documents -------------------------------------------------------

def test_quick_check_never_accepts_a_mutated_document_jsonschema_rejects():
    seen: Counter = Counter()

    @settings(max_examples=600, **FUZZ)
    @given(mutated_documents())
    def check(doc):
        _sound(doc, seen)

    check()
    # Both answers occur, so the run exercised both the fast path and its refusals.
    assert seen[True, True] >= 20, seen
    assert seen[False, False] >= 100, seen


TOP_LEVEL = st.dictionaries(st.sampled_from(TOP_FIELDS) | st.text(max_size=4), VALUES, max_size=6)
_ANY_TASK = st.dictionaries(st.sampled_from(TASK_FIELDS) | st.text(max_size=4), VALUES, max_size=5)
# Most fuzzed tasks would have both or neither of run/python (the schema's oneOf refuses
# them): give half of them exactly one, so that valid tasks are fuzzed too.
TASK = _ANY_TASK | st.builds(lambda t, entry: {**{k: v for k, v in t.items() if k not in ("run", "python")}, **entry},
                             _ANY_TASK, st.sampled_from([{"run": "x"}, {"python": "m:f"}]))


def test_quick_check_is_sound_on_arbitrary_top_level_values():
    seen: Counter = Counter()

    @settings(max_examples=300, **FUZZ)
    @given(JSON | TOP_LEVEL | st.builds(lambda d, t: {**d, "tasks": t}, TOP_LEVEL,
                                        st.dictionaries(st.sampled_from(["a", "b_1"]) | st.text(max_size=3),
                                                        TASK | st.just({"run": "x"}), max_size=3)))
    def check(doc):
        _sound(doc, seen)

    check()
    assert seen[False, False] > 0, seen


def test_quick_check_is_sound_on_arbitrary_tasks():
    seen: Counter = Counter()

    @settings(max_examples=300, **FUZZ)
    @given(TASK | JSON, st.dictionaries(st.sampled_from(DEFAULT_FIELDS) | st.text(max_size=3),
                                        VALUES, max_size=2))
    def check(task, defaults):
        _sound({"tasks": {"t": task}}, seen)
        _sound({"defaults": defaults, "tasks": {"t": {"run": "x"}, "u": task}}, seen)

    check()
    assert seen[True, True] > 0 and seen[False, False] > 0, seen


# Every field of the schema, set in turn to each value of a catalogue: near misses of every
# pattern, other types of the same number, empty and duplicated lists, the seeds' own values.
CATALOGUE: list[Any] = [
    None, True, False, 0, 1, -1, 2, 64, 1.0, 1.5, 0.5, -0.5, -0.0, 2.0**64, 2**64, math.nan, math.inf,
    -math.inf, [], {}, [1], [True], [None], ["a"], ["a", "a"], [""], ["sh", ""], ["", "-c"], [["a"]],
    {"a": 1}, {"A": "b"}, {"A": None}, {"A": [1]}, {"": "x"}, {"A=B": "x"}, {"run": "x"},
    *NEAR_MISSES,
    *sorted({repr(v): v for v in POOL if type(v) in (bool, int, float, str)}.values(), key=repr),
]
_FIELD_PLACES = ([("top", f) for f in TOP_FIELDS if f != "tasks"] + [("task", f) for f in TASK_FIELDS]
                 + [("defaults", f) for f in DEFAULT_FIELDS])


def _with_field(place: str, field: str, value: Any) -> dict:
    doc: dict = {"tasks": {"a": {"run": "x"}, "b": {"run": "x", "deps": ["a"]}}}
    target = {"top": doc, "task": doc["tasks"]["b"], "defaults": doc.setdefault("defaults", {})}[place]
    target[field] = value
    return doc


@pytest.mark.parametrize("place, field", _FIELD_PLACES, ids=[f"{p}.{f}" for p, f in _FIELD_PLACES])
def test_quick_check_is_sound_for_each_field_set_to_each_catalogue_value(place, field):
    seen: Counter = Counter()
    for value in CATALOGUE:
        for shaped in (value, [value], [value, value], ["a", value], {"A": value}, {value: "x"}
                       if isinstance(value, str) else {"A": [value]}):
            _sound(_with_field(place, field, copy.deepcopy(shaped)), seen, only_accepted=True)
    assert seen[False, None] > 0, seen


def test_quick_check_is_sound_for_catalogue_task_ids_and_deps():
    seen: Counter = Counter()
    for value in CATALOGUE:
        if isinstance(value, str):
            _sound({"tasks": {value: {"run": "x"}}}, seen, only_accepted=True)
            _sound({"tasks": {value: {"run": "x"}, "b": {"run": "x", "deps": [value]}}}, seen, only_accepted=True)
        _sound({"tasks": {"a": value}}, seen, only_accepted=True)
        _sound({"tasks": value}, seen, only_accepted=True)
        _sound({"tasks": {"a": {"run": "x"}}, "defaults": value}, seen, only_accepted=True)
    assert seen[True, True] > 0 and seen[False, None] > 0, seen


# --- compile_schema on small schemas -------------------------------------------------------

def _js(schema: dict, instance: Any) -> bool:
    return Draft202012Validator(schema).is_valid(instance)


TREE = {
    "$defs": {"node": {"type": "object", "additionalProperties": False, "required": ["name"],
                       "properties": {"name": {"type": "string"},
                                      "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
    "$ref": "#/$defs/node",
}


def _tree(depth: int, leaf_name: Any = "leaf") -> dict:
    node: dict = {"name": leaf_name}
    for i in range(depth):
        node = {"name": f"n{i}", "children": [{"name": "sibling"}, node]}
    return node


# (id, schema, instance): the quick check says True and so does jsonschema.
ACCEPTS = [
    ("true_schema", True, {"anything": [1]}),
    ("empty_schema", {}, [None]),
    ("one_of_run", {"oneOf": [{"required": ["run"]}, {"required": ["python"]}]}, {"run": 1}),
    ("dependent_required_met", {"dependentRequired": {"with": ["python"]}}, {"with": 1, "python": 1}),
    ("dependent_required_absent", {"dependentRequired": {"with": ["python"]}}, {"run": 1}),
    ("type_list", {"type": ["string", "null"]}, None),
    ("ref_to_defs", {"$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x"}, "a"),
    ("ref_escaped_slash", {"$defs": {"a/b": {"type": "string"}}, "$ref": "#/$defs/a~1b"}, "a"),
    ("ref_escaped_tilde", {"$defs": {"a~b": {"type": "string"}}, "$ref": "#/$defs/a~0b"}, "a"),
    ("ref_with_sibling", {"$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x", "minLength": 2}, "ab"),
    ("recursive_ref", TREE, _tree(6)),
    ("ref_to_root", {"type": "array", "items": {"$ref": "#"}}, [[], [[[]]]]),
    ("unused_def_with_unknown_keyword", {"$defs": {"x": {"oneOf": []}}, "type": "string"}, "a"),
    ("integer", {"type": "integer"}, 1),
    ("number_int_and_float", {"type": "array", "items": {"type": "number"}}, [1, 1.5]),
    ("enum_int", {"enum": [1, "a"]}, 1),
    ("enum_true", {"enum": [1, True]}, True),
    ("enum_nested", {"enum": [[1, {"a": True}]]}, [1, {"a": True}]),
    ("const_object", {"const": {"a": [1]}}, {"a": [1]}),
    ("unique_strings", {"uniqueItems": True}, ["a", "b"]),
    ("prefix_and_items", {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", 1, 2]),
    ("prefix_longer_than_list", {"prefixItems": [{"type": "string"}, {"type": "null"}]}, ["a"]),
    ("items_false_within_prefix", {"prefixItems": [{}], "items": False}, [1]),
    ("array_keywords_ignore_non_arrays", {"prefixItems": [False], "items": False, "minItems": 3}, "text"),
    ("additional_schema", {"properties": {"a": {"type": "string"}},
                           "additionalProperties": {"type": "integer"}}, {"a": "x", "b": 1}),
    ("additional_false_known_key", {"properties": {"a": {}}, "additionalProperties": False}, {"a": 1}),
    ("property_names", {"propertyNames": {"pattern": "^[a-z]+\\Z"}}, {"ab": 1, "c": 2}),
    ("required_present", {"required": ["a"]}, {"a": None}),
    ("object_keywords_ignore_non_objects", {"required": ["a"], "additionalProperties": False,
                                            "minProperties": 2}, ["a"]),
    ("string_keywords_ignore_non_strings", {"pattern": "^x\\Z", "minLength": 5}, 3),
    ("number_keywords_ignore_booleans", {"minimum": 5}, True),
    ("min_max", {"minimum": 1, "maximum": 2, "minLength": 1, "maxLength": 2}, 1.5),
    ("max_length_code_points", {"maxLength": 1}, "é"),
]

# The quick check says False and jsonschema rejects it too.
REJECTS = [
    ("false_schema", False, None),
    ("ref_to_defs", {"$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x"}, 1),
    ("ref_with_sibling", {"$defs": {"x": {"type": "string"}}, "$ref": "#/$defs/x", "minLength": 2}, "a"),
    ("recursive_ref_deep_error", TREE, _tree(6, leaf_name=1)),
    ("recursive_ref_deep_unknown_key", TREE, {"name": "a", "children": [{"name": "b", "extra": 1}]}),
    ("integer_string", {"type": "integer"}, "1"),
    ("integer_true", {"type": "integer"}, True),
    ("number_true", {"type": "number"}, True),
    ("enum_true_is_not_1", {"enum": [1]}, True),
    ("enum_1_is_not_true", {"enum": [True]}, 1),
    ("enum_nested_true_is_not_1", {"enum": [[1]]}, [True]),
    ("enum_nested_object", {"enum": [{"a": 1}]}, {"a": True}),
    ("const_nested_object", {"const": {"a": 1}}, {"a": True}),
    ("const_list_longer", {"const": [1]}, [1, 1]),
    ("unique_strings_duplicate", {"uniqueItems": True}, ["a", "a"]),
    ("unique_ints_duplicate", {"uniqueItems": True}, [1, 1]),
    ("prefix_item_wrong", {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, [1]),
    ("rest_item_wrong", {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}}, ["a", "b"]),
    ("items_false_beyond_prefix", {"prefixItems": [{}], "items": False}, [1, 2]),
    ("additional_schema_wrong", {"properties": {"a": {"type": "string"}},
                                 "additionalProperties": {"type": "integer"}}, {"b": "x"}),
    ("known_property_wrong", {"properties": {"a": {"type": "string"}},
                              "additionalProperties": {"type": "integer"}}, {"a": 1}),
    ("additional_false", {"properties": {"a": {}}, "additionalProperties": False}, {"b": 1}),
    ("property_names_upper", {"propertyNames": {"pattern": "^[a-z]+\\Z"}}, {"Ab": 1}),
    ("property_names_newline", {"propertyNames": {"pattern": "^[a-z]+\\Z"}}, {"a\n": 1}),
    ("required_missing", {"required": ["a", "b"]}, {"a": 1}),
    ("min_properties", {"minProperties": 1}, {}),
    ("min_items", {"minItems": 1}, []),
    ("max_items", {"maxItems": 1}, [1, 2]),
    ("min_length", {"minLength": 2}, "a"),
    ("max_length", {"maxLength": 1}, "ab"),
    ("minimum", {"minimum": 0}, -0.5),
    ("maximum", {"maximum": 0}, 1),
    ("pattern", {"pattern": "^a"}, "ba"),
    ("one_of_both", {"oneOf": [{"required": ["run"]}, {"required": ["python"]}]}, {"run": 1, "python": 1}),
    ("one_of_neither", {"oneOf": [{"required": ["run"]}, {"required": ["python"]}]}, {"with": 1}),
    ("dependent_required_missing", {"dependentRequired": {"with": ["python"]}}, {"with": 1, "run": 1}),
]

# The quick check says False (unsure), although jsonschema accepts it: stricter, never wrong.
UNSURE_SMALL = [
    ("integer_one_point_zero", {"type": "integer"}, 1.0),
    ("enum_1_vs_1_point_0", {"enum": [1]}, 1.0),
    ("unique_non_strings", {"uniqueItems": True}, [1, 2]),
    ("unique_1_and_true", {"uniqueItems": True}, [1, True]),
    ("minimum_nan", {"minimum": 0}, math.nan),
    ("one_of_not_an_object", {"oneOf": [{"required": ["run"]}]}, 1),
    ("anchor_ref", {"$defs": {"a": {"$anchor": "foo", "type": "string"}}, "$ref": "#/$defs/a"}, "a"),
]


@pytest.mark.parametrize("schema, instance", [c[1:] for c in ACCEPTS], ids=[c[0] for c in ACCEPTS])
def test_compile_schema_accepts(schema, instance):
    assert _js(schema, instance)
    assert compile_schema(schema)(instance) is True


@pytest.mark.parametrize("schema, instance", [c[1:] for c in REJECTS], ids=[c[0] for c in REJECTS])
def test_compile_schema_rejects(schema, instance):
    assert not _js(schema, instance)
    assert compile_schema(schema)(instance) is False


@pytest.mark.parametrize("schema, instance", [c[1:] for c in UNSURE_SMALL], ids=[c[0] for c in UNSURE_SMALL])
def test_compile_schema_is_unsure(schema, instance):
    assert _js(schema, instance)
    assert compile_schema(schema)(instance) is False


EVERYTHING = [None, True, 0, 1, 1.5, "", "a", [], ["a"], {}, {"a": 1}]


@pytest.mark.parametrize("keyword, value", [
    ("oneOf", [{"type": "object"}]), ("anyOf", [{}]), ("allOf", [{}]), ("not", False), ("if", True),
    ("patternProperties", {}), ("format", "date"), ("maxContains", 5), ("contains", {}),
    ("dependentSchemas", {}), ("unevaluatedProperties", True), ("exclusiveMinimum", -100),
    ("$dynamicRef", "#x"), ("$anchor", "x"), ("madeUp", 1),
], ids=lambda v: v if isinstance(v, str) else None)
def test_unknown_keyword_makes_every_answer_unsure(keyword, value):
    # Each of these schemas accepts all of EVERYTHING but for the unknown keyword.
    for schema in ({keyword: value},
                   {"type": "object", "properties": {"a": {keyword: value}}},
                   {"items": {keyword: value}},
                   {"$defs": {"x": {keyword: value}}, "properties": {"a": {"$ref": "#/$defs/x"}}}):
        check = compile_schema(schema)
        assert [x for x in EVERYTHING if check(x)] == [], schema


@pytest.mark.parametrize("schema", [
    {"$ref": "#/$defs/missing"},
    {"$ref": "other.json#/$defs/x", "$defs": {"x": {}}},
    {"$ref": "https://pipe.dev/schemas/pipeline.schema.json"},
    {"$ref": "#x", "$defs": {"a": {"$anchor": "x", "type": "string"}}},      # an anchor, not the root
    {"$ref": "#/$defs/a%20b", "$defs": {"a%20b": {}, "a b": {"type": "string"}}},
    {"$ref": "#/$defs/list/5", "$defs": {"list": [{}]}},
    {"$ref": 1},
    {"type": "strnig"},
    {"type": {"a": 1}},
    {"enum": "abc"},
    {"required": "a"},
    {"minLength": "3"},
    {"properties": ["a"]},
    {"prefixItems": "ab"},
    {"items": [{}]},
    {"properties": {"a": 1}},
    # A nested $id makes its "#/..." refs point into itself, not into the root.
    {"$defs": {"x": {}}, "properties": {"a": {"$id": "https://example.com/a", "$defs": {"x": False},
                                              "$ref": "#/$defs/x"}}},
], ids=repr)
def test_unresolvable_or_malformed_schema_is_unsure_about_everything(schema):
    check = compile_schema(schema)
    assert [x for x in EVERYTHING + [{"a": "a"}] if check(x)] == []


def test_invalid_pattern_leaves_every_string_to_jsonschema():
    check = compile_schema({"pattern": "("})
    assert [x for x in ["", "a", "("] if check(x)] == []


def test_ref_follows_a_root_id_without_changing_meaning():
    schema = {"$id": "https://example.com/s", "$defs": {"x": {"type": "string"}},
              "properties": {"a": {"$ref": "#/$defs/x"}}}
    check = compile_schema(schema)
    assert check({"a": "s"}) and _js(schema, {"a": "s"})
    assert not check({"a": 1})


def test_compiled_check_does_not_see_later_changes_to_the_schema():
    schema = {"type": "string"}
    check = compile_schema(schema)
    schema["type"] = "integer"
    assert check("a") and not check(1)


# --- soundness of compile_schema on random small schemas ----------------------------------

SMALL_SCALARS = (st.none() | st.booleans() | st.integers(-2, 3)
                 | st.sampled_from([0.0, 1.0, 1.5, -0.5, math.nan]) | st.text("ab1\n", max_size=3))
SMALL_JSON = st.recursive(SMALL_SCALARS, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from("abc"), inner, max_size=3), max_leaves=6)
TYPE_NAMES = ["object", "array", "string", "integer", "number", "boolean", "null"]
NUMBERS = st.integers(-2, 3) | st.sampled_from([0.5, 1.0, -1.5])
PATTERNS = ["^a", "b\\Z", "^[a-z]+\\Z", "^[a-z]+$", "1", "^$", "\\d", "^[^=\\u0000]+\\Z"]
# One keyword each; a schema joins a few (a schema of many rarely accepts anything).
KEYWORD = st.one_of(
    st.builds(lambda t: {"type": t}, st.sampled_from(TYPE_NAMES)
              | st.lists(st.sampled_from(TYPE_NAMES), min_size=1, max_size=3, unique=True)),
    st.builds(lambda e: {"enum": e}, st.lists(SMALL_JSON, min_size=1, max_size=3)),
    st.builds(lambda c: {"const": c}, SMALL_JSON),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(PATTERNS)),
    st.builds(lambda k, n: {k: n}, st.sampled_from(["minLength", "maxLength", "minItems", "maxItems",
                                                    "minProperties"]), st.integers(0, 3)),
    st.builds(lambda k, n: {k: n}, st.sampled_from(["minimum", "maximum"]), NUMBERS),
    st.builds(lambda u: {"uniqueItems": u}, st.booleans()),
    st.builds(lambda r: {"required": r}, st.lists(st.sampled_from("abc"), max_size=2, unique=True)),
    st.builds(lambda r: {"$ref": r}, st.sampled_from(["#/$defs/word", "#/$defs/count", "#/$defs/list"])),
    st.builds(lambda d: {"description": d}, st.text(max_size=3)),
)
LEAF_SCHEMA = st.lists(KEYWORD, max_size=3).map(lambda parts: {k: v for part in parts for k, v in part.items()})
SMALL_SCHEMA = st.recursive(
    st.booleans() | LEAF_SCHEMA,
    lambda inner: st.builds(lambda base, extra: {**base, **extra}, LEAF_SCHEMA, st.fixed_dictionaries({}, optional={
        "properties": st.dictionaries(st.sampled_from("abc"), inner, max_size=2),
        "additionalProperties": inner,
        "propertyNames": inner,
        "items": inner,
        "prefixItems": st.lists(inner, max_size=2),
    })),
    max_leaves=5,
)
DEFS = {"word": {"type": "string", "pattern": "^[a-z]+\\Z"},
        "count": {"type": "integer", "minimum": 0},
        "list": {"type": "array", "items": {"$ref": "#/$defs/word"}, "uniqueItems": True}}


def _flip(v: Any) -> Any:
    """v with its booleans and integral numbers traded for each other: equal in Python (True == 1,
    [0] == [False], 1 == 1.0), not all of them equal to JSON Schema."""
    if type(v) is bool:
        return int(v)
    if type(v) is int:
        return bool(v) if v in (0, 1) else float(v)
    if type(v) is float and v.is_integer():
        return int(v)
    if type(v) is list:
        return [_flip(x) for x in v]
    if type(v) is dict:
        return {k: _flip(x) for k, x in v.items()}
    return v


def _values_in(schema: Any) -> list[Any]:
    """The enum and const values of a schema, and the same with booleans and numbers traded."""
    found: list[Any] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "enum":
                found += value
            elif key == "const":
                found.append(value)
            elif isinstance(value, dict):
                found += _values_in(value) if key != "properties" else \
                    [x for sub in value.values() for x in _values_in(sub)]
            elif key == "prefixItems":
                found += [x for sub in value for x in _values_in(sub)]
    return found + [_flip(v) for v in found] + [[_flip(v)] for v in found] + [{"a": _flip(v)} for v in found]


def test_compile_schema_is_sound_on_random_small_schemas():
    seen: Counter = Counter()

    @settings(max_examples=1000, **FUZZ)
    @given(SMALL_SCHEMA, st.data())
    def check(schema, data):
        if isinstance(schema, dict):
            schema = {**schema, "$defs": DEFS}
        values = _values_in(schema)
        instances = data.draw(st.lists(SMALL_JSON | st.sampled_from(values) if values else SMALL_JSON,
                                       min_size=1, max_size=4))
        quick_check = compile_schema(schema)
        validator = Draft202012Validator(schema)
        for x in instances:
            q, v = quick_check(x), validator.is_valid(x)
            seen[q, v] += 1
            assert not q or v, f"quick check accepts {x!r}, jsonschema rejects it, under {schema!r}"

    check()
    assert seen[True, True] >= 100 and seen[False, False] >= 100, seen


def test_enum_and_const_are_sound_for_values_python_calls_equal():
    """[True] == [1] and {"a": 0} == {"a": False} in Python, but not in JSON Schema."""
    seen: Counter = Counter()

    @settings(max_examples=300, **FUZZ)
    @given(SMALL_JSON, st.sampled_from(["enum", "const"]))
    def check(value, keyword):
        schema = {"enum": [value]} if keyword == "enum" else {"const": value}
        quick_check, validator = compile_schema(schema), Draft202012Validator(schema)
        for x in (value, _flip(value), _flip(_flip(value)), [value], [_flip(value)]):
            q, v = quick_check(x), validator.is_valid(x)
            seen[q, v] += 1
            assert not q or v, f"quick check accepts {x!r}, jsonschema rejects it, under {schema!r}"

    check()
    assert seen[True, True] > 0 and seen[False, False] > 0, seen
