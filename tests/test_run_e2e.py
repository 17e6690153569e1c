"""End-to-end tests of `pipe run` / `status` / `logs` in a real subprocess (issue 3)."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ST, clean_env, cli, latest, pipe_cmd, states

def runs_dir(project: Path, name: str) -> Path:
    return project / ST / name / "runs"


def only_run(project: Path, name: str) -> Path:
    runs = sorted(runs_dir(project, name).iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def run_json(project: Path, *args, code=0, **kw) -> dict:
    r = cli(project, "run", *args, "--json", **kw)
    assert r.returncode == code, (r.stdout, r.stderr)
    return json.loads(r.stdout)


# -- kinds of task ----------------------------------------------------------------------

def test_shell_argv_shell_override_python(project, write_pipeline):
    (project / "pipelines" / "mymod.py").write_text(
        "def main(n, word, context):\n"
        "    return {'double': int(n) * 2, 'word': word, 'ds': context['ds'], 'task': context['task'],\n"
        "            'ld_type': type(context['logical_date']).__name__}\n"
        "def plain(x):\n"
        "    return {'x': x}\n")
    write_pipeline("kinds", """
        params: {n: "3"}
        tasks:
          sh:
            run: echo "a b" | tr a-z A-Z > sh.out; echo k=v1 >> $PIPE_OUTPUT
          argv:
            run: [sh, -c, 'echo "$0 $1" > argv.out', "x;y", "$HOME"]
          strict:
            shell: [bash, -euo, pipefail, -c]
            run: false | cat; echo should-not-run > strict.out
          py:
            python: mymod:main
            with: {n: "{{ params.n }}", word: "it's; rm -rf /"}
          py2:
            python: mymod:plain
            with: {x: [1, 2, {y: "{{ ds }}"}]}
        """)
    doc = run_json(project, "kinds", code=1)
    st = states(doc)
    assert st == {"sh": "succeeded", "argv": "succeeded", "strict": "failed", "py": "succeeded", "py2": "succeeded"}
    folder = project / "pipelines"
    assert (folder / "sh.out").read_text() == "A B\n"
    assert (folder / "argv.out").read_text() == "x;y $HOME\n"     # argv list: data, no shell
    assert not (folder / "strict.out").exists()                 # pipefail + -e stopped it
    assert doc["tasks"]["sh"]["outputs"] == {"k": "v1"}
    out = doc["tasks"]["py"]["outputs"]
    assert out["double"] == 6 and out["word"] == "it's; rm -rf /" and out["task"] == "py"
    assert out["ds"] == doc["logical_date"][:10] and out["ld_type"] == "datetime"
    assert doc["tasks"]["py2"]["outputs"]["x"][2]["y"] == doc["logical_date"][:10]


def test_outputs_to_downstream_template_and_quoting(project, write_pipeline):
    write_pipeline("outs", """
        tasks:
          a:
            run: |
              echo 'k=hello; touch pwned' >> "$PIPE_OUTPUT"
              echo 'n=42' >> "$PIPE_OUTPUT"
          b:
            deps: [a]
            run: printf '%s|%s\\n' {{ tasks.a.outputs.k }} {{ tasks.a.outputs.n }} > b.out
        """)
    doc = run_json(project, "outs")
    assert states(doc) == {"a": "succeeded", "b": "succeeded"}
    assert (project / "pipelines" / "b.out").read_text() == "hello; touch pwned|42\n"
    assert not (project / "pipelines" / "pwned").exists()


def test_pipe_env_vars(project, write_pipeline):
    write_pipeline("envs", """
        params: {city: Seattle, max_n: 3}
        tasks:
          show:
            run: env | grep '^PIPE_' | sort > env.out
        """)
    doc = run_json(project, "envs", "-p", "city=Paris")
    env = dict(line.split("=", 1) for line in (project / "pipelines" / "env.out").read_text().splitlines())
    assert env["PIPE_PIPELINE"] == "envs"
    assert env["PIPE_TASK"] == "show"
    assert env["PIPE_RUN_ID"] == doc["run_id"]
    assert env["PIPE_ATTEMPT"] == "1"
    assert env["PIPE_DS"] == doc["logical_date"][:10]
    assert env["PIPE_LOGICAL_DATE"] == doc["logical_date"]
    assert env["PIPE_DATA_INTERVAL_START"] == doc["data_interval_start"]
    assert env["PIPE_DATA_INTERVAL_END"] == doc["data_interval_end"]
    assert env["PIPE_PARAM_CITY"] == "Paris"
    assert env["PIPE_PARAM_MAX_N"] == "3"
    assert env["PIPE_OUTPUT"].startswith(str(project / ST))


def test_template_context_daily_timezone(project, write_pipeline):
    write_pipeline("daily", """
        schedule: "@daily"
        timezone: Europe/Amsterdam
        tasks:
          t:
            run: echo "{{ ds }} {{ ds_nodash }} {{ ts }} {{ data_interval_end }} $PIPE_LOGICAL_DATE" > ctx.out
        """)
    doc = run_json(project, "daily", "--date", "2026-11-03T10:00")
    text = (project / "pipelines" / "ctx.out").read_text().split()
    assert text[0] == "2026-11-03" and text[1] == "20261103"
    assert text[2] == "2026-11-03T00:00:00+01:00"
    assert text[3].startswith("2026-11-04") and text[3].endswith("+01:00")
    assert text[4] == "2026-11-03T00:00:00+01:00"
    assert doc["logical_date"] == "2026-11-03T00:00:00+01:00"
    # a date just after midnight UTC, but before midnight in Amsterdam? (23:30Z = 00:30 +01)
    run_json(project, "daily", "--date", "2026-11-05T23:30:00+00:00")
    assert (project / "pipelines" / "ctx.out").read_text().split()[0] == "2026-11-06"


# -- retries and timeouts ---------------------------------------------------------------

def test_retries_delay_backoff(project, write_pipeline):
    write_pipeline("retry", """
        tasks:
          flaky:
            run: |
              echo "try $PIPE_ATTEMPT at $(date +%s.%N)"
              date +%s.%N >> times.txt
              [ "$PIPE_ATTEMPT" -ge 3 ]
            retries: 3
            retry_delay: 0.3
            retry_backoff: 2
          never:
            run: echo "nope $PIPE_ATTEMPT"; exit 3
            retries: 1
            retry_delay: 0
        """)
    doc = run_json(project, "retry", code=1)
    assert doc["tasks"]["flaky"]["state"] == "succeeded" and doc["tasks"]["flaky"]["attempt"] == 3
    assert doc["tasks"]["never"]["state"] == "failed" and doc["tasks"]["never"]["attempt"] == 2
    assert doc["tasks"]["never"]["exit_code"] == 3
    times = [float(x) for x in (project / "pipelines" / "times.txt").read_text().split()]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6
    logs = Path(only_run(project, "retry")) / "logs"
    for n in (1, 2, 3):
        assert (logs / f"flaky.{n}.log").read_text().startswith(f"try {n} ")
    assert not (logs / "flaky.4.log").exists()
    assert sorted(p.name for p in logs.glob("never.*")) == ["never.1.log", "never.2.log"]
    r = cli(project, "logs", "retry", "flaky", "--attempt", "2")
    assert r.returncode == 0 and r.stdout.startswith("try 2 ")
    r = cli(project, "logs", "retry", "flaky")
    assert r.returncode == 0 and r.stdout.startswith("try 3 ")
    r = cli(project, "logs", "retry")          # default: the failed tasks of the latest run
    assert r.returncode == 0 and "nope 2" in r.stdout and "try" not in r.stdout
    events = [e for e in map(json.loads, (only_run(project, "retry") / "events.jsonl").read_text().splitlines())
              if e.get("task") == "flaky"]
    assert [e["state"] for e in events].count("retrying") == 2


# -- trigger rules ----------------------------------------------------------------------

def test_trigger_rules(project, write_pipeline):
    write_pipeline("trig", """
        tasks:
          ok1: {run: "true"}
          ok2: {run: "true"}
          bad1: {run: "false"}
          bad2: {run: "false"}
          all_done_mixed: {run: "true", deps: [ok1, bad1], trigger: all_done}
          one_failed_yes: {run: "true", deps: [ok1, bad1], trigger: one_failed}
          one_failed_no: {run: "true", deps: [ok1, ok2], trigger: one_failed}
          all_failed_yes: {run: "true", deps: [bad1, bad2], trigger: all_failed}
          all_failed_no: {run: "true", deps: [ok1, bad1], trigger: all_failed}
          one_success_yes: {run: "true", deps: [ok1, bad1], trigger: one_success}
          one_success_no: {run: "true", deps: [bad1, bad2], trigger: one_success}
          none_failed_yes: {run: "true", deps: [ok1, ok2], trigger: none_failed}
          none_failed_no: {run: "true", deps: [ok1, bad1], trigger: none_failed}
          all_success_yes: {run: "true", deps: [ok1, ok2]}
          all_success_no: {run: "true", deps: [ok1, bad1], trigger: all_success}
          after_skip: {run: "true", deps: [one_failed_no], trigger: none_failed}
          after_skip_all: {run: "true", deps: [one_failed_no]}
        """)
    st = states(run_json(project, "trig", code=1))
    assert st["all_done_mixed"] == "succeeded"
    assert st["one_failed_yes"] == "succeeded"
    assert st["one_failed_no"] == "skipped"
    assert st["all_failed_yes"] == "succeeded"
    assert st["all_failed_no"] == "skipped"
    assert st["one_success_yes"] == "succeeded"
    assert st["one_success_no"] == "upstream_failed"
    assert st["none_failed_yes"] == "succeeded"
    assert st["none_failed_no"] == "upstream_failed"
    assert st["all_success_yes"] == "succeeded"
    assert st["all_success_no"] == "upstream_failed"
    assert st["after_skip"] == "succeeded"          # skipped counts as not failed


def test_upstream_failed_propagates_independent_branch_goes_on(project, write_pipeline):
    write_pipeline("diamond", """
        tasks:
          root: {run: "true"}
          left: {run: "exit 4", deps: [root]}
          right: {run: "sleep 0.3; echo right > right.out", deps: [root]}
          join: {run: "true", deps: [left, right]}
          after_join: {run: "true", deps: [join]}
          right2: {run: "echo r2 > r2.out", deps: [right]}
        """)
    r = cli(project, "run", "diamond")
    assert r.returncode == 1, r.stderr
    doc = latest(project, "diamond")
    assert states(doc) == {"root": "succeeded", "left": "failed", "right": "succeeded",
                           "join": "upstream_failed", "after_join": "upstream_failed", "right2": "succeeded"}
    assert doc["state"] == "failed"
    assert doc["tasks"]["left"]["exit_code"] == 4
    assert (project / "pipelines" / "r2.out").exists()


# -- exit codes and options ------------------------------------------------------------

def test_exit_codes_bad_input(project, write_pipeline):
    write_pipeline("ok", """
        params: {a: "1"}
        tasks:
          t: {run: "true"}
          u: {run: "true", deps: [t]}
        """)
    assert cli(project, "run", "ok").returncode == 0
    for args in (["-p", "undeclared=1"], ["--only", "nosuchtask"], ["--from", "nosuchtask"],
                 ["-p", "novalue"], ["--concurrency", "0"], ["--date", "not-a-date"]):
        r = cli(project, "run", "ok", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip()
    assert cli(project, "run", "nosuchpipeline").returncode == 2
    write_pipeline("broken", "tasks:\n  t: {run: true, deps: [zz]}\n")
    assert cli(project, "run", "broken").returncode == 2
    assert len(list(runs_dir(project, "ok").iterdir())) == 1      # bad input: no run folder
    assert cli(project, "status", "ok", "--run", "nosuchrun").returncode == 2
    assert cli(project, "logs", "ok", "nosuchtask").returncode == 2


def test_fail_fast(project, write_pipeline):
    write_pipeline("ff", """
        tasks:
          bad: {run: "sleep 0.2; false"}
          slow: {run: "sleep 30"}
          later: {run: "true", deps: [slow]}
        """)
    # timeout=20: slow (30 s) is stopped, not waited for
    doc = run_json(project, "ff", "--fail-fast", env={"PIPE_KILL_GRACE": "1"}, code=1, timeout=20)
    assert states(doc) == {"bad": "failed", "slow": "cancelled", "later": "pending"}
    assert doc["tasks"]["slow"]["reason"] == "--fail-fast: bad failed"    # stopped by pipe, not a failure
    assert doc["state"] == "failed"


def test_only_and_from(project, write_pipeline):
    write_pipeline("chain", """
        tasks:
          a: {run: "echo x=1 >> $PIPE_OUTPUT; echo a >> ran.txt"}
          b: {run: "echo b-{{ tasks.a.outputs.x }} >> ran.txt", deps: [a]}
          c: {run: "echo c >> ran.txt", deps: [b]}
          d: {run: "echo d >> ran.txt"}
        """)
    ran = project / "pipelines" / "ran.txt"
    run_json(project, "chain")
    ran.unlink()
    doc = run_json(project, "chain", "--only", "b,d")
    assert sorted(ran.read_text().split()) == ["b-1", "d"]
    assert states(doc)["b"] == states(doc)["d"] == "succeeded"
    attempts = {t: v["attempt"] for t, v in doc["tasks"].items()}
    assert attempts == {"a": 0, "b": 1, "c": 0, "d": 1}        # a and c not run: shown as kept
    ran.unlink()
    run_json(project, "chain", "--from", "b")
    assert ran.read_text().split() == ["b-1", "c"]


def test_force_vs_generates(project, write_pipeline):
    folder = project / "pipelines"
    write_pipeline("make", """
        tasks:
          build:
            run: cat src.txt > out.txt; echo built >> count.txt
            sources: [src.txt]
            generates: [out.txt]
          down:
            run: echo down >> count.txt
            deps: [build]
        """)
    (folder / "src.txt").write_text("v1")
    count = folder / "count.txt"
    run_json(project, "make")
    assert count.read_text().split() == ["built", "down"]
    now = time.time()
    os.utime(folder / "src.txt", (now - 100, now - 100))
    os.utime(folder / "out.txt", (now - 50, now - 50))
    doc = run_json(project, "make")
    assert doc["tasks"]["build"]["state"] == "skipped"
    assert doc["tasks"]["down"]["state"] == "succeeded"       # skipped counts as done
    assert count.read_text().split() == ["built", "down", "down"]
    doc = run_json(project, "make", "--force")
    assert doc["tasks"]["build"]["state"] == "succeeded"
    assert count.read_text().split().count("built") == 2
    # a source newer than the output: runs again
    os.utime(folder / "out.txt", (now - 100, now - 100))
    os.utime(folder / "src.txt", (now - 10, now - 10))
    assert run_json(project, "make")["tasks"]["build"]["state"] == "succeeded"
    assert count.read_text().split().count("built") == 3


def test_dry_run(project, write_pipeline):
    write_pipeline("dry", """
        params: {who: "a b"}
        tasks:
          t: {run: "echo hi {{ params.who }} > dry.out"}
          u: {run: "echo {{ tasks.t.outputs.k }}", deps: [t]}
        """)
    r = cli(project, "run", "dry", "--dry-run", "-p", "who=x;y")
    assert r.returncode == 0, r.stderr
    assert "echo hi 'x;y' > dry.out" in r.stdout
    assert not (project / "pipelines" / "dry.out").exists()
    assert not (project / ST / "dry" / "runs").exists() or not list(runs_dir(project, "dry").iterdir())
    r = cli(project, "run", "dry", "--dry-run", "--json")
    assert r.returncode == 0
    json.loads(r.stdout)
    assert not (project / ST / "dry" / "runs").exists() or not list(runs_dir(project, "dry").iterdir())


def test_json_is_one_document(project, write_pipeline):
    write_pipeline("js", """
        tasks:
          noisy: {run: "echo stdout-noise; echo stderr-noise >&2"}
          bad: {run: "echo out; exit 1"}
        """)
    r = cli(project, "run", "js", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)        # raises if there is anything else on stdout
    assert doc["state"] == "failed" and "noise" not in r.stdout
    for args in (["status", "--json"], ["status", "js", "--json"], ["status", "js", "--run", doc["run_id"], "--json"]):
        r = cli(project, *args)
        assert r.returncode == 0
        json.loads(r.stdout)
    r = cli(project, "status", "js", "--run", doc["run_id"], "--json")
    assert json.loads(r.stdout)["run"]["run_id"] == doc["run_id"]
    r = cli(project, "status", "js")
    assert r.returncode == 0 and doc["run_id"] in r.stdout and "bad" in r.stdout
    r = cli(project, "status", "js", "--run", doc["run_id"])
    assert r.returncode == 0 and "failed" in r.stdout


def test_concurrency_limit(project, write_pipeline):
    tasks = "\n".join(
        f"  t{i}: {{run: 'echo start $(date +%s.%N) >> t{i}.ts; sleep 0.3; echo end $(date +%s.%N) >> t{i}.ts'}}"
        for i in range(6))
    write_pipeline("conc", "concurrency: 2\ntasks:\n" + tasks + "\n")
    run_json(project, "conc")
    spans = []
    for i in range(6):
        lines = dict(l.split() for l in (project / "pipelines" / f"t{i}.ts").read_text().splitlines())
        spans.append((float(lines["start"]), float(lines["end"])))
    most = max(sum(1 for s, e in spans if s <= at < e) for at, _ in spans)
    assert most == 2
    (project / "pipelines").joinpath("conc.yaml").write_text("concurrency: 5\ntasks:\n" + tasks + "\n")
    run_json(project, "conc", "--concurrency", "1")
    spans = []
    for i in range(6):
        lines = (project / "pipelines" / f"t{i}.ts").read_text().splitlines()[2:]
        d = dict(l.split() for l in lines)
        spans.append((float(d["start"]), float(d["end"])))
    assert max(sum(1 for s, e in spans if s <= at < e) for at, _ in spans) == 1


def test_critical_path_first(project, write_pipeline):
    write_pipeline("crit", """
        concurrency: 1
        tasks:
          lone1: {run: "echo lone1 >> order.txt"}
          lone2: {run: "echo lone2 >> order.txt"}
          c1: {run: "echo c1 >> order.txt"}
          c2: {run: "echo c2 >> order.txt", deps: [c1]}
          c3: {run: "echo c3 >> order.txt", deps: [c2]}
        """)
    run_json(project, "crit")
    order = (project / "pipelines" / "order.txt").read_text().split()
    assert order[0] == "c1", order


def test_chain_tail_before_side_tasks_without_history(project, write_pipeline):
    """With no history every task is guessed equally long, so c2 (last of a chain) and
    the side tasks tie on remaining work; the tie goes to the longer path through the
    task, so the chain is not left waiting behind side tasks declared before it."""
    write_pipeline("tail", """
        concurrency: 1
        tasks:
          side1: {run: "echo side1 >> order.txt"}
          side2: {run: "echo side2 >> order.txt"}
          c1: {run: "echo c1 >> order.txt"}
          c2: {run: "echo c2 >> order.txt", deps: [c1]}
        """)
    run_json(project, "tail")
    assert (project / "pipelines" / "order.txt").read_text().split() == ["c1", "c2", "side1", "side2"]


def test_events_and_permissions(project, write_pipeline):
    write_pipeline("perm", """
        tasks:
          a: {run: "echo k=v >> $PIPE_OUTPUT; echo log"}
          b: {run: "exit 1", deps: [a]}
        """)
    cli(project, "run", "perm")
    run = only_run(project, "perm")
    lines = (run / "events.jsonl").read_text().splitlines()
    assert lines
    for line in lines:
        e = json.loads(line)
        assert isinstance(e["event"], str) and isinstance(e["time"], str)
    assert json.loads(lines[0])["event"] == "run_started"
    assert json.loads(lines[-1])["event"] == "run_finished"
    for path in [project / ST, *(project / ST).rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, (path, oct(mode))
        else:
            assert mode == 0o600, (path, oct(mode))


def test_big_output_fully_logged(project, write_pipeline):
    write_pipeline("big", """
        tasks:
          big: {run: "head -c 50000000 /dev/zero | tr '\\\\0' x; echo; echo END"}
        """)
    doc = run_json(project, "big")
    assert doc["tasks"]["big"]["state"] == "succeeded"
    log = only_run(project, "big") / "logs" / "big.1.log"
    assert log.stat().st_size == 50_000_000 + 5
    with open(log, "rb") as f:
        f.seek(-6, 2)
        assert f.read() == b"x\nEND\n"


def test_critical_path_uses_history(project, write_pipeline):
    write_pipeline("hist", """
        concurrency: 1
        tasks:
          y1: {run: "echo y1 >> order.txt"}
          y2: {run: "echo y2 >> order.txt", deps: [y1]}
          x: {run: "sleep 0.8; echo x >> order.txt"}
        """)
    order = project / "pipelines" / "order.txt"
    run_json(project, "hist")
    assert order.read_text().split()[0] == "y1"      # no history: the longer chain first
    order.unlink()
    run_json(project, "hist")
    assert order.read_text().split()[0] == "x", order.read_text()   # x is known to be long now


def test_failures_to_start_and_python_errors(project, write_pipeline):
    (project / "pipelines" / "boom.py").write_text(
        "def main():\n    print('before', flush=True)\n    raise RuntimeError('kaput')\n"
        "def notdict():\n    return [1]\n")
    write_pipeline("errs", """
        tasks:
          nocmd: {run: "no_such_command_xyz --flag"}
          nocmd_sh: {run: "no_such_command_xyz > /dev/null"}
          pyexc: {python: "boom:main"}
          pylist: {python: "boom:notdict"}
          nomod: {python: "nosuchmodule:main", env: {PYTHONPATH: "{{ ds }}"}}   # not certain before the run
          badout: {run: "echo 'not a pair' >> $PIPE_OUTPUT"}
          multi: {run: "printf 'text<<EOF\\nline1\\nline2\\nEOF\\n' >> $PIPE_OUTPUT"}
          fine: {run: "true"}
          colon: {run: ":"}
        """)
    doc = run_json(project, "errs", code=1)
    st = states(doc)
    assert st == {"nocmd": "failed", "nocmd_sh": "failed", "pyexc": "failed", "pylist": "failed",
                  "nomod": "failed", "badout": "failed", "multi": "succeeded", "fine": "succeeded",
                  "colon": "succeeded"}
    assert "not found" in doc["tasks"]["nocmd"]["reason"]
    assert doc["tasks"]["nocmd"]["exit_code"] == 127 and doc["tasks"]["nocmd_sh"]["exit_code"] == 127
    assert doc["tasks"]["multi"]["outputs"] == {"text": "line1\nline2"}
    r = cli(project, "logs", "errs", "pyexc")
    assert "before" in r.stdout and "RuntimeError: kaput" in r.stdout
    r = cli(project, "logs", "errs")
    for t in ("nocmd", "pyexc", "pylist", "nomod", "badout"):
        assert f"==> {t} attempt 1" in r.stdout


def test_plain_output_not_on_a_terminal(project, write_pipeline):
    write_pipeline("plain", """
        tasks:
          a: {run: "true"}
          b: {run: "false", deps: [a]}
        """)
    r = cli(project, "run", "plain", env={"TERM": "xterm-256color"})
    assert r.returncode == 1
    assert "\x1b" not in r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any("a" in l and "succeeded" in l for l in lines)
    assert any("b" in l and "failed" in l for l in lines)


def test_big_output_with_secret_is_masked_and_complete(project, write_pipeline):
    write_pipeline("bigsec", """
        secrets: [MY_TOKEN]
        tasks:
          big: {run: "echo start $MY_TOKEN; head -c 20000000 /dev/zero | tr '\\\\0' x; echo; echo end $MY_TOKEN"}
        """)
    doc = run_json(project, "bigsec", env={"MY_TOKEN": "s3cr3t-value"}, timeout=60)
    assert doc["tasks"]["big"]["state"] == "succeeded"
    log = (only_run(project, "bigsec") / "logs" / "big.1.log").read_bytes()
    assert b"s3cr3t-value" not in log
    assert log.startswith(b"start ***\n") and log.endswith(b"x\nend ***\n")
    assert len(log) == len(b"start ***\n") + 20_000_000 + 1 + len(b"end ***\n")


def test_pipeline_level_shell_and_argv_templates(project, write_pipeline):
    write_pipeline("sh2", """
        shell: [bash, -euo, pipefail, -c]
        params: {x: "a b; c"}
        tasks:
          a: {run: "false | cat; echo no > a.out"}
          b: {run: [printf, "%s|", "{{ params.x }}", "{{ ds }}"]}
          c: {run: "echo ${BASH_VERSION:+bash} > c.out"}
          d: {run: "echo plain words > d.out", shell: [sh, -c]}
        """)
    doc = run_json(project, "sh2", code=1)
    assert states(doc) == {"a": "failed", "b": "succeeded", "c": "succeeded", "d": "succeeded"}
    folder = project / "pipelines"
    assert not (folder / "a.out").exists()
    assert (folder / "c.out").read_text() == "bash\n"
    assert (folder / "d.out").read_text() == "plain words\n"
    log = (only_run(project, "sh2") / "logs" / "b.1.log").read_text()
    assert log == f"a b; c|{doc['logical_date'][:10]}|"


@pytest.mark.parametrize("task", ['{run: "true", workdir: missing_dir}', '{run: "no_such_command_xyz"}'])
def test_a_task_that_cannot_start_alone_does_not_hang(project, write_pipeline, task):
    write_pipeline("nostart", f"tasks:\n  t: {task}\n")
    r = cli(project, "run", "nostart", "--json", timeout=20)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tasks"]["t"]["state"] == "failed" and "cannot start" in doc["tasks"]["t"]["reason"]


def test_live_table_on_a_terminal(project, write_pipeline):
    """On a terminal `pipe run` draws the Rich table; its last frame shows every task."""
    write_pipeline("tty", """
        concurrency: 2
        tasks:
          first: {run: "sleep 0.3"}
          second: {run: "true", deps: [first]}
          broken: {run: "exit 3"}
        """)
    main, side = os.openpty()
    proc = subprocess.Popen(pipe_cmd("run", "tty"), cwd=project, stdin=side, stdout=side, stderr=side,
                            env=clean_env({"COLUMNS": "120", "TERM": "xterm"}))
    os.close(side)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:        # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.wait(timeout=60) == 1
    text = out.decode(errors="replace")
    assert "Traceback" not in text
    last_frame = text[text.rindex("┏"):]           # the table as drawn when the run ended
    for task, state in (("first", "succeeded"), ("second", "succeeded"), ("broken", "failed")):
        row = next(line for line in last_frame.splitlines() if f" {task} " in line)
        assert state in row, row
    assert "exit code 3" in last_frame
