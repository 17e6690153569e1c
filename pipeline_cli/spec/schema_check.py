"""Step 2: the JSON Schema (the shipped pipeline.schema.json, which editors use too).

A quick "certainly valid" check compiled from the schema (schemacheck.py) answers first;
jsonschema is imported and run only when it is unsure, to say what is wrong and where.
"""
from __future__ import annotations

import difflib
import functools
import json
from pathlib import Path
from typing import Any

from ..errors import Problem
from .values import MAX_DURATION, TASK_FIELDS
from .yamldoc import node_at

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "pipeline.schema.json"


def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@functools.cache
def _python_schema() -> dict:
    return _python_patterns(schema())


@functools.cache
def validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_python_schema())


@functools.cache
def quick_check():
    from ..schemacheck import compile_schema

    return compile_schema(_python_schema())


def certainly_valid(doc: dict) -> bool:
    """The quick check (schemacheck.py): True means jsonschema has nothing to say."""
    return quick_check()(doc)


def _python_patterns(node: Any) -> Any:
    """The schema's ECMA patterns for Python's re: there `$` also matches before a final
    newline, so "evil<newline>" would pass `^[a-z]+$`; `\\Z` is the end of the text only."""
    if isinstance(node, dict):
        return {k: (v[:-1] + r"\Z" if k == "pattern" and isinstance(v, str) and v.endswith("$")
                    and not v.endswith("\\$") else _python_patterns(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def dotted(path) -> str:
    return ".".join(str(p) for p in path) or "the file"


def _where(path) -> str:
    path = list(path)
    if len(path) == 2 and path[0] == "tasks":
        return f"task {path[1]!r}"
    if path == ["defaults"]:
        return "defaults"
    if not path:
        return "the pipeline"
    return dotted(path)


_FIELD_HINTS = {
    "name": "a pipeline name: lower-case letters, digits, '_' and '-', starting with a letter (at most 64)",
    "schedule": "a 5-field cron expression or @hourly/@daily/@weekly/@monthly/@quarterly/@yearly/@once",
    "python": "a Python entrypoint 'module:function', e.g. weather.fetch:main",
    "start_date": "a date such as 2026-11-01 (or an ISO date-time)",
    "end_date": "a date such as 2027-01-01 (or an ISO date-time)",
    "catchup": "true, false, or a window such as 7d",
    "timeout": "a duration such as 90s, 5m, 1h30m or a number of seconds",
    "retry_delay": "a duration such as 90s, 5m, 1h30m or a number of seconds",
    "deps": "a task id: letters, digits, '_' and '-', starting with a letter or '_' (at most 64 characters)",
    "secrets": "an environment variable name: letters, digits and '_', not starting with a digit",
}


# Keys people bring from other tools (GitHub Actions, Dagu, Taskfile, Airflow, docker
# compose), and pipe's name for each: "did you mean" where spelling alone would not find it.
ALIASES = {"command": "run", "cmd": "run", "script": "run", "cmds": "run",
           "depends_on": "deps", "depends": "deps", "dependencies": "deps", "needs": "deps", "requires": "deps",
           "steps": "tasks", "jobs": "tasks", "cron": "schedule", "environment": "env", "variables": "env",
           "working_dir": "workdir", "working-directory": "workdir", "dir": "workdir", "cwd": "workdir",
           "tz": "timezone", "retry": "retries", "args": "with", "kwargs": "with", "op_kwargs": "with",
           "parameters": "params", "vars": "params"}


def meant(key: str, allowed) -> str | None:
    """The allowed key an unknown one probably means: pipe's name for another tool's key,
    else the nearest spelling."""
    if ALIASES.get(key) in allowed:
        return ALIASES[key]
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return close[0] if close else None


def aliased(mapping: dict, field: str) -> str | None:
    """The key of `mapping` that is another tool's name for `field` (then a missing `field`
    is not reported again: the unknown key already says it)."""
    return next((k for k in mapping if ALIASES.get(k) == field), None)


def _fields_at_task_level(root) -> dict[str, list]:
    """Empty tasks followed by task fields written at their level (`b:` then `run: x`
    under it, not indented): task id -> the key nodes of those fields."""
    import yaml

    tasks = node_at(root, ["tasks"])
    found: dict[str, list] = {}
    empty = None
    for key, value in tasks.value if isinstance(tasks, yaml.MappingNode) else ():
        if not isinstance(key, yaml.ScalarNode):
            continue
        if empty is not None and key.value in TASK_FIELDS and not isinstance(value, yaml.MappingNode):
            found.setdefault(empty, []).append(key)
            continue
        empty = key.value if isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null") else None
    return found


def schema_problems(doc: dict, root, file: str, check=None) -> list[Problem]:
    """What the schema says is wrong, each at its place; `check`: another schema's validator
    (the project file's), with the same messages."""
    if check is None and certainly_valid(doc):
        return []
    problems = []
    misplaced = _fields_at_task_level(root)
    for tid, keys in misplaced.items():
        mark = node_at(root, ["tasks", tid], key=True).start_mark
        fields = [f"`{k.value}:` (line {k.start_mark.line + 1})" for k in keys]
        one = len(fields) == 1
        fields = fields[0] if one else ", ".join(fields[:-1]) + " and " + fields[-1]
        problems.append(Problem(file, mark.line + 1, mark.column + 1,
                                f"task {tid!r} is empty, and {fields} beside it "
                                f"{'is read as a task of its own' if one else 'are read as tasks of their own'}: "
                                f"indent {'it' if one else 'them'} under `{tid}:`"))
    said = {("tasks", tid) for tid in misplaced} | {("tasks", k.value) for ks in misplaced.values() for k in ks}
    for err in (check or validator()).iter_errors(doc):
        path = list(err.absolute_path)
        if tuple(path[:2]) in said:
            continue
        node = node_at(root, path)
        message = None
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
            for k in extra:
                close = meant(k, allowed)
                hint = f"did you mean {close!r}? " if close else ""
                key_node = node_at(root, path + [k], key=True)
                mark = key_node.start_mark
                problems.append(Problem(file, mark.line + 1, mark.column + 1,
                                        f"unknown field {k!r} in {_where(path)}; {hint}allowed: {', '.join(allowed)}"))
            continue
        if "propertyNames" in err.schema_path:
            key_node = node_at(root, path + [err.instance], key=True)
            mark = key_node.start_mark
            if path and path[-1] == "env":
                what = "an environment variable name: a name without '=' (e.g. DATA_DIR)"
            elif path and path[-1] == "params":
                what = "a parameter name: letters, digits and '_', starting with a letter or '_'"
            elif path == ["pools"]:
                what = "a pool name: lower-case letters, digits, '_' and '-', starting with a letter (at most 64)"
            else:
                what = "a valid task id: letters, digits, '_' and '-', starting with a letter or '_' (at most 64 characters)"
            problems.append(Problem(file, mark.line + 1, mark.column + 1, f"{err.instance!r} is not {what}"))
            continue
        if err.validator in ("oneOf", "dependentRequired") and len(path) == 2 and path[0] == "tasks":
            continue      # "exactly one of run/python", "with only for python": _build says it in words
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            if isinstance(err.instance, dict) and aliased(err.instance, missing):
                continue         # `steps:` for `tasks:`: its "unknown field" says what to write
            message = f"{_where(path)} is missing the required field {missing!r}"
        elif err.validator == "type":
            expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            words = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
                     "array": "a list", "object": "a mapping", "null": "nothing"}
            message = (f"{dotted(path)}: expected {' or '.join(words.get(t, t) for t in expected)}, "
                       f"got {json_type(err.instance)}")
        elif err.validator == "pattern" and path == ["schedule"] and err.instance.startswith("@"):
            from ..schedule import cron_problem

            alias = {"@midnight": "@daily", "@annually": "@yearly"}.get(err.instance)     # cron's other names
            message = (f"schedule {err.instance!r} is not a named schedule; did you mean {alias!r}?" if alias
                       else cron_problem(err.instance))      # "schedule '@dayly' ...; did you mean '@daily'?"
        elif err.validator == "pattern":
            hint = _FIELD_HINTS.get(field) or _FIELD_HINTS.get(str(path[-2]) if len(path) > 1 else "", "")
            message = f"{dotted(path)}: {err.instance!r} is not {hint or 'valid: it must match ' + err.validator_value}"
        elif err.validator == "enum":
            message = f"{dotted(path)}: {err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}"
        elif err.validator in ("minimum", "exclusiveMinimum"):
            message = f"{dotted(path)}: must be at least {err.validator_value}, got {err.instance!r}"
        elif err.validator in ("maximum", "exclusiveMaximum"):
            most = err.validator_value
            days = " (365 days)" if most == MAX_DURATION else ""
            message = f"{dotted(path)}: must be at most {most}{days}, got {err.instance!r}"
        elif err.validator == "minItems":
            message = f"{dotted(path)}: must not be empty"
        elif err.validator == "minProperties":
            message = f"{dotted(path)}: must have at least {err.validator_value} entry"
        elif err.validator == "uniqueItems":
            message = f"{dotted(path)}: lists the same item twice"
        elif err.validator == "minLength":
            message = f"{dotted(path)}: must not be empty"
        else:
            message = f"{dotted(path)}: {err.message}"
        mark = node.start_mark
        problems.append(Problem(file, mark.line + 1, mark.column + 1, message))
    return problems
