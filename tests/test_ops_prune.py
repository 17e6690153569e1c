"""Retention (SPEC 12) through the real CLI: `pipe prune` removes whole run folders and says
what and how many bytes; never a running run, never a pipeline's newest run, never the ledger
tick needs (prune, then tick over the pruned range: nothing reruns); tick applies pipe.yaml's
retention at most once a day; `pipe status` and `pipe serve` read a pruned history."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from conftest import clean_env, wait_until

CATCHUP = ('schedule: "@daily"\nstart_date: 2026-11-01\ncatchup: true\nworkdir: ..\n'
           "tasks:\n  t:\n    run: echo {{ ds }} >> ran.txt\n")


def ran(project) -> list[str]:
    path = project / "ran.txt"
    return path.read_text().split() if path.exists() else []


def runs_of(project, name: str) -> list[str]:
    folder = project / ".pipe" / name / "runs"
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_prune_then_tick_over_the_pruned_range_reruns_nothing(project, write_pipeline, pipe):
    write_pipeline("d", CATCHUP)
    assert pipe("tick", "--now", "2026-11-11T00:05:00+00:00").returncode == 0
    assert len(ran(project)) == 10 and len(runs_of(project, "d")) == 10
    dry = pipe("prune", "--keep", "1", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    doc = json.loads(dry.stdout)
    assert doc["dry_run"] is True and doc["count"] == 9 and doc["bytes"] > 0
    assert doc["bytes"] == sum(r["bytes"] for r in doc["runs"])
    assert len(runs_of(project, "d")) == 10            # a dry run removes nothing
    r = pipe("prune", "--keep", "1")
    assert r.returncode == 0, r.stderr
    assert "removed 9 runs of 1 pipeline" in r.stdout and ("bytes" in r.stdout or "kB" in r.stdout)
    assert len(runs_of(project, "d")) == 1
    # tick over the pruned range: nothing reruns, and the schedule goes on after it
    assert pipe("tick", "--now", "2026-11-11T00:06:00+00:00").returncode == 0
    assert pipe("tick", "--now", "2026-11-12T00:06:00+00:00").returncode == 0
    assert ran(project) == [f"2026-11-{d:02d}" for d in range(1, 12)]
    # backfill skips the pruned intervals that had succeeded
    b = pipe("backfill", "d", "--start", "2026-11-01", "--end", "2026-11-11", "--json")
    assert b.returncode == 0, b.stderr
    assert {i["state"] for i in json.loads(b.stdout)["intervals"]} == {"skipped"}
    assert len(ran(project)) == 11
    # what is kept of the pruned runs, and the ledger, as plain files
    kept = [json.loads(line) for line in (project / ".pipe" / "d" / "pruned.jsonl").read_text().splitlines()]
    assert len(kept) == 9 and {k["state"] for k in kept} == {"succeeded"}
    assert len((project / ".pipe" / "d" / "intervals.jsonl").read_text().splitlines()) == 11


def test_never_a_running_run_nor_the_newest(project, write_pipeline, pipe):
    write_pipeline("w", 'workdir: ..\ntasks:\n  t:\n    run: "touch started-$PIPE_RUN_ID; while [ ! -e go ]; do sleep 0.05; done"\n')
    write_pipeline("q", 'tasks:\n  t:\n    run: "true"\n')
    env = clean_env()
    busy = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "w"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: any(p.name.startswith("started-") for p in project.iterdir()), "the run to start")
        for _ in range(2):
            assert pipe("run", "q").returncode == 0
        # w: its only run is running (and newest); q: two runs, the newest stays
        time.sleep(1.1)
        r = pipe("prune", "--older-than", "1s", "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert [(x["pipeline"], x["state"]) for x in doc["runs"]] == [("q", "succeeded")]
        assert len(runs_of(project, "w")) == 1 and len(runs_of(project, "q")) == 1
        # an older run that is still going on, behind a newer one that finished: kept, and said
        (project / "go").touch()
        busy.communicate(timeout=60)
    finally:
        busy.kill()
    assert busy.returncode == 0
    hold = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "w"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        (project / "go").unlink()
        wait_until(lambda: len([p for p in project.iterdir() if p.name.startswith("started-")]) == 2,
                   "the second run to start")
        write_pipeline("w", 'workdir: ..\ntasks:\n  t:\n    run: "true"\n')       # the next run of w ends at once
        assert pipe("run", "w").returncode == 0
        r = pipe("prune", "w", "--keep", "1", "--json")
        doc = json.loads(r.stdout)
        assert doc["count"] == 1 and doc["runs"][0]["state"] == "succeeded"   # the first run, not the one going on
        assert [k["state"] for k in doc["kept_going_on"]] == ["running"]
        text = pipe("prune", "w", "--keep", "1").stdout
        assert "kept w" in text and "it is running" in text
        assert len(runs_of(project, "w")) == 2
    finally:
        (project / "go").touch()
        hold.communicate(timeout=60)


def test_tick_applies_the_project_retention_at_most_once_a_day(project, write_pipeline, pipe):
    write_pipeline("d", CATCHUP)
    (project / "pipe.yaml").write_text("retention:\n  keep_runs: 2\n")
    r = pipe("tick", "--now", "2026-11-06T00:05:00+00:00")
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr       # quiet, as ever
    assert len(ran(project)) == 5 and len(runs_of(project, "d")) == 2         # applied after the runs
    stamp = json.loads((project / ".pipe" / "retention.json").read_text())
    assert stamp["removed"] == 3
    for _ in range(3):
        assert pipe("run", "d", "--date", "2026-10-01").returncode == 0
    assert len(runs_of(project, "d")) == 5
    assert pipe("tick", "--now", "2026-11-06T12:00:00+00:00").returncode == 0        # less than a day later
    assert len(runs_of(project, "d")) == 5
    assert pipe("tick", "--now", "2026-11-07T00:06:00+00:00").returncode == 0        # a day later: applied
    assert len(runs_of(project, "d")) == 2
    assert ran(project).count("2026-11-01") == 1          # and nothing pruned was run again
    # pipe prune with no options takes pipe.yaml's retention too
    assert pipe("run", "d", "--date", "2026-10-02").returncode == 0
    p = pipe("prune", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["by"] == "pipe.yaml" and json.loads(p.stdout)["count"] == 1


def test_status_and_serve_read_a_pruned_history(project, write_pipeline, pipe):
    from web.conftest import start_server, stop_server

    write_pipeline("d", CATCHUP)
    assert pipe("tick", "--now", "2026-11-06T00:05:00+00:00").returncode == 0
    assert pipe("prune", "--keep", "2").returncode == 0
    st = pipe("status", "d")
    assert st.returncode == 0 and "Traceback" not in st.stderr
    doc = json.loads(pipe("status", "d", "--json").stdout)
    assert len(doc["pipelines"][0]["runs"]) == 2
    assert pipe("status").returncode == 0
    assert pipe("list").returncode == 0
    server = start_server(project)
    try:
        for path in ("/", "/pipelines/d", "/api/pipelines", "/api/pipelines/d/runs"):
            with urllib.request.urlopen(server.url + path, timeout=20) as resp:
                assert resp.status == 200, path
    finally:
        stop_server(server)


def test_prune_refuses_bad_input(project, write_pipeline, pipe):
    write_pipeline("d", CATCHUP)
    for args, words in [(["--keep", "0"], "at least 1"), (["--older-than", "soon"], "--older-than"),
                        ([], "nothing to prune by"), (["nope", "--keep", "1"], "nope"),
                        (["--keep", "-1"], "--keep")]:
        r = pipe("prune", *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    (project / "pipe.yaml").write_text("retention:\n  keep_runs: 0\n")
    r = pipe("prune")
    assert r.returncode == 2 and "pipe.yaml:2:14:" in r.stderr


def test_the_project_file_of_the_pipelines_folder_rules_a_tick_run_from_elsewhere(project, write_pipeline, pipe,
                                                                                  tmp_path_factory):
    write_pipeline("d", CATCHUP)
    (project / "pipe.yaml").write_text("retention:\n  keep_runs: 1\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    r = pipe("--pipelines-dir", str(project / "pipelines"), "--state-dir", str(project / ".pipe"),
             "tick", "--now", "2026-11-04T00:05:00+00:00", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert len(ran(project)) == 3 and len(runs_of(project, "d")) == 1
    v = pipe("--pipelines-dir", str(project / "pipelines"), "validate", cwd=elsewhere)
    assert "pipe.yaml: ok" in v.stdout
