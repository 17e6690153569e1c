"""Pipeline files, in four steps, each in its own module:

    yamldoc.py  YAML -> plain values, positions kept (safe tags, duplicates, YAML 1.1/1.2)
    schema_check.py  the JSON Schema (a quick check first, jsonschema to locate what is wrong)
    checks.py   the rules the schema cannot express, each a function reporting located problems
                (entrypoints.py: Python tasks' modules, functions and `with:`, read from source)
    build.py    the model (model.Pipeline), pure: it cannot fail on a checked document
    load.py     load() runs them in order, with the validated-document cache; discover, resolve

Every problem in a file is raised at once as a SpecError, each at `file:line:column`.
"""
from __future__ import annotations

from .load import discover, load, resolve, validate
from .schema_check import SCHEMA_FILE, schema
from .values import (MAX_DURATION, MAX_WAIT, NAME_RE, PIPELINE_SUFFIXES, TASK_FIELDS, TASK_ID_RE,
                     file_digest, parse_duration)

__all__ = ["discover", "load", "resolve", "validate", "SCHEMA_FILE", "schema", "MAX_DURATION", "MAX_WAIT",
           "NAME_RE", "PIPELINE_SUFFIXES", "TASK_FIELDS", "TASK_ID_RE", "file_digest", "parse_duration"]
