"""Validation errors (SPEC sections 1, 2 and 4): every kind, at file:line:column, all at once."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from pipeline_cli import spec
from pipeline_cli.errors import SpecError

# (id, file text, expected line, expected column or None, message fragments)
CASES = [
    ("yaml_syntax", """
        tasks:
          a:
            run: "echo
        """, 4, 1, ["YAML syntax error", "quoted scalar"]),
    ("yaml_syntax_mapping", """
        tasks:
          a:
            run: echo
          b: : :
        """, 4, 6, ["': ' inside a value that is not quoted: YAML reads it as the start of a mapping; "
                    "put the value in quotes"]),
    ("duplicate_key", """
        tasks:
          a:
            run: echo one
          b:
            run: echo two
          a:
            run: echo three
        """, 6, 3, ["duplicate key 'a'", "first defined at line 2"]),
    ("duplicate_field", """
        tasks:
          a:
            run: echo one
            retries: 1
            retries: 2
        """, 5, 5, ["duplicate key 'retries'", "first defined at line 4"]),
    ("python_tag", """
        tasks:
          a:
            run: !!python/object/apply:os.system ["echo pwned"]
        """, 3, 10, ["unsupported YAML tag '!!python/object/apply:os.system'", "no Python"]),
    ("impossible_date", """
        start_date: 2026-13-45
        tasks:
          a: {run: echo}
        """, 1, 13, ["'2026-13-45' is not a date that exists (month must be in 1..12)"]),
    ("unknown_field", """
        tasks:
          a:
            run: echo
            retires: 3
        """, 4, 5, ["unknown field 'retires' in task 'a'", "did you mean 'retries'?",
                    "allowed: deps, description, env,"]),
    ("unknown_top_field", """
        schedul: "@daily"
        tasks:
          a:
            run: echo
        """, 1, 1, ["unknown field 'schedul'", "did you mean 'schedule'?", "allowed:"]),
    ("wrong_type", """
        tasks:
          a:
            run: echo
            retries: three
        """, 4, 14, ["tasks.a.retries: expected a whole number, got a string"]),
    ("bad_enum", """
        tasks:
          a:
            run: echo
            trigger: sometimes
        """, 4, 14, ["tasks.a.trigger: 'sometimes' is not one of:", "all_success", "none_failed"]),
    ("bad_task_id", """
        tasks:
          9bad:
            run: echo
        """, 2, 3, ["'9bad' is not a valid task id"]),
    ("negative_retries", """
        tasks:
          a:
            run: echo
            retries: -1
        """, 4, 14, ["tasks.a.retries: must be at least 0, got -1"]),
    ("both_run_and_python", """
        tasks:
          a:
            run: echo
            python: mod:fn
        """, 2, 3, ["task 'a' has both `run` and `python`"]),
    ("neither_run_nor_python", """
        tasks:
          a:
            deps: []
        """, 2, 3, ["task 'a' has neither `run`", "nor `python`"]),
    ("unknown_dependency", """
        tasks:
          fetch:
            run: echo
          clean:
            run: echo
            deps: [fetc]
        """, 6, 12, ["task 'clean' depends on unknown task 'fetc'", "did you mean 'fetch'?"]),
    ("self_dependency", """
        tasks:
          a:
            run: echo
            deps: [a]
        """, 4, 12, ["task 'a' depends on itself"]),
    ("cycle", """
        tasks:
          a:
            run: echo
            deps: [c]
          b:
            run: echo
            deps: [a]
          c:
            run: echo
            deps: [b]
        """, 2, 3, ["dependency cycle: a -> b -> c -> a"]),
    ("bad_cron", """
        schedule: "61 * * * *"
        tasks:
          a:
            run: echo
        """, 1, 11, ["'61 * * * *' is not a valid cron expression"]),
    ("unknown_timezone", """
        timezone: Europe/Amsterdamm
        tasks:
          a:
            run: echo
        """, 1, 11, ["unknown timezone 'Europe/Amsterdamm'", "did you mean 'Europe/Amsterdam'?"]),
    ("bad_duration", """
        tasks:
          a:
            run: echo
            timeout: 5 minutes
        """, 4, 14, ["tasks.a.timeout: '5 minutes' is not a duration"]),
    ("bad_entrypoint", """
        tasks:
          a:
            python: weather.fetch
        """, 3, 13, ["tasks.a.python: 'weather.fetch' is not a Python entrypoint 'module:function'"]),
    ("jinja_syntax", """
        tasks:
          a:
            run: echo {{ ds
        """, 3, 10, ["tasks.a.run: template syntax error"]),
    ("outputs_not_upstream", """
        tasks:
          a:
            run: echo
          b:
            run: echo {{ tasks.a.outputs.x }}
        """, 5, 10, ["tasks.a.outputs: 'a' is not upstream of 'b'"]),
    ("outputs_unknown_task", """
        tasks:
          a:
            run: echo
          b:
            run: echo {{ tasks.zz.outputs.x }}
            deps: [a]
        """, 5, 10, ["tasks.zz.outputs refers to unknown task 'zz'"]),
    ("undeclared_param", """
        params: {city: Seattle}
        tasks:
          a:
            run: echo {{ params.town }}
        """, 4, 10, ["params.town is not declared in `params:`", "declared: city"]),
    ("unknown_template_variable", """
        tasks:
          a:
            run: echo {{ dss }}
        """, 3, 10, ["unknown template variable 'dss'", "did you mean 'ds'?"]),
    ("template_in_with", """
        tasks:
          a:
            python: json:dumps
            with: {day: "{{ nope }}"}
        """, 4, 17, ["tasks.a.with.day: unknown template variable 'nope'"]),
]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name.replace('_', '-')}.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize("name,text,line,column,fragments", CASES, ids=[c[0] for c in CASES])
def test_spec_load_reports_each_error_kind(tmp_path, name, text, line, column, fragments):
    path = _write(tmp_path, name, text)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    problems = info.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    p = problems[0]
    assert p.file == str(path)
    assert (p.line, p.column) == (line, column), str(p)
    for fragment in fragments:
        assert fragment in p.message, str(p)


@pytest.mark.parametrize("name,text,line,column,fragments",
                         [c for c in CASES if c[0] in ("duplicate_key", "python_tag", "unknown_field", "cycle",
                                                       "bad_cron", "undeclared_param", "yaml_syntax")],
                         ids=lambda v: v if isinstance(v, str) and "\n" not in v else None)
def test_pipe_validate_reports_error_at_file_line_column(project, pipe, write_pipeline, name, text, line, column,
                                                         fragments):
    path = write_pipeline(name.replace("_", "-"), text)
    r = pipe("validate", str(path.relative_to(project)))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"pipelines/{path.name}:{line}:{column}: "), r.stderr
    for fragment in fragments:
        assert fragment in lines[0]


MANY = """
    schedule: "every day"
    timezone: Mars/Olympus
    tasks:
      fetch:
        run: echo {{ dss }}
        retries: -2
      clean:
        run: echo
        python: a:b
        deps: [fetc]
      publish:
        run: echo
        trigger: sometimes
        deps: [publish]
"""


def test_many_errors_reported_at_once(project, pipe, write_pipeline):
    write_pipeline("many", MANY)
    r = pipe("validate", "many")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    located = [re.match(r"^pipelines/many\.yaml:(\d+):(\d+): ", line) for line in lines]
    assert all(located), r.stderr
    found = {int(m.group(1)) for m in located}
    # schedule, timezone, template var, retries, both run/python, unknown dep, enum, self dep
    assert {1, 2, 5, 6, 7, 10, 13, 14} <= found, r.stderr
    assert len([n for n in nums_of(located) if n[0] == 1]) == 1, r.stderr  # one message per problem
    assert len(lines) >= 8
    text = r.stderr
    for fragment in ("is not a 5-field cron expression", "unknown timezone 'Mars/Olympus'", "unknown template variable 'dss'",
                     "must be at least 0", "has both `run` and `python`", "unknown task 'fetc'",
                     "'sometimes' is not one of", "depends on itself"):
        assert fragment in text
    # sorted in file order
    nums = [(int(m.group(1)), int(m.group(2))) for m in located]
    assert nums == sorted(nums)


def test_spec_load_collects_every_problem(tmp_path):
    path = _write(tmp_path, "many", MANY)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert len(info.value.problems) >= 8
    assert all(p.line and p.column for p in info.value.problems)


def test_whole_floats_count_as_the_integers_they_are(tmp_path):
    """JSON Schema's "integer" takes 2.0; the model must then hold 2, not the default."""
    path = _write(tmp_path, "floats", """
        concurrency: 3.0
        max_active_runs: 2.0
        tasks:
          a: {run: "true", retries: 2.0}
        """)
    p = spec.load(path)
    assert (p.concurrency, p.max_active_runs, p.tasks["a"].retries) == (3, 2, 2)
    assert all(type(v) is int for v in (p.concurrency, p.max_active_runs, p.tasks["a"].retries))


def test_validate_all_ok(project, pipe, write_pipeline):
    write_pipeline("alpha", "tasks:\n  a:\n    run: echo a\n")
    write_pipeline("beta.yml", "name: beta\ntasks:\n  a:\n    run: echo\n  b:\n    run: echo\n    deps: [a]\n")
    r = pipe("validate")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 2
    assert out[0].startswith("pipelines/alpha.yaml: ok")
    assert out[1].startswith("pipelines/beta.yml: ok")
    assert r.stderr == ""


def test_validate_one_bad_file(project, pipe, write_pipeline):
    write_pipeline("alpha", "tasks:\n  a:\n    run: echo a\n")
    write_pipeline("broken", "tasks:\n  a:\n    run: echo\n    deps: [zz]\n")
    write_pipeline("zeta", "tasks:\n  a:\n    run: echo a\n")
    r = pipe("validate")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "pipelines/alpha.yaml: ok" in r.stdout
    assert "pipelines/zeta.yaml: ok" in r.stdout
    assert "broken" not in r.stdout
    assert r.stderr.startswith("pipelines/broken.yaml:4:12: task 'a' depends on unknown task 'zz'")


def test_validate_empty_folder(project, pipe):
    r = pipe("validate")
    assert r.returncode == 2
    assert "no pipeline files" in r.stderr
    assert "Traceback" not in r.stderr


def test_validate_empty_file_and_non_mapping(project, pipe, write_pipeline):
    write_pipeline("empty", "")
    write_pipeline("alist", "- a\n- b\n")
    r = pipe("validate")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "pipelines/empty.yaml:1:1: the file is empty" in r.stderr
    assert "pipelines/alist.yaml:1:1: expected a mapping" in r.stderr


def test_validate_missing_tasks(project, pipe, write_pipeline):
    write_pipeline("notasks", "description: nothing\n")
    r = pipe("validate", "notasks")
    assert r.returncode == 2
    assert re.match(r"^pipelines/notasks\.yaml:1:1: .*'tasks'", r.stderr), r.stderr


def test_cycle_of_two_and_reported_once(tmp_path):
    path = _write(tmp_path, "two", """
        tasks:
          a:
            run: echo
            deps: [b]
          b:
            run: echo
            deps: [a]
          c:
            run: echo
    """)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    msgs = [p.message for p in info.value.problems]
    assert len(msgs) == 1
    m = re.search(r"dependency cycle: (.*)$", msgs[0])
    chain = m.group(1).split(" -> ")
    assert chain[0] == chain[-1] and set(chain) == {"a", "b"} and len(chain) == 3


def test_cycle_arrows_follow_dependencies(tmp_path):
    """In `x -> y`, y depends on x, for every arrow of the printed cycle."""
    path = _write(tmp_path, "loop", """
        tasks:
          start:
            run: echo
          q:
            run: echo
            deps: [p, start]
          p:
            run: echo
            deps: [r]
          r:
            run: echo
            deps: [q]
    """)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    (problem,) = info.value.problems
    chain = problem.message.split("dependency cycle: ", 1)[1].split(" -> ")
    deps = {"q": {"p", "start"}, "p": {"r"}, "r": {"q"}}
    assert chain[0] == chain[-1] and len(chain) == 4
    for x, y in zip(chain, chain[1:]):
        assert x in deps[y], chain


def test_defaults_error_points_at_defaults(tmp_path):
    path = _write(tmp_path, "defaults", """
        defaults:
          retries: -3
        tasks:
          a:
            run: echo
    """)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    (p,) = info.value.problems
    assert (p.line, p.column) == (2, 12)
    assert "defaults.retries: must be at least 0" in p.message


def test_yaml_anchor_bomb_refused(project, pipe, write_pipeline):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    write_pipeline("bomb", "\n".join(lines) + "\ntasks:\n  a:\n    run: echo\n")
    r = pipe("validate", "bomb", timeout=60)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "pipelines/bomb.yaml:" in r.stderr


def nums_of(located):
    return [(int(m.group(1)), int(m.group(2))) for m in located]


# The mistakes people make most, in their words (exact texts: a tab would not survive dedent).
IN_WORDS = [
    ("tab_in_indentation", "tasks:\n  a:\n\trun: echo\n", 3, 1,
     "a tab in indentation: YAML indents with spaces only (replace the tab with spaces)"),
    ("tab_after_spaces", "tasks:\n  a:\n    run: echo\n  \tdeps: []\n", 4, 3, "a tab in indentation"),
    ("indented_too_little", "tasks:\n  a:\n    run: echo\n   deps: [b]\n  b: {run: echo}\n", 4, 4,
     "this line's indentation does not fit the lines before it: it has 3 spaces, where YAML, which nests by "
     "indentation, expects 4 (like `run:` on line 3), 2 (like `a:` on line 2) or 0 (like `tasks:` on line 1)"),
    ("indented_too_much", "tasks:\n  a:\n    run: echo\n      deps: [b]\n", 4, 7,
     "it has 6 spaces, where YAML, which nests by indentation, expects 4 (like `run:` on line 3)"),
    ("list_item_misaligned", "tasks:\n  a:\n    run: |\n      echo\n    deps:\n      - b\n     - c\n  b: {run: x}\n"
     "  c: {run: x}\n", 7, 6, "it has 5 spaces, where YAML, which nests by indentation, expects 6 (like `- b` on "
     "line 6), 4 (like `deps:` on line 5), 2"),
    ("fields_beside_an_empty_task", "tasks:\n  a:\n  run: echo\n  deps: []\n  b: {run: x}\n", 2, 3,
     "task 'a' is empty, and `run:` (line 3) and `deps:` (line 4) beside it are read as tasks of their own: "
     "indent them under `a:`"),
    ("colon_in_a_value", "tasks:\n  a:\n    run: echo time: now\n", 3, 19,
     "': ' inside a value that is not quoted: YAML reads it as the start of a mapping; put the value in quotes"),
    ("first_line_of_a_block_may_go_deeper", "tasks:\n  a:  # note\n     run: x\n    deps: []\n", 4, 5,
     "it has 4 spaces, where YAML, which nests by indentation, expects 5 (like `run:` on line 3), 2"),
    ("command", "tasks:\n  a:\n    command: echo\n", 3, 5, "unknown field 'command' in task 'a'; did you mean 'run'?"),
    ("cmd", "tasks:\n  a:\n    cmd: echo\n", 3, 5, "unknown field 'cmd' in task 'a'; did you mean 'run'?"),
    ("depends_on", "tasks:\n  a: {run: x}\n  b:\n    run: x\n    depends_on: [a]\n", 5, 5,
     "unknown field 'depends_on' in task 'b'; did you mean 'deps'?"),
    ("needs", "tasks:\n  a: {run: x}\n  b:\n    run: x\n    needs: [a]\n", 5, 5,
     "unknown field 'needs' in task 'b'; did you mean 'deps'?"),
    ("steps", "steps:\n  a: {run: x}\n", 1, 1, "unknown field 'steps' in the pipeline; did you mean 'tasks'?"),
    ("dayly", "schedule: '@dayly'\ntasks:\n  a: {run: x}\n", 1, 11,
     "schedule '@dayly' is not a named schedule; did you mean '@daily'?"),
    ("midnight", "schedule: '@midnight'\ntasks:\n  a: {run: x}\n", 1, 11,
     "schedule '@midnight' is not a named schedule; did you mean '@daily'?"),
    ("param_typo", "params: {city: Paris}\ntasks:\n  a: {run: 'echo {{ params.cty }}'}\n", 3, 12,
     "tasks.a.run: params.cty is not declared in `params:` (declared: city); did you mean params.city?"),
]


@pytest.mark.parametrize("name,text,line,column,message", IN_WORDS, ids=[c[0] for c in IN_WORDS])
def test_common_mistakes_are_said_in_words_where_they_are(tmp_path, name, text, line, column, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert [(p.line, p.column) for p in info.value.problems] == [(line, column)], [str(p) for p in info.value.problems]
    assert message in info.value.problems[0].message


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", ["tab_in_indentation", "indented_too_little", "command", "dayly"])
def test_common_mistakes_through_the_cli(project, pipe, name, command):
    _, text, line, column, message = next(c for c in IN_WORDS if c[0] == name)
    path = project / "pipelines" / "p.yaml"
    path.write_text(text)
    r = pipe(command, "p")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"pipelines/p.yaml:{line}:{column}: ") and message in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and r.stdout == ""
    assert path.read_text() == text and not (project / ".pipe" / "p").exists()


def test_other_syntax_errors_keep_the_parsers_words(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("tasks:\n  a: {run: echo a: b}\n")
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert [str(p).split(": ", 1)[1] for p in info.value.problems] == [
        "YAML syntax error: while parsing a flow mapping, did not find expected ',' or '}'"]


def test_a_task_named_like_a_field_is_not_taken_for_a_misplaced_field(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("tasks:\n  a:\n  run: {run: echo}\n")
    with pytest.raises(SpecError) as info:
        spec.load(path)
    assert [p.message for p in info.value.problems] == ["tasks.a: expected a mapping, got null"]
