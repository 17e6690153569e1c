"""Fan-out (SPEC 11) through the real CLI: `foreach` over each kind of list, a matrix,
max_parallel, per-instance retries and logs, failing instances with all_success and all_done
downstream, resume of the failed instances alone (also after a SIGKILL), validation, dry run,
10,000 items, and the live table at 80 columns."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ST, clean_env, cli, latest, read_events, start, task_reached, wait_until
from vt import PtyPipe


def run_json(project: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    r = cli(project, "run", *args, "--json")
    return r, json.loads(r.stdout) if r.stdout.strip() else {}


def instances(doc: dict, task: str) -> list[dict]:
    return doc["tasks"][task]["instances"]


def test_an_upstream_output_fans_out_and_downstream_sees_the_list_in_item_order(project, write_pipeline):
    (project / "pipelines" / "cities.py").write_text(
        "def main():\n    return {'names': ['Seattle', 'Lisbon', 'Osaka']}\n"
        "def fetch(city, day):\n    return {'rows': len(city), 'city': city, 'day': day}\n")
    write_pipeline("w", """
        tasks:
          cities: {python: "cities:main"}
          fetch:
            deps: [cities]
            foreach: "{{ tasks.cities.outputs.names }}"
            python: "cities:fetch"
            with: {city: "{{ item }}", day: "{{ ds }}"}
            max_parallel: 2
          report:
            deps: [fetch]
            run: echo {{ tasks.fetch.outputs | map(attribute='rows') | sum }} {{ tasks.fetch.outputs | map(attribute='city') | join(',') }}
        """)
    r, doc = run_json(project, "w")
    assert r.returncode == 0, r.stderr
    fetch = doc["tasks"]["fetch"]
    assert fetch["state"] == "succeeded" and fetch["items"] == 3 and fetch["instance_counts"] == {"succeeded": 3}
    assert [i["item"] for i in fetch["instances"]] == ["Seattle", "Lisbon", "Osaka"]
    assert [i["id"] for i in fetch["instances"]] == ["fetch[0]", "fetch[1]", "fetch[2]"]
    assert [o["city"] for o in fetch["outputs"]] == ["Seattle", "Lisbon", "Osaka"]
    run_dir = next((project / ST / "w" / "runs").iterdir())
    assert (run_dir / "logs" / "report.1.log").read_text() == "18 Seattle,Lisbon,Osaka\n"
    # max_parallel 2: never three instances at once (from the events' own times)
    events = [e for e in read_events(run_dir / "events.jsonl") if e.get("task", "").startswith("fetch[")]
    running = peak = 0
    for e in events:
        running += 1 if e["state"] == "running" else -1 if e["state"] in ("succeeded", "failed") else 0
        peak = max(peak, running)
    assert peak <= 2


def test_a_list_a_json_array_a_param_and_a_matrix(project, write_pipeline):
    write_pipeline("kinds", """
        params: {cities: [a, b]}
        tasks:
          literal: {foreach: [x, y, z], run: 'echo "$PIPE_ITEM_INDEX=$PIPE_ITEM" >> ../out.literal'}
          json: {foreach: '["j1", "j2"]', run: 'echo {{ item }} >> ../out.json'}
          param: {foreach: "{{ params.cities }}", run: 'echo {{ item }} {{ item_index }} >> ../out.param'}
          matrix:
            foreach: {city: [a, b], unit: [m, i]}
            run: 'echo {{ item.city }}-{{ item.unit }} $PIPE_ITEM >> ../out.matrix'
          empty: {foreach: [], run: 'echo never >> ../out.empty'}
          after_empty: {deps: [empty], run: 'echo {{ tasks.empty.outputs | length }} >> ../out.after'}
        """)
    r, doc = run_json(project, "kinds", "-p", 'cities=["c1", "c2", "c3"]')
    assert r.returncode == 0, r.stderr
    lines = lambda name: sorted((project / f"out.{name}").read_text().split("\n")[:-1])     # noqa: E731
    assert lines("literal") == ["0=x", "1=y", "2=z"]
    assert lines("json") == ["j1", "j2"]
    assert lines("param") == ["c1 0", "c2 1", "c3 2"]          # -p over the default, a JSON array
    assert lines("matrix") == ['a-i {"city": "a", "unit": "i"}', 'a-m {"city": "a", "unit": "m"}',
                               'b-i {"city": "b", "unit": "i"}', 'b-m {"city": "b", "unit": "m"}']
    assert [i["item"] for i in instances(doc, "matrix")][:2] == [{"city": "a", "unit": "m"}, {"city": "a", "unit": "i"}]
    assert doc["tasks"]["empty"]["state"] == "skipped" and not (project / "out.empty").exists()
    assert lines("after") == ["0"]


def test_an_instance_retries_alone_and_a_failed_one_fails_the_task(project, write_pipeline, pipe):
    write_pipeline("f", """
        tasks:
          fetch:
            foreach: [ok, flaky, bad]
            retries: 1
            run: |
              echo "{{ item }} attempt $PIPE_ATTEMPT"
              case {{ item }} in
                flaky) test "$PIPE_ATTEMPT" = 2 ;;
                bad) test -e ../fixed ;;
              esac
          strict: {deps: [fetch], run: echo never}
          anyway: {deps: [fetch], trigger: all_done, run: 'echo {{ tasks.fetch.outputs | length }} > ../anyway'}
        """)
    r, doc = run_json(project, "f")
    assert r.returncode == 1, r.stderr
    fetch = doc["tasks"]["fetch"]
    assert fetch["state"] == "failed" and "fetch[2]" in fetch["reason"]
    assert [(i["id"], i["state"], i["attempt"]) for i in fetch["instances"]] == [
        ("fetch[0]", "succeeded", 1), ("fetch[1]", "succeeded", 2), ("fetch[2]", "failed", 2)]
    assert doc["tasks"]["strict"]["state"] == "upstream_failed"
    assert doc["tasks"]["anyway"]["state"] == "succeeded" and (project / "anyway").read_text() == "3\n"
    log = pipe("--state-dir", ST, "logs", "f", "fetch[1]", "--attempt", "1")
    assert log.returncode == 0 and log.stdout == "flaky attempt 1\n", log.stderr
    status = pipe("--state-dir", ST, "status", "f")
    assert "3 instances: 1 failed, 2 succeeded; fetch[2]" in status.stdout, status.stdout
    expanded = pipe("--state-dir", ST, "status", "f", "--expand").stdout
    assert "fetch[1]" in expanded and 'item "flaky"' in expanded, expanded
    # resume reruns the failed instance alone, and what depends on the task
    (project / "fixed").write_text("")
    r = cli(project, "resume", "f", "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads(r.stdout)
    assert [(i["id"], i["state"], i["attempt"]) for i in after["tasks"]["fetch"]["instances"]] == [
        ("fetch[0]", "succeeded", 1), ("fetch[1]", "succeeded", 2), ("fetch[2]", "succeeded", 3)]
    run_dir = next((project / ST / "f" / "runs").iterdir())
    assert sorted(p.name for p in (run_dir / "logs").glob("fetch*")) == [
        "fetch[0].1.log", "fetch[1].1.log", "fetch[1].2.log", "fetch[2].1.log", "fetch[2].2.log", "fetch[2].3.log"]
    assert after["tasks"]["strict"]["state"] == "succeeded"


def test_sigkill_mid_fan_out_then_resume_runs_each_instance_to_its_end_once(project, write_pipeline):
    write_pipeline("k", """
        concurrency: 3
        tasks:
          each:
            foreach: [i0, i1, i2, i3, i4, i5, i6, i7, i8, i9, i10, i11]
            run: |
              echo {{ item }} >> ../started
              if [ {{ item_index }} -ge 3 ] && [ ! -e ../go ]; then sleep 30; fi
              echo {{ item }} >> ../done
        """)
    proc = start(project, "run", "k")
    try:
        wait_until(lambda: (project / "done").exists() and len((project / "done").read_text().split()) == 3
                   and task_reached(project / ST, "k", "each[5]", "running"), "three done and three running")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (project / "go").write_text("")
    r = cli(project, "resume", "k", "--json")
    assert r.returncode == 0, r.stderr
    done = (project / "done").read_text().split()
    assert sorted(done) == sorted(f"i{n}" for n in range(12)), done        # none lost, none twice
    doc = json.loads(r.stdout)
    first_three = [i["attempt"] for i in instances(doc, "each")[:3]]
    assert first_three == [1, 1, 1]                                          # not rerun


def test_what_is_not_a_list_is_said_where_it_comes_from(project, write_pipeline, pipe):
    write_pipeline("bad", """
        params: {n: "3"}
        tasks:
          a: {foreach: "{{ params.n }}", run: echo}
          b: {foreach: hello, run: echo}
          c: {run: "echo {{ item }}"}
          d: {run: echo, max_parallel: 2}
        """)
    r = pipe("validate", "pipelines/bad.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "bad.yaml:3:" in r.stderr and "tasks.a.foreach gave 3, which is not a list" in r.stderr
    assert "bad.yaml:4:" in r.stderr and "tasks.b.foreach gave 'hello'" in r.stderr
    assert "bad.yaml:5:" in r.stderr and "'item' is only known in the fields of a foreach task" in r.stderr
    assert "bad.yaml:6:" in r.stderr and "max_parallel: only a task with `foreach:`" in r.stderr
    write_pipeline("big", "tasks:\n  a: {foreach: {x: %s, y: %s}, run: echo}\n" % (list(range(101)), list(range(100))))
    r = pipe("validate", "pipelines/big.yaml")
    assert r.returncode == 2 and "gave 10,100 items; a task fans out over at most 10,000" in r.stderr
    # a param given with -p is known before the run too
    write_pipeline("bylist", "params: {cities: [a]}\ntasks:\n  a: {foreach: \"{{ params.cities }}\", run: echo}\n")
    r = cli(project, "run", "bylist", "-p", "cities=Oslo")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "tasks.a.foreach gave 'Oslo', which is not a list (nor a JSON array) (with the params of this run: " \
           "cities='Oslo')" in r.stderr, r.stderr
    assert not list((project / ST).glob("bylist/runs/*"))
    # from an upstream output: known only once it ran, so the task fails, naming what it got
    write_pipeline("up", """
        tasks:
          list: {run: 'echo "names=not a list" >> $PIPE_OUTPUT'}
          each: {deps: [list], foreach: "{{ tasks.list.outputs.names }}", run: echo}
        """)
    assert pipe("validate", "pipelines/up.yaml").returncode == 0
    r, doc = run_json(project, "up")
    assert r.returncode == 1
    assert doc["tasks"]["each"]["state"] == "failed"
    assert doc["tasks"]["each"]["reason"] == ("foreach '{{ tasks.list.outputs.names }}' gave 'not a list', "
                                              "which is not a list (nor a JSON array)")
    r = cli(project, "run", "up")
    assert r.returncode == 1 and "gave 'not a list'" in r.stdout


def test_a_dry_run_shows_the_items_or_what_they_wait_for(project, write_pipeline):
    write_pipeline("d", """
        tasks:
          cities: {run: "echo names=[] >> $PIPE_OUTPUT"}
          each: {deps: [cities], foreach: "{{ tasks.cities.outputs.names }}", run: "echo {{ item }}"}
          known: {foreach: [Seattle, Lisbon, Osaka, Oslo, Lima, Rome, Pune], run: "echo {{ item }}"}
        """)
    r = cli(project, "run", "d", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "foreach: the items are known once cities has run" in r.stdout
    assert 'foreach: 7 instances: "Seattle", "Lisbon", "Osaka", "Oslo", "Lima", ... (2 more)' in r.stdout
    assert "echo Seattle" in r.stdout
    assert not (project / ST).exists() or not list((project / ST).glob("d/runs/*"))


def test_ten_thousand_items(project, write_pipeline):
    write_pipeline("wide", """
        concurrency: 8
        tasks:
          many: {foreach: "{{ range(10000) | list }}", run: "true"}
          sum: {deps: [many], run: "echo {{ tasks.many.outputs | length }} > ../count"}
        """)
    r = cli(project, "run", "wide", timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert (project / "count").read_text() == "10000\n"
    doc = latest(project, "wide")
    assert doc["tasks"]["many"]["instance_counts"] == {"succeeded": 10000}


def test_the_live_table_of_500_instances_is_one_row_with_counts_at_80_columns(project, write_pipeline):
    write_pipeline("five", """
        concurrency: 3
        tasks:
          wait: {run: "true"}
          many: {deps: [wait], foreach: "{{ range(500) | list }}", run: "while [ ! -f go ]; do sleep 0.05; done"}
        """)
    term = PtyPipe(project, ["run", "five"], cols=80, rows=24)
    try:
        _watch_500(project, term)
    finally:
        if term.proc.poll() is None:          # a failed check leaves no run behind, waiting for `go`
            os.killpg(term.proc.pid, signal.SIGKILL)
            term.proc.wait(10)


def _watch_500(project, term) -> None:
    assert term.wait_for(lambda s: any("│ many │ running" in line and "3 running, 497 pending" in line
                                       for line in s.lines), timeout=60), term.screen.text
    assert not any("many[" in line for line in term.screen.lines), term.screen.text
    assert term.screen.tallest <= 24
    (project / "pipelines" / "go").write_text("")
    assert term.finish(timeout=120) == 0
    assert any("│ many │ succeeded" in line and "500 succeeded" in line for line in term.screen.lines), \
        term.screen.text
