"""A quick yes-or-unsure check of a document against pipe's JSON Schema.

jsonschema is the authority: it reports every violation with its path, and pipe turns
those into located messages. It is also slow to import (~70 ms, paid on every `pipe run`)
and slow to walk (~0.15 ms a task: a 10,000-task file took 1.6 s). Almost every file a
user runs is valid, so `compile_schema` turns the schema into nested closures that only
answer "certainly valid" (True) or "not sure" (False); on False the caller asks
jsonschema for the real verdict and its messages.

The check is one-sided by construction: each keyword is implemented as strictly as or
more strictly than the 2020-12 specification, and a keyword it does not know makes the
whole schema unsure. tests/test_schemacheck.py holds it to that against jsonschema.
"""
from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that only annotate: they never make an instance invalid.
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description",
                          "default", "examples", "deprecated", "readOnly", "writeOnly"})

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,           # 1.0 is an integer to JSON Schema: unsure
    "number": lambda v: type(v) is int or type(v) is float,
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


_NUMERIC = frozenset({"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
                      "minProperties"})


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


class _Unsupported(Exception):
    pass


def compile_schema(schema: dict) -> Check:
    """A function that returns True only for instances the schema certainly accepts."""
    try:
        return _Compiler(schema).build(schema)
    except (_Unsupported, KeyError, TypeError, ValueError, IndexError, AttributeError, re.error):
        return _never


class _Compiler:
    """Turns one schema document into nested checks; `$ref`s into it are compiled once."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.compiled: dict[str, Check] = {}

    def resolve(self, ref: str) -> Check:
        # Only JSON pointers into this document: "#foo" names an $anchor, not the root, and
        # a %-escape would have to be decoded as jsonschema does.
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")) or "%" in ref:
            raise _Unsupported(ref)
        if ref not in self.compiled:
            node: Any = self.schema
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, list) and part.isdigit():
                    node = node[int(part)]
                elif isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    raise _Unsupported(ref)
            self.compiled[ref] = _always          # a placeholder while it compiles (recursion)
            self.compiled[ref] = self.build(node)
        compiled = self.compiled
        return lambda v: compiled[ref](v)

    def build(self, node: Any) -> Check:
        if node is True:
            return _always
        if node is False:
            return _never
        if not isinstance(node, dict):
            raise _Unsupported(node)
        if "$id" in node and node is not self.schema:
            raise _Unsupported("$id")        # a nested $id changes what its "#/..." refs mean
        checks: list[Check] = []
        object_checks: list[Check] = []
        for key, value in node.items():
            if key in _ANNOTATIONS or key in _STRUCTURE:
                continue
            keyword = _KEYWORDS.get(key)
            if keyword is None or (key in _NUMERIC and (type(value) not in (int, float) or value != value)):
                raise _Unsupported(key)
            on_objects, check = keyword(self, value)
            if check is not None:
                (object_checks if on_objects else checks).append(check)
        checks.extend(self._structure(node, object_checks))
        return _all_of(checks)

    def _structure(self, node: dict, object_checks: list[Check]) -> list[Check]:
        """properties / additionalProperties / prefixItems / items, and the object checks
        (which pass anything that is not an object)."""
        checks = []
        if "properties" in node or "additionalProperties" in node:
            object_checks.append(_members({k: self.build(s) for k, s in node.get("properties", {}).items()},
                                          self.build(node.get("additionalProperties", True))))
        if "prefixItems" in node or "items" in node:
            checks.append(_elements(tuple(self.build(s) for s in node.get("prefixItems", ())),
                                    self.build(node.get("items", True))))
        if object_checks:
            def objects(v: Any, tests=tuple(object_checks)) -> bool:
                return type(v) is not dict or all(t(v) for t in tests)
            checks.append(objects)
        return checks


_STRUCTURE = frozenset({"properties", "additionalProperties", "items", "prefixItems"})


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    tests = tuple(checks)
    return lambda v: all(t(v) for t in tests)


# Each keyword: (compiler, its value) -> (applies to objects only, check or None).

def _kw_ref(c: _Compiler, value: Any):
    return False, c.resolve(value)


def _kw_type(c: _Compiler, value: Any):
    tests = tuple(_TYPES[n] for n in (value if isinstance(value, list) else [value]))
    return False, lambda v: any(t(v) for t in tests)


def _kw_enum(c: _Compiler, value: Any):
    if not isinstance(value, list):
        raise _Unsupported("enum")
    options = tuple(value)
    return False, lambda v: any(_same(v, o) for o in options)


def _kw_const(c: _Compiler, value: Any):
    return False, lambda v: _same(v, value)


def _kw_pattern(c: _Compiler, value: Any):
    return False, _pattern(value)


def _bound(of: Callable[[Any], bool], measure: Callable[[Any], Any], at_least: bool):
    """minLength, maxItems, minimum ...: a bound on what `measure` gives, for values `of` a type."""
    def keyword(c: _Compiler, n: Any):
        if at_least:
            return False, lambda v: not of(v) or measure(v) >= n
        return False, lambda v: not of(v) or measure(v) <= n
    return keyword


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_list(v: Any) -> bool:
    return type(v) is list


def _is_dict(v: Any) -> bool:
    return type(v) is dict


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float


def _itself(v: Any) -> Any:
    return v


def _kw_unique(c: _Compiler, value: Any):
    return False, (_unique if value else None)


def _kw_required(c: _Compiler, value: Any):
    if not isinstance(value, list):
        raise _Unsupported("required")
    names = tuple(value)
    return True, lambda v: all(n in v for n in names)


def _kw_property_names(c: _Compiler, value: Any):
    name_check = c.build(value)
    return True, lambda v: all(name_check(k) for k in v)


def _kw_dependent_required(c: _Compiler, value: Any):
    if not isinstance(value, dict) or not all(isinstance(r, list) for r in value.values()):
        raise _Unsupported("dependentRequired")
    pairs = tuple((k, tuple(r)) for k, r in value.items())
    return True, lambda v: all(all(r in v for r in rs) for k, rs in pairs if k in v)


def _kw_one_of(c: _Compiler, value: Any):
    # "Exactly one" needs the others proven invalid, which a yes-or-unsure check cannot do:
    # only subschemas that are exact both ways (`required` alone) are taken.
    if not isinstance(value, list) or not value or not all(_exact_required(s) for s in value):
        raise _Unsupported("oneOf")
    options = tuple(tuple(s.get("required", ())) for s in value)
    return False, lambda v: (type(v) is dict       # else unsure
                             and sum(all(n in v for n in names) for names in options) == 1)


_KEYWORDS: dict[str, Callable[[_Compiler, Any], tuple[bool, Check | None]]] = {
    "$ref": _kw_ref, "type": _kw_type, "enum": _kw_enum, "const": _kw_const, "pattern": _kw_pattern,
    "minLength": _bound(_is_str, len, True), "maxLength": _bound(_is_str, len, False),
    "minimum": _bound(_is_number, _itself, True), "maximum": _bound(_is_number, _itself, False),
    "minItems": _bound(_is_list, len, True), "maxItems": _bound(_is_list, len, False),
    "minProperties": _bound(_is_dict, len, True), "maxProperties": _bound(_is_dict, len, False),
    "uniqueItems": _kw_unique, "required": _kw_required, "propertyNames": _kw_property_names,
    "dependentRequired": _kw_dependent_required, "oneOf": _kw_one_of,
}


def _exact_required(node: Any) -> bool:
    """A schema of only `required` (and annotations): its verdict is exact both ways."""
    return (isinstance(node, dict) and set(node) - _ANNOTATIONS <= {"required"}
            and all(isinstance(n, str) for n in node.get("required", ())))


def _members(properties: dict[str, Check], additional: Check) -> Check:
    def check(v: dict) -> bool:
        for key, value in v.items():
            sub = properties.get(key, additional)
            if not sub(value):
                return False
        return True
    return check


def _elements(prefix: tuple[Check, ...], rest: Check) -> Check:
    n = len(prefix)

    def check(v: Any) -> bool:
        if type(v) is not list:
            return True
        for i, item in enumerate(v):
            if not (prefix[i] if i < n else rest)(item):
                return False
        return True
    return check


def _pattern(text: str) -> Check:
    """Compiled when first needed: a pipeline uses few of the schema's patterns, and
    compiling them all cost a few milliseconds of every `pipe run`."""
    compiled: list = []

    def check(v: Any) -> bool:
        if type(v) is not str:
            return True
        if not compiled:
            try:
                compiled.append(re.compile(text).search)
            except re.error:
                compiled.append(lambda _: None)      # unsure: jsonschema will say what is wrong
        return compiled[0](v) is not None
    return check


def _unique(v: Any) -> bool:
    if type(v) is not list:
        return True
    if not all(type(x) is str for x in v):
        return False                      # 1 and true, [1] and [1.0]: leave them to jsonschema
    return len(set(v)) == len(v)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values, and of the same Python types all the way down: stricter than
    jsonschema's equality, for which 1 == 1.0 but True != 1, also inside lists and objects
    (where Python's own == says [True] == [1])."""
    if type(a) is not type(b):
        return False
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b
