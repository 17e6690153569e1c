"""`pipe validate` (and `pipe run`, which validates first) refuses a Python task whose module
cannot be found, whose function is not in it, or whose `with:` does not fit its parameters,
by reading the module's source, never by importing it; and accepts whatever it cannot be
sure of."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_cli import spec
from pipeline_cli.errors import SpecError
from pipeline_cli.spec.entrypoints import call_problems

FETCH = '''
import functools
from pathlib import Path

(Path(__file__).parent / "imported.marker").write_text("imported")    # validation never runs this


def fetch_day(city, day, unit="C"):
    return {}


def main(city, *, day, context=None):
    return {}


@functools.cache
def cached(x):
    return {}


def anything(**kwargs):
    return {}


async def later(city):
    return {}


def positional(a, /, b=1):
    return {}


made = functools.partial(fetch_day, "Paris")
if True:
    def conditional(x):
        return {}
'''


@pytest.fixture
def mods(project: Path) -> Path:
    """pipelines/weather/ (a package) with fetch.py, and a module with a syntax error."""
    pkg = project / "pipelines" / "weather"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "fetch.py").write_text(FETCH)
    (project / "pipelines" / "broken.py").write_text("def f(:\n    pass\n")
    (project / "pipelines" / "lazy.py").write_text("def __getattr__(name):\n    return lambda **kw: {}\n")
    (project / "pipelines" / "star.py").write_text("from os.path import *\n")
    (project / "pipelines" / "patched.py").write_text(
        "def main(a):\n    return {}\n\n\nglobals()['main'] = lambda **kw: {}\n")
    (project / "pipelines" / "namespace").mkdir()
    (project / "pipelines" / "badpkg").mkdir()
    (project / "pipelines" / "badpkg" / "__init__.py").write_text("x = (\n")
    (project / "pipelines" / "badpkg" / "mod.py").write_text("def f():\n    return {}\n")
    return project


def one_task(task: str) -> str:
    return "tasks:\n  t:\n" + textwrap.indent(textwrap.dedent(task).strip("\n"), "    ") + "\n"


REFUSED = [
    ("function_typo", "python: weather.fetch:fech", (3, 13),
     "tasks.t.python: module weather.fetch (pipelines/weather/fetch.py) has no function 'fech' "
     "(it defines: anything, cached, fetch_day, later, main, positional); did you mean 'fetch_day'?"),
    ("module_typo", "python: wether.fetch:main", (3, 13),
     "tasks.t.python: cannot find module 'wether.fetch': expected wether.py or a package wether/ in the "
     "pipeline's folder pipelines/, or a module installed for"),
    ("submodule_typo", "python: weather.fecth:main", (3, 13),
     "tasks.t.python: cannot find module 'weather.fecth': the package weather (pipelines/weather/) has no "
     "fecth.py nor fecth/; did you mean 'weather.fetch'?"),
    ("module_is_not_a_package", "python: broken.sub:f", (3, 13),
     "tasks.t.python: 'broken' is a module (pipelines/broken.py), not a package, so it has no module 'sub'"),
    ("syntax_error", "python: broken:f", (3, 13), "tasks.t.python: broken (pipelines/broken.py:1) cannot be imported"),
    ("syntax_error_in_the_package", "python: badpkg.mod:f", (3, 13),
     "tasks.t.python: badpkg (pipelines/badpkg/__init__.py:1) cannot be imported: '(' was never closed"),
    ("folder_without_init", "python: namespace:f", (3, 13),
     "tasks.t.python: namespace is a folder without __init__.py (pipelines/namespace), so it has no function 'f'"),
    ("unknown_keyword", "python: weather.fetch:fetch_day\nwith: {city: x, day: y, citty: z}", (4, 29),
     "tasks.t.with.citty: weather.fetch:fetch_day(city, day, unit='C') at pipelines/weather/fetch.py:8: "
     "'citty' is not one of its parameters; did you mean 'city'?"),
    ("missing_argument", "python: weather.fetch:fetch_day\nwith: {city: x}", (4, 11),
     "tasks.t: weather.fetch:fetch_day(city, day, unit='C') at pipelines/weather/fetch.py:8: "
     "`with:` does not give 'day', which has no default"),
    ("missing_keyword_only_and_no_with", "python: weather.fetch:main", (3, 13),
     "`with:` does not give 'city', 'day', which have no default"),
    ("async_def", "python: weather.fetch:later\nwith: {city: x}", (3, 13), "is `async def`"),
    ("positional_only", "python: weather.fetch:positional\nwith: {a: 1}", (4, 12),
     "'a' is positional-only, and pipe passes every argument by name"),
]


@pytest.mark.parametrize("name,task,where,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_validate_refuses_what_cannot_run_at_its_place(mods, pipe, write_pipeline, name, task, where, message):
    path = write_pipeline("p", one_task(task))
    before = path.read_bytes()
    r = pipe("validate", "pipelines/p.yaml")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"pipelines/p.yaml:{where[0]}:{where[1]}: "), r.stderr
    assert message in lines[0], r.stderr
    assert path.read_bytes() == before
    assert not (mods / "pipelines" / "weather" / "imported.marker").exists()


ACCEPTED = [
    ("fits", "python: weather.fetch:fetch_day\nwith: {city: x, day: '{{ ds }}'}"),
    ("context_is_given_by_pipe", "python: weather.fetch:main\nwith: {city: x, day: y}"),
    ("kwargs_takes_any_keyword", "python: weather.fetch:anything\nwith: {whatever: 1}"),
    ("decorated", "python: weather.fetch:cached\nwith: {not_x: 1}"),
    ("made_by_assignment", "python: weather.fetch:made\nwith: {q: 1}"),
    ("def_under_if", "python: weather.fetch:conditional\nwith: {q: 1}"),
    ("module_getattr", "python: lazy:anything"),
    ("star_import", "python: star:join"),
    ("def_replaced_at_run_time", "python: patched:main\nwith: {b: 1}"),
    ("standard_library", "python: json:dumps\nwith: {obj: 1}"),
    ("installed_package_with_star_imports", "python: yaml:safe_dump\nwith: {data: 1}"),
    ("templated_workdir", "python: elsewhere:main\nworkdir: '{{ ds }}'"),
    ("templated_pythonpath", "python: elsewhere:main\nenv: {PYTHONPATH: '{{ ds }}'}"),
    ("other_site_packages", "python: installed_elsewhere:main\nenv: {PYTHONUSERBASE: /opt/py}"),
    ("module_attribute_every_module_has", "python: weather.fetch:__loader__"),
]


@pytest.mark.parametrize("name,task", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_what_is_not_certain_is_accepted(mods, name, task):
    path = mods / "pipelines" / "p.yaml"
    path.write_text(one_task(task))
    spec.load(path)
    assert not (mods / "pipelines" / "weather" / "imported.marker").exists()


def test_modules_are_found_where_the_task_looks(mods):
    """The pipeline's folder, then its working folder, then PYTHONPATH (the pipeline's env,
    relative to the working folder)."""
    (mods / "lib").mkdir()
    (mods / "lib" / "helpers.py").write_text("def go(n):\n    return {}\n")
    (mods / "work").mkdir()
    (mods / "work" / "local.py").write_text("def go(n):\n    return {}\n")
    path = mods / "pipelines" / "p.yaml"
    path.write_text("env: {PYTHONPATH: ../lib}\nworkdir: ../work\ntasks:\n"
                    "  a: {python: helpers:go, with: {n: 1}}\n  b: {python: local:go, with: {n: 1}}\n"
                    "  c: {python: helpers:goo, with: {n: 1}}\n")
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert [(p.line, p.column) for p in info.value.problems] == [(6, 15)]
    assert "has no function 'goo' (it defines: go); did you mean 'go'?" in info.value.problems[0].message


def test_run_refuses_before_starting_anything(mods, pipe, write_pipeline):
    write_pipeline("p", "tasks:\n  first: {run: touch started}\n  t: {python: weather.fetch:fetch_day, deps: [first],"
                        " with: {city: x, dya: y}}\n")
    r = pipe("run", "p")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "pipelines/p.yaml:3:" in r.stderr and "tasks.t.with.dya:" in r.stderr and "did you mean 'day'?" in r.stderr
    assert not (mods / "pipelines" / "started").exists() and not (mods / ".pipe" / "p" / "runs").exists()


def test_run_sees_a_module_changed_after_a_validated_run(mods, pipe, write_pipeline):
    """`pipe run` keeps validated pipeline files in a cache; the modules they name are read anew."""
    write_pipeline("p", "tasks:\n  t: {python: weather.fetch:fetch_day, with: {city: x, day: y}}\n")
    assert pipe("run", "p").returncode == 0
    fetch = mods / "pipelines" / "weather" / "fetch.py"
    fetch.write_text(fetch.read_text().replace("def fetch_day(city, day,", "def fetch_day(city, when,"))
    r = pipe("run", "p")
    assert r.returncode == 2, r.stderr
    assert "pipelines/p.yaml:2:" in r.stderr and "`with:` does not give 'when'" in r.stderr
    assert "tasks.t.with.day:" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("signature,given,expected", [
    ("a, b=1", ["a"], []),
    ("a, b", ["a"], [(None, "`with:` does not give 'b', which has no default")]),
    ("a, *, b", ["a", "b"], []),
    ("a, *, b", ["a"], [(None, "`with:` does not give 'b', which has no default")]),
    ("a, **kw", ["a", "zzz"], []),
    ("*args, a=1", ["b"], [("b", "'b' is not one of its parameters")]),
    ("city", ["cty"], [("cty", "'cty' is not one of its parameters; did you mean 'city'?")]),   # not also 'city' missing
    ("a, context", ["a"], []),
    ("a", ["a", "context"], [("context", "'context' is not one of its parameters")]),
])
def test_call_problems(signature, given, expected):
    import ast

    args = ast.parse(f"def f({signature}): pass").body[0].args
    assert call_problems(args, given) == expected


def test_a_cached_file_with_unchanged_modules_reads_no_module(mods, pipe, write_pipeline):
    """The second run of an unchanged pipeline takes its verdict from the cache: it stats
    the modules, and neither parses them nor imports the check."""
    import subprocess
    import sys

    from conftest import clean_env

    write_pipeline("p", "tasks:\n  t: {python: weather.fetch:fetch_day, with: {city: x, day: y}}\n")
    assert pipe("run", "p").returncode == 0
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline_cli", "run", "p"], cwd=mods,
                       env=clean_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pipeline_cli.run.loop" in r.stderr                    # the listing is there
    assert "pipeline_cli.spec.entrypoints" not in r.stderr


NAMES = ["a", "b", "c", "context"]


@st.composite
def signatures(draw):
    """A random parameter list over a few names: positional-only, regular, *args,
    keyword-only, **kwargs, each with or without a default where Python allows it."""
    names = draw(st.permutations(NAMES))[:draw(st.integers(0, 4))]
    parts, defaulted, kinds = [], False, draw(st.lists(st.sampled_from("prk"), min_size=len(names),
                                                       max_size=len(names)))
    kinds = sorted(kinds, key="prk".index)
    for name, kind in zip(names, kinds):
        default = draw(st.booleans()) or (defaulted and kind != "k")
        defaulted = defaulted or (default and kind != "k")
        parts.append((kind, f"{name}=0" if default else name))
    text = [t for k, t in parts if k == "p"] + (["/"] if any(k == "p" for k, _ in parts) else [])
    text += [t for k, t in parts if k == "r"]
    keyword_only = [t for k, t in parts if k == "k"]
    star = draw(st.sampled_from(["", "*args"])) or ("*" if keyword_only else "")
    text += [star] * bool(star) + keyword_only + ["**kwargs"] * draw(st.booleans())
    return ", ".join(text)


@settings(max_examples=300, deadline=None)
@given(signatures(), st.lists(st.sampled_from(NAMES + ["d"]), unique=True))
def test_call_problems_agrees_with_python(signature, given):
    """Whatever the signature, `with:` fits exactly when Python can bind it as the Python task runner does
    (by keyword, `context` added when the function has it)."""
    import ast
    import inspect

    namespace: dict = {}
    exec(f"def f({signature}): pass", namespace)          # the test's own function, not a user's
    sig = inspect.signature(namespace["f"])
    kwargs = dict.fromkeys(given, 1) | ({"context": {}} if "context" in sig.parameters else {})
    try:
        sig.bind(**kwargs)
        fits = True
    except TypeError:
        fits = False
    args = ast.parse(f"def f({signature}): pass").body[0].args
    assert (call_problems(args, given) == []) == fits, (signature, given)


@pytest.mark.parametrize("name,task,where,message", REFUSED, ids=[c[0] for c in REFUSED])
def test_what_validation_refuses_does_fail_when_run(mods, name, task, where, message):
    """Refusals are certain: the task runner itself (bypassing validation) fails on each."""
    import json
    import subprocess
    import sys

    import yaml

    from conftest import clean_env

    fields = yaml.safe_load(task)
    folder = mods / "pipelines"
    call = {"entry": fields["python"], "folder": str(folder), "kwargs": fields.get("with", {}),
            "context": {"ds": "2026-11-01"}, "result": str(mods / "result.json")}
    r = subprocess.run([sys.executable, "-m", "pipeline_cli.python_task"], cwd=folder, capture_output=True, text=True,
                       env=clean_env({"PIPE_PY_CALL": json.dumps(call)}), timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert not (mods / "result.json").exists()
