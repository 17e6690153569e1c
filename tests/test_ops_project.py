"""The project file `pipe.yaml` (SPEC 12) through the real CLI: found like `pipelines/`, its
own schema (`pipe schema --project`), every problem at file:line:column with the pipeline
files' YAML machinery, a default `notify:` for every pipeline that has none, `pools` sizes
accepted (positive whole numbers)."""
from __future__ import annotations

import json

from conftest import ROOT

FAILING = 'schedule: "@daily"\nworkdir: ..\ntasks:\n  t:\n    run: "false"\n'


def test_a_broken_project_file_is_located(project, write_pipeline, pipe):
    write_pipeline("a", FAILING)
    (project / "pipe.yaml").write_text(
        "pools:\n  warehouse: 0\n  Bad: 2\n  big: '3'\nretention:\n  keep_day: 3\nnotify:\n  when: [failure, nope]\n")
    r = pipe("validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert "pipe.yaml:2:14: pools.warehouse: must be at least 1, got 0" in lines
    assert any(line.startswith("pipe.yaml:3:3: 'Bad' is not a pool name") for line in lines)
    assert any(line.startswith("pipe.yaml:4:8: pools.big: expected a whole number") for line in lines)
    assert any(line.startswith("pipe.yaml:6:3: unknown field 'keep_day' in retention; did you mean 'keep_days'?")
               for line in lines)
    assert any(line.startswith("pipe.yaml:8:19: notify.when.1: 'nope'") for line in lines)
    assert "pipelines/a.yaml: ok" in r.stdout
    # Every command that reads the pipeline says it too, and runs nothing.
    run = pipe("run", "a")
    assert run.returncode == 2 and "pipe.yaml:2:14:" in run.stderr and "Traceback" not in run.stderr
    tick = pipe("tick", "--now", "2026-11-02T00:05:00+00:00")
    assert tick.returncode == 2 and "pipe.yaml:2:14:" in tick.stderr


def test_project_file_yaml_mistakes_are_located_as_in_pipeline_files(project, write_pipeline, pipe):
    write_pipeline("a", FAILING)
    for text, where, words in [
        ("pools: {a: 1}\npools: {b: 2}\n", "pipe.yaml:2:1:", "duplicate key 'pools'"),
        ("retention: {keep_days: yes}\n", "pipe.yaml:1:24:", "quote it"),
        ("notify: [\n", "pipe.yaml:2:1:", "YAML"),
        ("- pools\n", "pipe.yaml:1:1:", "expected a mapping"),
        ("pools: !!python/object:os.system {}\n", "pipe.yaml:1:8:", "unsupported YAML tag"),
        ("notify: {}\n", "pipe.yaml:1:1:", "give `to`"),
    ]:
        (project / "pipe.yaml").write_text(text)
        r = pipe("validate")
        assert r.returncode == 2 and "Traceback" not in r.stderr, (text, r.stderr)
        assert where in r.stderr and words in r.stderr, (text, r.stderr)


def test_found_like_pipelines_and_its_notify_is_the_default(project, write_pipeline, pipe):
    write_pipeline("a", FAILING)
    write_pipeline("own", FAILING + "notify:\n  run: echo own >> ../own.txt\n  manual: true\n")
    (project / "pipe.yaml").write_text(
        "# the project file\npools:\n  warehouse: 2\nretention:\n  keep_days: 90\n  keep_runs: 200\n"
        "notify:\n  run: echo project $PIPE_PIPELINE >> ../project.txt\n  manual: true\n")
    r = pipe("validate")
    assert r.returncode == 0, r.stderr
    assert "pipe.yaml: ok" in r.stdout
    sub = pipe("validate", cwd=project / "pipelines")     # found from below the root, as pipelines/ is
    assert sub.returncode == 0 and "pipe.yaml: ok" in sub.stdout
    assert pipe("run", "a").returncode == 1
    assert pipe("run", "own").returncode == 1
    assert (project / "project.txt").read_text().split() == ["project", "a"]      # only the one with no notify
    assert (project / "own.txt").read_text().split() == ["own"]


def test_schema_of_the_project_file(project, pipe):
    r = pipe("schema", "--project")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert doc == json.loads((ROOT / "schemas" / "project.schema.json").read_text())
    assert (ROOT / "pipeline_cli" / "project.schema.json").read_bytes() == \
        (ROOT / "schemas" / "project.schema.json").read_bytes()
    assert set(doc["properties"]) == {"pools", "retention", "notify"}
    # the notify block is the pipeline files' own (the same fields, the same rules)
    pipeline = json.loads((ROOT / "schemas" / "pipeline.schema.json").read_text())
    ours, theirs = dict(doc["properties"]["notify"]), dict(pipeline["properties"]["notify"])
    for key in ("title", "description"):
        ours.pop(key), theirs.pop(key)
    assert ours == theirs
    assert pipe("schema").stdout != r.stdout


def test_no_project_file_is_fine_and_an_empty_one_too(project, write_pipeline, pipe):
    write_pipeline("a", FAILING)
    assert pipe("validate").returncode == 0
    (project / "pipe.yaml").write_text("# nothing set yet\n")
    r = pipe("validate")
    assert r.returncode == 0 and "pipe.yaml: ok" in r.stdout
