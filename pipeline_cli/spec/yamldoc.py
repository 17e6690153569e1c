"""Step 1 of reading a pipeline file: YAML -> plain values, with positions.

The composed node tree is kept, so a problem found later is located by walking it along
the problem's path (`node_at`). Read safely: no Python or custom tags, duplicate keys
refused where they appear the second time, values that YAML 1.1 and 1.2 read differently
refused with both readings, alias bombs and deep nesting refused before they cost much.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import Problem, SpecError

MAX_NODES = 1_000_000      # YAML values after alias expansion ("billion laughs" stops here)
MAX_DEPTH = 100            # nesting of mappings and lists

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
                          "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null",
                          "tag:yaml.org,2002:timestamp"})


class TooLarge(Exception):
    def __init__(self, node, why: str):
        self.node, self.why = node, why


class Document:
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
            raise TooLarge(node, f"the document expands to more than {MAX_NODES:,} values "
                                  "(aliases nested too deep?); refusing to read it")
        if depth > MAX_DEPTH:
            raise TooLarge(node, f"values are nested more than {MAX_DEPTH} levels deep")
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


def compose(text: str, file: str):
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
        plainly = in_words(text, mark.line, mark.column, e.problem or "") if mark else None
        if plainly:
            line, col, what = plainly
            raise SpecError([Problem(file, line, col, what)]) from None
        raise SpecError([Problem(file, line, col, f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as e:
        raise SpecError([Problem(file, None, None, f"YAML error: {e}")]) from None
    except (RecursionError, MemoryError):
        raise SpecError([Problem(file, None, None, "the YAML is nested too deeply to read")]) from None


_INDENTATION_ERRORS = ("did not find expected key", "did not find expected '-' indicator", "expected <block end>",
                       "mapping values are not allowed")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*\s*(#.*)?$")


def in_words(text: str, line: int, column: int, problem: str) -> tuple[int, int, str] | None:
    """The syntax errors people make most, said in their words: (line, column, message)
    from 1, or None to keep the parser's own message. A tab in the indentation, a line
    indented differently from every line it could belong to, and ': ' in an unquoted value."""
    lines = _LINE_BREAK.split(text)         # the parser's line breaks, not all of str.splitlines()
    if line >= len(lines):
        return None
    here = lines[line]
    if column < len(here) and here[column] == "\t" and not here[:column].strip():
        return line + 1, column + 1, ("a tab in indentation: YAML indents with spaces only "
                                      "(replace the tab with spaces)")
    indent = len(here) - len(here.lstrip(" "))
    if not here.strip() or not problem.startswith(_INDENTATION_ERRORS):
        return None
    levels = _levels(lines, line)
    last = lines[levels[0][1]].split(" #")[0].rstrip() if levels else ""
    opens = last.endswith(":") or last.lstrip() == "-"        # then a deeper line starts its value
    if not levels or indent in {n for n, _ in levels} or (opens and indent > levels[0][0]):
        if problem.startswith("mapping values are not allowed") and here[column:column + 1] == ":":
            return line + 1, column + 1, ("': ' inside a value that is not quoted: YAML reads it as the start "
                                          "of a mapping; put the value in quotes")
        return None
    fits = [f"{n} (like `{_start(lines[i][n:])}` on line {i + 1})" for n, i in levels]
    fits = ", ".join(fits[:-1]) + " or " + fits[-1] if len(fits) > 1 else fits[0]
    return line + 1, indent + 1, (f"this line's indentation does not fit the lines before it: it has {indent} "
                                  f"space{'s' * (indent != 1)}, where YAML, which nests by indentation, "
                                  f"expects {fits}")


def _levels(lines: list[str], line: int) -> list[tuple[int, int]]:
    """The indentations a line could have after the lines before it: (spaces, line index) of
    the line just before and of each less indented line it is nested in, nearest first."""
    scalar_at = None          # the indentation of a `key: |` whose text lines are skipped
    content: list[tuple[int, int]] = []
    for i in range(line):
        stripped = lines[i].strip()
        indent = len(lines[i]) - len(lines[i].lstrip(" "))
        if not stripped or stripped.startswith("#") or (scalar_at is not None and indent > scalar_at):
            continue
        scalar_at = indent if _BLOCK_SCALAR.search(stripped) else None
        content.append((indent, i))
    levels: list[tuple[int, int]] = []
    for indent, i in reversed(content):
        if not levels or indent < min(n for n, _ in levels):
            item = lines[i][indent:]
            if item.startswith("- ") and not levels:    # `- key: value`: more keys of the item align with key
                inner = indent + 1 + len(item[1:]) - len(item[1:].lstrip(" "))
                if re.match(r"[^#'\"{\[][^:]*:( |$)", lines[i][inner:]):
                    levels.append((inner, i))
            levels.append((indent, i))
    return levels


def _start(text: str) -> str:
    """How a line starts, to name it: its key, or its first 30 characters."""
    text = text.strip()
    key = text.split(": ", 1)[0] + ":" if ": " in text else text
    return key if len(key) <= 30 else key[:27] + "..."


def node_at(root, path, key: bool = False):
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


def located(path: str, found: list[tuple[list, str]], shown: str | None = None) -> list[Problem]:
    """Problems found on a loaded pipeline (its model has no positions), each placed at the
    value of its document path (a list of keys) in the file, read again. A file that changed
    or no longer parses meanwhile: the problems without a place. `shown`: the file as named."""
    from pathlib import Path

    try:
        root = compose(Path(path).read_text(encoding="utf-8"), str(path))
    except Exception:
        root = None
    problems = []
    for where, message in found:
        node = node_at(root, where) if root is not None else None
        mark = node.start_mark if node is not None else None
        problems.append(Problem(shown or str(path), mark.line + 1 if mark else None,
                                mark.column + 1 if mark else None, message))
    return problems
