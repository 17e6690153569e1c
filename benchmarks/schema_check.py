#!/usr/bin/env python3
"""The quick "certainly valid" check in front of jsonschema: pipe's own (schemacheck.py)
against jsonschema-rs, on the big-10k file, and the cold start a `pipe run` pays for each.

    pip install jsonschema-rs          # only to measure: pipe does not depend on it
    python benchmarks/schema_check.py [--rounds N]

For each: the time to build the check from the schema (once per process: a cold `pipe run`
pays it), the time to check the 10,000-task document, and the import. Medians of N rounds.
jsonschema stays the authority either way: it runs only when the quick check is unsure, for
the located messages.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from generate import render_pipe  # noqa: E402
from workloads import WORKLOADS  # noqa: E402


def median_ms(f, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def import_ms(module: str, rounds: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                  check=True).stdout) for _ in range(rounds))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    rounds = ap.parse_args().rounds
    import jsonschema_rs

    from pipeline_cli.schemacheck import compile_schema
    import yaml

    from pipeline_cli.spec.schema_check import _python_schema, schema

    with tempfile.TemporaryDirectory() as tmp:
        path = render_pipe(WORKLOADS["big-10k"](), Path(tmp))
        doc = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    ours = compile_schema(_python_schema())
    theirs = jsonschema_rs.Draft202012Validator(schema())
    assert ours(doc) and theirs.is_valid(doc), "both must accept the big-10k document"
    rows = [
        ("build the check from the schema", median_ms(lambda: compile_schema(_python_schema()), rounds),
         median_ms(lambda: jsonschema_rs.Draft202012Validator(schema()), rounds)),
        ("check the big-10k document", median_ms(lambda: ours(doc), rounds), median_ms(lambda: theirs.is_valid(doc), rounds)),
        ("import", import_ms("pipeline_cli.schemacheck", rounds), import_ms("jsonschema_rs", rounds)),
    ]
    print("| | pipe's quick check | jsonschema-rs |\n|---|---:|---:|")
    for name, a, b in rows:
        print(f"| {name} | {a:.1f} ms | {b:.1f} ms |")


if __name__ == "__main__":
    main()
