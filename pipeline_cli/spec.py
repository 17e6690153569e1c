"""Pipeline files: YAML (with positions) -> JSON Schema -> semantic checks -> model.

Every problem in a file is collected and raised at once as a SpecError, each located at
`file:line:column` of the value (or key) it is about. Positions are not stored per value:
the composed YAML node tree is kept and walked along a problem's path when one is found.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import hashlib
import json
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import Problem, SpecError, UsageError
from .model import DEFAULT_SHELL, Pipeline, Task
from . import templates

SCHEMA_FILE = Path(__file__).with_name("pipeline.schema.json")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}\Z")       # \Z: `$` would let a final newline in
TASK_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_DURATION = 365 * 86400.0   # the longest duration any field takes (the schema's `maximum`)
MAX_WAIT = 3600.0              # the longest single wait of the run loop (epoll refuses > 24.8 days)
MAX_NODES = 1_000_000      # YAML values after alias expansion ("billion laughs" stops here)
MAX_DEPTH = 100            # nesting of mappings and lists
PIPELINE_SUFFIXES = (".yaml", ".yml")

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                          "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                          "tag:yaml.org,2002:timestamp"})
TASK_FIELDS = ("description", "run", "python", "with", "deps", "retries", "retry_delay",
               "retry_backoff", "timeout", "env", "trigger", "sources", "generates", "shell",
               "workdir", "executor", "resources")


def parse_duration(value: Any) -> float:
    """`90s`, `5m`, `1h30m`, `500ms`, `7d` or a number of seconds -> seconds, at most
    MAX_DURATION (365d). Raises ValueError, whose text says why, for anything else
    (negative, NaN, infinite, too long, not a duration)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip()
        if not text or DURATION_RE.sub("", text):
            raise ValueError(f"{value!r} is not a duration")
        seconds = sum(float(n) * _UNITS[u] for n, u in DURATION_RE.findall(text))
    if not 0 <= seconds <= MAX_DURATION:     # also False for NaN
        if seconds > MAX_DURATION:
            raise ValueError(f"{value!r} is longer than the longest duration pipe takes (365d)")
        raise ValueError(f"{value!r} is not a duration of 0 or more")
    return seconds


def file_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# --- YAML with positions -------------------------------------------------------------

class _TooLarge(Exception):
    def __init__(self, node, why: str):
        self.node, self.why = node, why


class _Document:
    """Builds plain values from a composed YAML node tree, refusing what is unsafe."""

    def __init__(self, file: str, problems: list[Problem]):
        import yaml.constructor

        self.file = file
        self.problems = problems
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()
        self.refused: set[tuple[int, int]] = set()     # where a value was refused (no follow-on errors there)

    def problem(self, node, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, message))

    def refuse(self, node, why: str | None = None) -> None:
        """A value that cannot be read (a non-standard tag by default): reported once, and no
        follow-on errors (such as the schema's) at the same place."""
        self.problem(node, why or f"unsupported YAML tag {_short_tag(node.tag)!r}: pipe reads YAML safely "
                                  "and allows no Python or custom tags")
        self.refused.add((node.start_mark.line + 1, node.start_mark.column + 1))

    def build(self, node, depth: int = 0) -> Any:
        import yaml

        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(node, f"the document expands to more than {MAX_NODES:,} values "
                                  "(aliases nested too deep?); refusing to read it")
        if depth > MAX_DEPTH:
            raise _TooLarge(node, f"values are nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self.refuse(node)
                return None
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.refuse(node)
                return None
            return [self.build(item, depth + 1) for item in node.value]
        plain = not node.style and node.value[:1] in _AMBIGUOUS_START     # CSafeLoader: style ""
        if node.tag == _STR and not plain:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            self.refuse(node)
            return None
        if node.tag == _STR:
            value = node.value
        else:
            try:
                value = self.constructor.yaml_constructors[node.tag](self.constructor, node)
            except (ValueError, OverflowError, yaml.YAMLError) as e:
                # e.g. 2026-02-30: YAML resolves it as a date, which then does not exist
                if node.tag == "tag:yaml.org,2002:timestamp":
                    self.refuse(node, f"{node.value!r} is not a date that exists ({e})")
                else:
                    self.refuse(node, f"{node.value!r} is not a valid {_short_tag(node.tag)[2:]}; "
                                      "quote it to keep it as text")
                return None
        if plain:
            why = _yaml_versions_differ(node.value, node.tag, value)
            if why:
                self.refuse(node, why)
                return None
        if isinstance(value, float) and not math.isfinite(value):
            self.refuse(node, f"{node.value!r}: pipe takes no infinite or NaN numbers (JSON, in which it stores "
                              "and prints values, has none); write a number, or quote it to keep it as text")
            return None
        if hasattr(value, "isoformat"):
            # A date or date-time (YAML 1.1) that exists: kept as its text, which is what a YAML
            # 1.2 tool reads (2026-11-01 06:00:00 stays so, not 2026-11-01T06:00:00).
            value = node.value
        return value

    def _mapping(self, node, depth: int) -> dict:
        import yaml

        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        first_seen: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    value = self.build(source, depth + 1)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                    else:
                        self.problem(source, "a merge key '<<' takes a mapping or a list of mappings")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, "a mapping key must be a plain value, not a list or mapping")
                continue
            key = key_node.value
            if key in first_seen:
                line = first_seen[key].start_mark.line + 1
                self.problem(key_node, f"duplicate key {key!r} (first defined at line {line})")
                continue
            first_seen[key] = key_node
            result[key] = self.build(value_node, depth + 1)
        if merged:
            merged.update(result)
            return merged
        return result


# YAML 1.1 (PyYAML) and YAML 1.2 (editors, check-jsonschema) read some plain scalars
# differently: yes/no/on/off, 010, 0b1, 1_000, 1:30, 0o17, 1e3. Only plain scalars that
# start with one of these characters can be read differently.
_AMBIGUOUS_START = frozenset("0123456789+-.yYnNoO")
_YAML12_INT = re.compile(r"[-+]?[0-9]+\Z")
_YAML12_OCT = re.compile(r"0o[0-7]+\Z")
_YAML12_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_YAML12_SPECIAL = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, ".nan": math.nan, ".NaN": math.nan,
                   ".NAN": math.nan}
_YAML11_BOOL = {"yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"}


def _yaml12(text: str) -> Any:
    """What YAML 1.2's core schema makes of a plain scalar (only the cases that matter here)."""
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _YAML12_INT.match(text):
        return int(text)
    if _YAML12_OCT.match(text):
        return int(text[2:], 8)
    if _YAML12_HEX.match(text):
        return int(text[2:], 16)
    if _YAML12_FLOAT.match(text):
        return float(text)
    sign, rest = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
    if rest in _YAML12_SPECIAL and not (sign and "nan" in rest.lower()):
        return -_YAML12_SPECIAL[rest] if sign == "-" else _YAML12_SPECIAL[rest]
    return text


def _yaml_versions_differ(text: str, tag: str, value: Any) -> str | None:
    """Why a plain scalar must be quoted or rewritten: YAML 1.1 (pipe's reader) and YAML 1.2
    (editors, check-jsonschema) read it as different values. None when they agree."""
    if tag == "tag:yaml.org,2002:timestamp" or tag == "tag:yaml.org,2002:null":
        return None            # dates are kept as their ISO text; null is the same in both
    other = _yaml12(text)
    same = type(other) is type(value) and (other == value or (isinstance(value, float) and value != value
                                                                and other != other))
    if same:
        return None
    if text in _YAML11_BOOL:
        plainly = "true or false"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        plainly = repr(value)
    elif isinstance(other, (int, float)) and not isinstance(other, bool):
        plainly = repr(other)
    else:
        plainly = "the value"
    def reading(v: Any) -> str:
        return f"the text {v!r}" if isinstance(v, str) else json.dumps(v)
    return (f"{text!r} is {reading(value)} to YAML 1.1 but {reading(other)} to YAML 1.2 (editors, "
            f"check-jsonschema); quote it to keep it as text, or write {plainly} plainly")


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


def _check_depth(text: str, file: str, loader_class) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing: libyaml's composer recurses
    in C, and a few thousand levels of `[[[[...` overflow its stack (a crash, not an error).
    Nesting needs a `[` or `{` per level, or a deeper column per level: short lines of few
    brackets cannot be deep, so most files skip this scan of the event stream."""
    import yaml

    longest = max((len(line) for line in text.splitlines()), default=0)
    if text.count("[") + text.count("{") + longest <= MAX_DEPTH:
        return
    loader = loader_class(text)
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise SpecError([Problem(file, mark.line + 1, mark.column + 1,
                                             f"values are nested more than {MAX_DEPTH} levels deep")])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.StreamEndEvent):
                break
    finally:
        loader.dispose()


def _compose(text: str, file: str):
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_depth(text, file, loader_class)
        loader = loader_class(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or "invalid YAML"
        if e.context and e.problem:
            what = f"{e.context}, {e.problem}"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecError([Problem(file, line, col, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as e:
        raise SpecError([Problem(file, None, None, f"YAML error: {e}")]) from None
    except (RecursionError, MemoryError):
        raise SpecError([Problem(file, None, None, "the YAML is nested too deeply to read")]) from None


def _node_at(root, path, key: bool = False):
    """The node of the value at path (or of its key); the nearest existing parent if absent."""
    import yaml

    node = root
    parent_key = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    found = (k, v)     # the first one: a later duplicate is dropped
                    break
            if found is None:
                return node
            parent_key, node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            parent_key, node = None, node.value[part]
        else:
            return node
    return parent_key if key and parent_key is not None else node


# --- the schema ------------------------------------------------------------------------

def schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@functools.cache
def _python_schema() -> dict:
    return _python_patterns(schema())


@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_python_schema())


@functools.cache
def _quick_check():
    from .schemacheck import compile_schema

    return compile_schema(_python_schema())


def _certainly_valid(doc: dict) -> bool:
    """The quick check (schemacheck.py): True means jsonschema has nothing to say."""
    return _quick_check()(doc)


def _python_patterns(node: Any) -> Any:
    """The schema's ECMA patterns for Python's re: there `$` also matches before a final
    newline, so "evil<newline>" would pass `^[a-z]+$`; `\\Z` is the end of the text only."""
    if isinstance(node, dict):
        return {k: (v[:-1] + r"\Z" if k == "pattern" and isinstance(v, str) and v.endswith("$")
                    and not v.endswith("\\$") else _python_patterns(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


def _json_type(value: Any) -> str:
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


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "the file"


def _where(path) -> str:
    path = list(path)
    if len(path) == 2 and path[0] == "tasks":
        return f"task {path[1]!r}"
    if path == ["defaults"]:
        return "defaults"
    if not path:
        return "the pipeline"
    return _dotted(path)


_FIELD_HINTS = {
    "name": "a pipeline name: lower-case letters, digits, '_' and '-', starting with a letter (at most 64)",
    "schedule": "a 5-field cron expression or @hourly/@daily/@weekly/@monthly/@yearly",
    "python": "a Python entrypoint 'module:function', e.g. weather.fetch:main",
    "start_date": "a date such as 2026-11-01 (or an ISO date-time)",
    "catchup": "true, false, or a window such as 7d",
    "timeout": "a duration such as 90s, 5m, 1h30m or a number of seconds",
    "retry_delay": "a duration such as 90s, 5m, 1h30m or a number of seconds",
    "deps": "a task id: letters, digits, '_' and '-', starting with a letter or '_' (at most 64 characters)",
    "secrets": "an environment variable name: letters, digits and '_', not starting with a digit",
}


def _schema_problems(doc: dict, root, file: str) -> list[Problem]:
    if _certainly_valid(doc):
        return []
    problems = []
    for err in _validator().iter_errors(doc):
        path = list(err.absolute_path)
        node = _node_at(root, path)
        message = None
        if err.validator == "additionalProperties":
            allowed = sorted(err.schema.get("properties", {}))
            extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
            for k in extra:
                close = difflib.get_close_matches(k, allowed, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                key_node = _node_at(root, path + [k], key=True)
                mark = key_node.start_mark
                problems.append(Problem(file, mark.line + 1, mark.column + 1,
                                        f"unknown field {k!r} in {_where(path)}; {hint}allowed: {', '.join(allowed)}"))
            continue
        if "propertyNames" in err.schema_path:
            key_node = _node_at(root, path + [err.instance], key=True)
            mark = key_node.start_mark
            if path and path[-1] == "env":
                what = "an environment variable name: a name without '=' (e.g. DATA_DIR)"
            elif path and path[-1] == "params":
                what = "a parameter name: letters, digits and '_', starting with a letter or '_'"
            else:
                what = "a valid task id: letters, digits, '_' and '-', starting with a letter or '_' (at most 64 characters)"
            problems.append(Problem(file, mark.line + 1, mark.column + 1, f"{err.instance!r} is not {what}"))
            continue
        if err.validator in ("oneOf", "dependentRequired") and len(path) == 2 and path[0] == "tasks":
            continue      # "exactly one of run/python", "with only for python": _build says it in words
        field = next((p for p in reversed(path) if isinstance(p, str)), "")
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            message = f"{_where(path)} is missing the required field {missing!r}"
        elif err.validator == "type":
            expected = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            words = {"string": "a string", "integer": "a whole number", "number": "a number", "boolean": "true or false",
                     "array": "a list", "object": "a mapping", "null": "nothing"}
            message = (f"{_dotted(path)}: expected {' or '.join(words.get(t, t) for t in expected)}, "
                       f"got {_json_type(err.instance)}")
        elif err.validator == "pattern":
            hint = _FIELD_HINTS.get(field) or _FIELD_HINTS.get(str(path[-2]) if len(path) > 1 else "", "")
            message = f"{_dotted(path)}: {err.instance!r} is not {hint or 'valid: it must match ' + err.validator_value}"
        elif err.validator == "enum":
            message = f"{_dotted(path)}: {err.instance!r} is not one of: {', '.join(map(str, err.validator_value))}"
        elif err.validator in ("minimum", "exclusiveMinimum"):
            message = f"{_dotted(path)}: must be at least {err.validator_value}, got {err.instance!r}"
        elif err.validator in ("maximum", "exclusiveMaximum"):
            most = err.validator_value
            days = " (365 days)" if most == MAX_DURATION else ""
            message = f"{_dotted(path)}: must be at most {most}{days}, got {err.instance!r}"
        elif err.validator == "minItems":
            message = f"{_dotted(path)}: must not be empty"
        elif err.validator == "minProperties":
            message = f"{_dotted(path)}: must have at least {err.validator_value} entry"
        elif err.validator == "uniqueItems":
            message = f"{_dotted(path)}: lists the same item twice"
        elif err.validator == "minLength":
            message = f"{_dotted(path)}: must not be empty"
        else:
            message = f"{_dotted(path)}: {err.message}"
        mark = node.start_mark
        problems.append(Problem(file, mark.line + 1, mark.column + 1, message))
    return problems


# --- semantic checks and the model -----------------------------------------------------

class _Checker:
    def __init__(self, file: str, root, doc: dict, problems: list[Problem]):
        self.file, self.root, self.doc, self.problems = file, root, doc, problems

    def at(self, path, message: str, key: bool = False) -> None:
        if self.root is None:      # a build from the cache: the caller validates in full instead
            self.problems.append(Problem(self.file, None, None, message))
            return
        mark = _node_at(self.root, path, key=key).start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, message))

    def problem_at(self, path, message: str) -> Problem:
        """A Problem located at the value of path, not recorded (a warning)."""
        if self.root is None:
            return Problem(self.file, None, None, message)
        mark = _node_at(self.root, path).start_mark
        return Problem(self.file, mark.line + 1, mark.column + 1, message)

    def reported(self, path) -> bool:
        """Whether a problem (e.g. from the schema) is already located at this value."""
        if self.root is None:
            return False
        mark = _node_at(self.root, path).start_mark
        return any((p.line, p.column) == (mark.line + 1, mark.column + 1) for p in self.problems)


def _quoted_warning(path, expr: str, quote: str) -> str:
    """Issue 15 item 21: a template inside the user's own quotes in a shell string."""
    inner = expr.strip()
    if quote == '"':
        where, why = "double quotes", "where the shell still expands $, ` and \\ in the value pipe quoted"
    else:
        where, why = "single quotes", "where the quotes pipe puts around the value end yours instead"
    return (f"warning: {_dotted(path)}: {quote}{inner}{quote} is inside {where} of your own, {why}; pipe quotes "
            f"every value it substitutes, so write {inner} without the quotes "
            f"(or {inner[:-2].rstrip()} | raw }}}} to pass it as shell code)")


def _cycle(tasks: dict[str, list[str]]) -> list[str] | None:
    """One cycle in dependency order (a -> b means b depends on a), or None."""
    import graphlib

    sorter = graphlib.TopologicalSorter({t: [d for d in deps if d in tasks] for t, deps in tasks.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])    # graphlib lists it so that each node is a dependency of the next
    return None


def load(path: str | os.PathLike, data: bytes | None = None, cache: Path | None = None,
         write_cache: bool = True) -> Pipeline:
    """Read, validate and build one pipeline file; raises SpecError with every problem.

    With a cache folder, a file whose exact bytes were validated before is built from the
    cached document, skipping YAML parsing, the schema and the checks (`pipe run` and
    `pipe tick` pass the state folder's cache; `pipe validate` always checks in full).
    `write_cache=False` (dry runs) reads the cache but never writes it.
    """
    with _collector_paused():
        return _load(str(path), data, cache, write_cache)


@contextlib.contextmanager
def _collector_paused():
    """Loading creates a node per YAML value and keeps them all alive: the cyclic garbage
    collector would walk that growing heap again and again for nothing to free (it took
    half the time of loading a 10,000-task file). A cycle left behind is collected later."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(file: str, data: bytes | None, cache: Path | None, write_cache: bool = True) -> Pipeline:
    if data is None:
        try:
            data = Path(file).read_bytes()
        except OSError as e:
            raise SpecError([Problem(file, None, None, f"cannot read the file: {e.strerror}")]) from None
    if cache is not None:
        from . import __version__

        # The key holds everything validity depends on: the bytes, pipe's version, and the
        # file's name (a pipeline without `name:` is named after it, and that name is checked).
        key = file_digest(data + b"\0" + Path(file).stem.encode("utf-8", "surrogateescape"))
        cached = cache / f"{__version__}-{key}.json"
        try:
            doc = json.loads(cached.read_bytes())
        except (OSError, ValueError):
            doc = None
        if isinstance(doc, dict):
            check = _Checker(file, None, doc, [])
            pipeline = _build(file, data, doc, check, trusted=True)
            if not check.problems:
                return pipeline
            # A cached document that no longer passes (it cannot happen by the key above):
            # validate in full, so the user sees located messages, never a stale verdict.
        pipeline, doc = _validate(file, data)
        if not write_cache:
            return pipeline
        try:
            from .state import makedirs, write_atomic

            makedirs(cache)
            write_atomic(cached, json.dumps(doc).encode())
        except (OSError, UsageError):
            pass      # a cache that cannot be written is only slower (makedirs says UsageError)
        return pipeline
    return _validate(file, data)[0]


def _validate(file: str, data: bytes) -> tuple[Pipeline, dict]:
    """The full check of a file's bytes: the model, and the document it was built from."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError([Problem(file, None, None, f"the file is not UTF-8 text (byte {e.start})")]) from None
    root = _compose(text, file)
    if root is None:
        raise SpecError([Problem(file, 1, 1, "the file is empty; expected a mapping with at least `tasks:`")])
    problems: list[Problem] = []
    builder = _Document(file, problems)
    try:
        doc = builder.build(root)
    except _TooLarge as e:
        mark = e.node.start_mark
        raise SpecError([Problem(file, mark.line + 1, mark.column + 1, e.why)]) from None
    except RecursionError:
        raise SpecError([Problem(file, None, None, "the YAML is nested too deeply to read")]) from None
    if not isinstance(doc, dict):
        problems.append(Problem(file, root.start_mark.line + 1, root.start_mark.column + 1,
                                f"expected a mapping with at least `tasks:` at the top of the file, got {_json_type(doc)}"))
        raise SpecError(problems)
    problems.extend(p for p in _schema_problems(doc, root, file) if (p.line, p.column) not in builder.refused)
    pipeline = _build(file, data, doc, _Checker(file, root, doc, problems))
    if problems:
        raise SpecError(problems)
    return pipeline, doc


def _whole(value: Any, least: int) -> int | None:
    """A whole number as JSON Schema's "integer" takes it (2 or 2.0), at least `least`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= least:
        return value
    return None


def _as_str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): ("true" if v is True else "false" if v is False else str(v)) for k, v in value.items()
            if v is not None}


def _build(file: str, data: bytes, doc: dict, check: _Checker, trusted: bool = False) -> Pipeline:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from .schedule import cron_problem, parse_instant

    stem = Path(file).stem
    name = doc.get("name") if isinstance(doc.get("name"), str) else stem
    if "name" not in doc and not NAME_RE.match(stem):
        check.at([], f"the file name {stem!r} is not a valid pipeline name (lower-case letters, digits, '_' "
                     "and '-', starting with a letter); add a `name:`")
    tz = doc.get("timezone", "UTC")
    if isinstance(tz, str) and not trusted:
        try:
            if not tz or tz.startswith(("/", ".")) or ".." in tz:
                raise ValueError(tz)
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            from zoneinfo import available_timezones

            close = difflib.get_close_matches(tz, sorted(available_timezones()), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (expected an IANA name such as Europe/Amsterdam)"
            check.at(["timezone"], f"unknown timezone {tz!r}{hint}")
            tz = "UTC"
    elif not isinstance(tz, str):     # a trusted (cached, already validated) zone is kept as is
        tz = "UTC"
    schedule = doc.get("schedule")
    if isinstance(schedule, str) and not trusted:
        why = cron_problem(schedule)
        if why and not check.reported(["schedule"]):
            check.at(["schedule"], why)
    start_date = None
    if isinstance(doc.get("start_date"), str):
        try:
            start_date = parse_instant(doc["start_date"], tz)
        except ValueError as e:
            if not check.reported(["start_date"]):
                check.at(["start_date"], f"start_date: {e}")
    catchup: bool | float = False
    raw_catchup = doc.get("catchup", False)
    if isinstance(raw_catchup, bool):
        catchup = raw_catchup
    elif isinstance(raw_catchup, str):
        try:
            catchup = parse_duration(raw_catchup)
        except ValueError as e:
            if not trusted and not check.reported(["catchup"]):
                check.at(["catchup"], f"catchup: {e}")
    params = doc.get("params") if isinstance(doc.get("params"), dict) else {}
    seen_env: dict[str, str] = {}
    for p in params:
        other = seen_env.setdefault(p.upper(), p)
        if other != p and not trusted:
            check.at(["params", p], f"params {other!r} and {p!r} would both be passed as PIPE_PARAM_{p.upper()}; "
                                    "rename one", key=True)
    defaults = doc.get("defaults") if isinstance(doc.get("defaults"), dict) else {}
    raw_tasks = doc.get("tasks") if isinstance(doc.get("tasks"), dict) else {}
    raw_tasks = {tid: t for tid, t in raw_tasks.items() if isinstance(t, dict)}   # others: schema errors

    # Dependencies: unknown ids, self-dependencies, cycles.
    deps_of: dict[str, list[str]] = {}
    for tid, t in raw_tasks.items():
        deps = t.get("deps") if isinstance(t.get("deps"), list) else []
        deps_of[tid] = [d for d in deps if isinstance(d, str)]
        for i, dep in enumerate(deps_of[tid]):
            if dep == tid:
                check.at(["tasks", tid, "deps", i], f"task {tid!r} depends on itself")
            elif dep not in raw_tasks:
                close = difflib.get_close_matches(dep, list(raw_tasks), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                check.at(["tasks", tid, "deps", i], f"task {tid!r} depends on unknown task {dep!r}{hint}")
    cycle = None if trusted else _cycle({t: [d for d in ds if d != t] for t, ds in deps_of.items()})
    if cycle:
        # graphlib reports [x, y, ..., x] where each is a dependency of the next: the flow of data.
        flow = cycle
        check.at(["tasks", flow[0]], "dependency cycle: " + " -> ".join(flow), key=True)

    # Templates: syntax, names, params, upstream outputs.
    ancestors_cache: dict[str, set[str]] = {}

    def ancestors(tid: str) -> set[str]:
        if tid in ancestors_cache:
            return ancestors_cache[tid]
        seen: set[str] = set()
        stack = list(deps_of.get(tid, ()))
        while stack:
            d = stack.pop()
            if d not in seen and d in deps_of:
                seen.add(d)
                stack.extend(deps_of[d])
        ancestors_cache[tid] = seen
        return seen

    def check_template(text: str, path: list, task_id: str | None) -> None:
        if trusted or not isinstance(text, str) or not templates.is_template(text):
            return
        try:
            use = templates.analyse(text)
        except templates.TemplateError as e:
            check.at(path, f"{_dotted(path)}: {e.message}" + (f" (template line {e.lineno})" if e.lineno and "\n" in text else ""))
            return
        for n in sorted(use.names - templates.CONTEXT_NAMES):
            close = difflib.get_close_matches(n, sorted(templates.CONTEXT_NAMES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            check.at(path, f"{_dotted(path)}: unknown template variable {n!r}{hint}")
        for p in sorted(use.params - set(params)):
            declared = ", ".join(sorted(params)) or "none"
            check.at(path, f"{_dotted(path)}: params.{p} is not declared in `params:` (declared: {declared})")
        for up in sorted(use.outputs):
            if task_id is None:
                check.at(path, f"{_dotted(path)}: tasks.{up}.outputs can only be used in a task's fields")
            elif up not in raw_tasks:
                check.at(path, f"{_dotted(path)}: tasks.{up}.outputs refers to unknown task {up!r}")
            elif up not in ancestors(task_id):
                check.at(path, f"{_dotted(path)}: tasks.{up}.outputs: {up!r} is not upstream of {task_id!r} "
                               f"(add it to deps, directly or through another task)")

    for key in ("env",):
        for k, v in (doc.get(key) or {}).items() if isinstance(doc.get(key), dict) else ():
            check_template(v, [key, k], None)
    check_template(doc.get("workdir"), ["workdir"], None)

    default_shell = tuple(doc["shell"]) if isinstance(doc.get("shell"), list) else None
    tasks: dict[str, Task] = {}
    warnings: list[Problem] = []
    for tid, t in raw_tasks.items():
        merged = dict(defaults)
        merged.update(t)
        if isinstance(defaults.get("env"), dict) and isinstance(t.get("env"), dict):
            merged["env"] = {**defaults["env"], **t["env"]}
        has_run, has_python = "run" in t, "python" in t
        if has_run and has_python:
            check.at(["tasks", tid], f"task {tid!r} has both `run` and `python`; a task takes exactly one", key=True)
        elif not has_run and not has_python:
            check.at(["tasks", tid], f"task {tid!r} has neither `run` (a command) nor `python` (module:function)",
                     key=True)
        if "with" in t and not has_python:
            check.at(["tasks", tid, "with"], f"task {tid!r}: `with:` passes arguments to a `python:` entrypoint; "
                                             "this task has none", key=True)

        def where(field: str) -> list:
            return ["tasks", tid, field] if field in t else ["defaults", field]

        run = merged.get("run")
        if isinstance(run, str):
            check_template(run, where("run"), tid)
            if not trusted and templates.is_template(run):
                for expr, quote in templates.quoted_in_shell(run):
                    warnings.append(check.problem_at(where("run"), _quoted_warning(where("run"), expr, quote)))
        elif isinstance(run, list):
            for i, arg in enumerate(run):
                check_template(arg, where("run") + [i], tid)
            run = tuple(str(a) for a in run)
        else:
            run = None
        with_ = merged.get("with") if isinstance(merged.get("with"), dict) else {}
        for k, v in with_.items():
            for s in templates.strings_in(v):
                check_template(s, ["tasks", tid, "with", k], tid)
        env = _as_str_map(merged.get("env"))
        for k, v in env.items():
            check_template(v, (["tasks", tid, "env", k] if k in (t.get("env") or {}) else ["defaults", "env", k]), tid)
        for field in ("sources", "generates"):
            for i, s in enumerate(merged.get(field) or () if isinstance(merged.get(field), list) else ()):
                check_template(s, where(field) + [i], tid)
        check_template(merged.get("workdir"), where("workdir"), tid)
        durations = {}
        for field in ("timeout", "retry_delay"):
            if field in merged:
                try:
                    durations[field] = parse_duration(merged[field])
                except ValueError as e:
                    if not trusted and not check.reported(where(field)):
                        check.at(where(field), f"{_dotted(where(field))}: {e}")
        python = merged.get("python") if isinstance(merged.get("python"), str) else None
        retries = _whole(merged.get("retries", 0), 0)
        backoff = merged.get("retry_backoff", 1)
        tasks[tid] = Task(
            id=tid, run=run, python=python, with_=with_, deps=tuple(deps_of.get(tid, ())),
            retries=retries if retries is not None else 0,
            retry_delay=durations.get("retry_delay", 0.0),
            retry_backoff=float(backoff) if isinstance(backoff, (int, float)) and not isinstance(backoff, bool) else 1.0,
            timeout=durations.get("timeout"),
            env=env,
            trigger=merged.get("trigger", "all_success") if isinstance(merged.get("trigger"), str) else "all_success",
            sources=tuple(str(s) for s in merged.get("sources") or () if isinstance(merged.get("sources"), list)),
            generates=tuple(str(s) for s in merged.get("generates") or () if isinstance(merged.get("generates"), list)),
            shell=tuple(merged["shell"]) if isinstance(merged.get("shell"), list) else default_shell,
            workdir=merged.get("workdir") if isinstance(merged.get("workdir"), str) else None,
            description=merged.get("description") if isinstance(merged.get("description"), str) else "",
            executor=merged.get("executor") if merged.get("executor") == "local" else None,
            resources={str(k): float(v) for k, v in merged["resources"].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}
            if isinstance(merged.get("resources"), dict) else {},
        )

    secrets = doc.get("secrets") if isinstance(doc.get("secrets"), list) else []
    concurrency = _whole(doc.get("concurrency"), 1)
    max_active = _whole(doc.get("max_active_runs", 1), 1)
    return Pipeline(
        name=name, path=str(Path(file).resolve()), folder=str(Path(file).resolve().parent), tasks=tasks,
        description=doc.get("description") if isinstance(doc.get("description"), str) else "",
        schedule=schedule if isinstance(schedule, str) else None, timezone=tz, start_date=start_date,
        catchup=catchup, max_active_runs=max_active if max_active is not None else 1,
        concurrency=concurrency,
        params=params, env=_as_str_map(doc.get("env")),
        dotenv=doc.get("dotenv") if isinstance(doc.get("dotenv"), str) else None,
        secrets=tuple(s for s in secrets if isinstance(s, str)),
        workdir=doc.get("workdir") if isinstance(doc.get("workdir"), str) else None,
        shell=default_shell, digest=file_digest(data), warnings=tuple(warnings),
        notify=_notify(doc, check, params, secrets, schedule, trusted) if "notify" in doc else None,
    )


NOTIFY_NAMES = frozenset({"env", "params", "secrets", "pipeline"})    # what a `notify.to` template may use
MAX_NOTIFY_TIMEOUT = 30.0


def _notify(doc: dict, check: _Checker, params: dict, secrets: list, schedule: Any, trusted: bool):
    """The `notify:` block (SPEC 9) -> model.Notify; its types were checked by the schema."""
    from .model import Notify

    raw = doc.get("notify")
    if not isinstance(raw, dict):
        return None
    to = raw.get("to", [])
    to = [to] if isinstance(to, str) else [u for u in to if isinstance(u, str)] if isinstance(to, list) else []
    if not trusted:
        if not to and raw.get("run") is None:
            check.at(["notify"], "notify: give `to` (Apprise URLs) or `run` (a command), or both", key=True)
        for i, url in enumerate(to):
            path = ["notify", "to"] + ([i] if isinstance(raw.get("to"), list) else [])
            if not templates.is_template(url):
                continue
            try:
                use = templates.analyse(url)
            except templates.TemplateError as e:
                check.at(path, f"{_dotted(path)}: {e.message}")
                continue
            for n in sorted(use.names - NOTIFY_NAMES):
                check.at(path, f"{_dotted(path)}: {n!r} cannot be used here; a notify target may use "
                               "env, params, secrets and pipeline")
            for name in sorted(use.params - set(params)):
                check.at(path, f"{_dotted(path)}: params.{name} is not declared in `params:`")
            for name in sorted(_secret_names(url) - set(secrets)):
                check.at(path, f"{_dotted(path)}: secrets.{name} is not listed in `secrets:`")
        when = raw.get("when") if isinstance(raw.get("when"), list) else []
        if "deadline" in when and "deadline" not in raw:
            check.at(["notify", "when", when.index("deadline")],
                     "notify.when: `deadline` needs `notify.deadline` (how long after an interval's end, e.g. 2h)")
        if "deadline" in raw and not schedule:
            check.at(["notify", "deadline"], "notify.deadline: the pipeline has no `schedule`, so no interval "
                                             "can be late; add a schedule or remove the deadline", key=True)
    durations = {}
    for field in ("deadline", "timeout"):
        try:
            durations[field] = parse_duration(raw[field]) if field in raw else None
        except ValueError:
            durations[field] = None      # reported by the schema
    timeout = durations["timeout"]
    if timeout is not None and timeout > MAX_NOTIFY_TIMEOUT and not trusted:
        check.at(["notify", "timeout"], f"notify.timeout: at most 30s (all deliveries of a run take at most "
                                        f"30 s), got {raw['timeout']!r}")
    run = raw.get("run")
    run = tuple(str(a) for a in run) if isinstance(run, list) else run if isinstance(run, str) else None
    when = raw.get("when")
    return Notify(
        to=tuple(to),
        when=tuple(w for w in when if isinstance(w, str)) if isinstance(when, list) else Notify.when,
        deadline=durations["deadline"], run=run,
        repeat=raw.get("repeat") is True, manual=raw.get("manual") is True,
        timeout=min(timeout, MAX_NOTIFY_TIMEOUT) if timeout is not None else Notify.timeout,
    )


_SECRET_REF = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def _secret_names(text: str) -> set[str]:
    """The X of every `secrets.X` (or secrets['X']) a template uses."""
    return {a or b for a, b in _SECRET_REF.findall(text)}


# --- finding pipeline files ------------------------------------------------------------

def discover(pipelines_dir: str | os.PathLike) -> list[Path]:
    """Every pipeline file in the folder (not its subfolders), sorted by name."""
    folder = Path(pipelines_dir)
    try:
        entries = sorted(p for p in folder.iterdir() if p.suffix in PIPELINE_SUFFIXES and p.is_file())
    except OSError:
        return []
    return entries


def resolve(arg: str, pipelines_dir: str | os.PathLike) -> Path:
    """PIPELINE as the SPEC says: a path, or a name or file name inside the pipelines folder."""
    candidates = [Path(arg)]
    folder = Path(pipelines_dir)
    if "/" not in arg and "\0" not in arg:
        candidates += [folder / arg] + [folder / (arg + s) for s in PIPELINE_SUFFIXES]
    for c in candidates:
        if c.is_file():
            return c
    if "/" not in arg:
        # A pipeline whose `name:` differs from its file name.
        pattern = re.compile(rb"^name:\s*['\"]?" + re.escape(arg.encode()) + rb"['\"]?\s*(#.*)?$", re.M)
        for p in discover(folder):
            try:
                if pattern.search(p.read_bytes()):
                    return p
            except OSError:
                continue
    known = [p.stem for p in discover(folder)]
    close = difflib.get_close_matches(arg, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(known)}" if known else "")
    raise UsageError(f"no pipeline {arg!r} (not a file, nor a pipeline in {folder}/){hint}")
