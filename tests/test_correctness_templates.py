"""Issue 15 items 14 and 21: template problems said in the pipeline's words."""
from __future__ import annotations

import re

import pytest

from pipeline_cli import templates

PIPELINE = """
tasks:
  join:
    run: echo "path=/data/x" >> $PIPE_OUTPUT
  train:
    run: echo {{ tasks.join.outputs.path }} {{ tasks.join.outputs.model }}
    deps: [join]
"""


def test_missing_output_key_names_the_task_and_its_outputs(write_pipeline, pipe):
    write_pipeline("t", PIPELINE)
    r = pipe("run", "t")
    assert r.returncode == 1
    assert "task join has no output 'model' in this run; its outputs are: path" in r.stdout
    assert "dict object" not in r.stdout + r.stderr


def test_only_without_an_earlier_run_of_an_upstream_says_what_to_do(write_pipeline, pipe):
    write_pipeline("t", PIPELINE.replace(" {{ tasks.join.outputs.model }}", ""))
    r = pipe("run", "t", "--only", "train")
    assert r.returncode == 1
    assert re.search(r"no earlier successful run of join for \d{4}-\d\d-\d\d to take tasks\.join\.outputs from: "
                     r"run join too, or drop --only/--from", r.stdout), r.stdout
    assert "dict object" not in r.stdout + r.stderr
    assert "pipe logs" not in r.stdout            # the task never started: it has no log to show


def test_the_suggested_logs_command_works(write_pipeline, pipe):
    write_pipeline("f", "tasks:\n  boom:\n    run: echo went wrong; exit 3\n")
    r = pipe("--state-dir", "elsewhere", "run", "f")
    assert r.returncode == 1
    command = re.search(r"all of it: pipe (logs .*)$", r.stdout, re.M)[1]
    assert "--state-dir" in command
    shown = pipe(*command.split())
    assert shown.returncode == 0 and "went wrong" in shown.stdout, shown.stderr


def test_missing_env_variable_in_a_template():
    with pytest.raises(templates.TemplateError) as e:
        templates.render("echo {{ env.NOPE }}", {"env": {}, "tasks": {}}, shell=True)
    assert e.value.message == "env.NOPE: the environment has no variable NOPE (set it, or add it to `env:`)"


def test_analyse_lists_output_keys():
    use = templates.analyse("{{ tasks.a.outputs.x }} {{ tasks['b'].outputs['y z'] }} {{ tasks.c.outputs }}")
    assert use.output_keys == {("a", "x"), ("b", "y z")}
    assert use.outputs == {"a", "b", "c"}


# --- item 21: a template inside the user's own quotes in a shell string ------------------------

QUOTED = """
params: {x: "$(echo pwned)"}
tasks:
  a:
    run: echo "{{ params.x }}" '{{ ds }}' {{ ds }} "{{ ds | raw }}" >> ../out.txt
  b:
    run: [echo, "{{ params.x }}"]
"""


def test_validate_warns_about_a_template_in_the_users_own_quotes(write_pipeline, pipe, project):
    write_pipeline("q", QUOTED)
    r = pipe("validate", "q")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr          # not for {{ ds }} bare, "{{ ds | raw }}", nor the argv list
    assert lines[0].startswith("pipelines/q.yaml:4:10: warning: tasks.a.run: \"{{ params.x }}\" is inside double "
                               "quotes of your own")
    assert "write {{ params.x }} without the quotes" in lines[0]
    assert lines[1].startswith("pipelines/q.yaml:4:10: warning: tasks.a.run: '{{ ds }}' is inside single quotes")
    # What the warning is about: inside double quotes the shell runs the $(...) of the value.
    assert pipe("run", "q", "--only", "a").returncode == 0
    assert (project / "out.txt").read_text().startswith("'pwned' ")


@pytest.mark.parametrize("command, expected", [
    ('echo "{{ x }}"', [("{{ x }}", '"')]),
    ("echo '{{ x }}'", [("{{ x }}", "'")]),
    ("echo {{ x }}", []),
    ('echo "a" {{ x }} "b"', []),
    ('echo "{{ x | raw }}"', []),
    ('echo \\"{{ x }}', []),
    ('echo "it\\"s {{ ds }}"', [("{{ ds }}", '"')]),
    ("echo 'it''s' {{ ds }}", []),
])
def test_quoted_in_shell(command, expected):
    assert templates.quoted_in_shell(command) == expected
