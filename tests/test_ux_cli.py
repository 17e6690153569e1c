"""A day with pipe, through the real CLI: deploy (init, the crontab line, project root),
schedule (quiet tick, missing folders, required params), watch (--json everywhere, status
filters, logs -f, backfill's reasons) and the exit codes that come from results."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import clean_env

ROOT = Path(__file__).resolve().parents[1]
HOURLY = 'schedule: "@hourly"\nstart_date: 2026-11-05\ntasks:\n  a:\n    run: echo a\n'
FAILING = 'schedule: "@hourly"\nstart_date: 2026-11-05\ntasks:\n  a:\n    run: echo broken; exit 3\n'


def pipe_in(cwd: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline_cli", *map(str, args)], cwd=cwd, env=clean_env(env),
                          text=True, capture_output=True, timeout=timeout)


# --- deploy --------------------------------------------------------------------------------------

def readme_crontab_line() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```cron\n(.*?)\n```", text, re.S)
    assert block, "the README has a ```cron block"
    return block.group(1).strip()


def test_readme_crontab_line_is_the_one_in_help(pipe):
    line = readme_crontab_line()
    assert pipe("--help").stdout.count(line) == 1
    assert line in pipe("tick", "--help").stdout


def test_readme_crontab_line_works_on_a_fresh_project(tmp_path):
    """The exact command of the README's crontab line, run by sh as cron runs it (a bare
    environment), in a copy of the project as deployed: nothing created by hand."""
    project = tmp_path / "srv project"
    shutil.copytree(ROOT / "pipelines", project / "pipelines",
                    ignore=shutil.ignore_patterns("__pycache__", ".pipe"))
    (project / ".venv").symlink_to(Path(sys.executable).parent.parent)
    assert (project / ".venv" / "bin" / "pipe").exists()
    fields = readme_crontab_line().split(None, 5)
    assert fields[:5] == ["*"] * 5
    command = fields[5].replace("/srv/project", "'" + str(project) + "'")
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SHELL": "/bin/sh", "LOGNAME": "cron"}
    r = subprocess.run(["sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (r.stdout, r.stderr) == ("", ""), "a tick whose runs succeeded is quiet: cron mails nothing"
    status = json.loads(pipe_in(project, "status", "weather", "--json").stdout)
    assert status["run"]["kind"] == "scheduled" and status["run"]["state"] == "succeeded"
    # and the next minute, nothing is due: still quiet
    r = subprocess.run(["sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=300)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_init_writes_a_pipeline_that_validates_and_runs(project, pipe):
    r = pipe("init", "sales")
    assert r.returncode == 0, r.stderr
    assert "pipe validate sales" in r.stdout and "pipe run sales" in r.stdout and "crontab" in r.stdout
    assert f"cd {project.resolve()} && " in r.stdout
    text = (project / "pipelines" / "sales.yaml").read_text()
    assert "schedule:" in text and "deps:" in text and "python:" in text and "tasks.write.outputs.path" in text
    assert text.count("#") > 10, "commented"
    r = pipe("validate", "sales")
    assert r.returncode == 0 and r.stderr == "", r.stderr      # no warning either
    r = pipe("run", "sales", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {t: v["state"] for t, v in doc["tasks"].items()} == dict.fromkeys(["write", "count", "report"], "succeeded")
    assert doc["tasks"]["count"]["outputs"] == {"words": 3}
    log = pipe("logs", "sales", "report")
    assert "has 3 words" in log.stdout
    # a second init of the same name refuses, and says why
    r = pipe("init", "sales")
    assert r.returncode == 2 and "exists already" in r.stderr
    assert pipe("init", "Bad Name").returncode == 2


def test_init_in_an_empty_folder_makes_the_project(tmp_path):
    r = pipe_in(tmp_path, "init")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "pipelines" / "hello.yaml").is_file()
    assert pipe_in(tmp_path, "run", "hello").returncode == 0
    assert (tmp_path / ".pipe").is_dir()


# --- project root --------------------------------------------------------------------------------

def test_project_root_found_from_a_subfolder(project, pipe, write_pipeline):
    write_pipeline("simple", "tasks:\n  a:\n    run: echo hi\n")
    inside = project / "pipelines"
    for args in (["run", "simple"], ["run", "simple.yaml"]):
        r = pipe_in(inside, *args)
        assert r.returncode == 0, (args, r.stderr)
    assert not (inside / ".pipe").exists(), "no second state folder below the root"
    deeper = project / "pipelines" / "sub" / "deeper"
    deeper.mkdir(parents=True)
    assert pipe_in(deeper, "run", "simple").returncode == 0
    ids = json.loads(pipe("status", "simple", "--json").stdout)["pipelines"][0]["runs"]
    assert len(ids) == 3, "all three runs are in the root's .pipe/"


def test_pipeline_path_inside_another_project_uses_its_state(project, pipe, write_pipeline, tmp_path_factory):
    path = write_pipeline("simple", "tasks:\n  a:\n    run: echo hi\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    r = pipe_in(elsewhere, "run", str(path))
    assert r.returncode == 0, r.stderr
    assert not (elsewhere / ".pipe").exists()
    assert (project / ".pipe" / "simple").is_dir()
    # without any project, the current folder is the root
    (elsewhere / "x.yaml").write_text("tasks:\n  a:\n    run: echo hi\n")
    assert pipe_in(elsewhere, "run", "x.yaml").returncode == 0
    assert (elsewhere / ".pipe" / "x").is_dir()


def test_global_options_before_or_after_the_command(project, pipe, write_pipeline):
    other = project / "flows"
    other.mkdir()
    (other / "alt.yaml").write_text("tasks:\n  a:\n    run: echo hi\n")
    for args in (["--pipelines-dir", "flows", "validate"], ["validate", "--pipelines-dir", "flows"],
                 ["validate", "--pipelines-dir=flows"], ["run", "alt", "--pipelines-dir", "flows", "--state-dir", "st"]):
        r = pipe(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert (project / "st" / "alt").is_dir()


def test_no_hidden_options(pipe):
    """tick's children are a library call: the old internal option is gone, and every
    option the parser knows is in the help of its command."""
    r = pipe("tick", "--pipeline-file", "x")
    assert r.returncode == 2 and "unknown option --pipeline-file" in r.stderr
    import click

    from pipeline_cli import cli

    for name in cli.command_names():
        text = cli.help_text(name)
        for opt in cli.find(name).params:
            for flag in getattr(opt, "opts", []) if isinstance(opt, click.Option) else []:
                assert flag in text, (name, flag)


# --- schedule --------------------------------------------------------------------------------------

def test_tick_is_quiet_when_runs_succeed_and_says_failures(project, pipe, write_pipeline):
    write_pipeline("good", HOURLY)
    r = pipe("tick", "--now", "2026-11-05T01:00:30+00:00")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = pipe("tick", "--now", "2026-11-05T02:00:30+00:00", "-v")
    assert r.returncode == 0
    assert "good run " in r.stdout and "succeeded" in r.stdout, "-v prints progress"
    write_pipeline("bad", FAILING)
    r = pipe("tick", "--now", "2026-11-05T03:00:30+00:00")
    assert r.returncode == 1
    assert "bad a failed" in r.stdout and "broken" in r.stdout and "pipe logs bad a" in r.stdout
    assert "good" not in r.stdout, "the run that succeeded says nothing"


def test_tick_json(project, pipe, write_pipeline):
    write_pipeline("good", HOURLY)
    write_pipeline("bad", FAILING)
    r = pipe("tick", "--now", "2026-11-05T01:00:30+00:00", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    runs = {p["pipeline"]: p["runs"] for p in doc["pipelines"]}
    assert [x["state"] for x in runs["good"]] == ["succeeded"] and [x["state"] for x in runs["bad"]] == ["failed"]
    assert runs["good"][0]["logical_date"] == "2026-11-05T00:00:00+00:00"
    assert "broken" in r.stderr, "the failure's report goes to stderr, stdout is the document"
    r = pipe("tick", "--now", "2026-11-05T01:00:40+00:00", "--dry-run", "--json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    assert all(p["due"] == [] for p in doc["pipelines"]) and doc["dry_run"] is True


@pytest.mark.parametrize("command", [["tick"], ["list"], ["validate"], ["tick", "--dry-run"]])
def test_missing_pipelines_folder_is_exit_2(tmp_path, command):
    for extra in ([], ["--pipelines-dir", "/nonexistent/pipelines"]):
        r = pipe_in(tmp_path, *command, *extra)
        assert r.returncode == 2, (command, extra, r.stdout, r.stderr)
        assert "no pipelines folder" in r.stderr and "Traceback" not in r.stderr


def test_required_param(project, pipe, write_pipeline):
    write_pipeline("req", 'schedule: "@daily"\nparams: {city: , unit: C}\ntasks:\n  a:\n    run: echo {{ params.city }}\n')
    assert pipe("validate", "req").returncode == 0
    r = pipe("run", "req")
    assert r.returncode == 2
    assert "needs a value for param city" in r.stderr and "-p city=" in r.stderr
    assert not (project / ".pipe" / "req").exists(), "nothing was run"
    r = pipe("run", "req", "-p", "city=Oslo", "--json")
    assert r.returncode == 0, r.stderr
    r = pipe("backfill", "req", "--start", "2026-11-01", "--end", "2026-11-02")
    assert r.returncode == 2 and "city" in r.stderr


# --- watch -------------------------------------------------------------------------------------------

def test_json_on_validate_list_status_backfill(project, pipe, write_pipeline):
    write_pipeline("good", HOURLY)
    write_pipeline("broken", "tasks:\n  a:\n    run: echo\n    deps: [zz]\n")
    r = pipe("validate", "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    files = {Path(f["file"]).stem: f for f in doc["files"]}
    assert files["good"]["valid"] and not files["broken"]["valid"]
    assert files["broken"]["errors"][0]["line"] == 4 and "zz" in files["broken"]["errors"][0]["message"]
    r = pipe("list", "--json")
    assert {p["name"] for p in json.loads(r.stdout)["pipelines"]} == {"good", "broken"}
    # status of a pipeline with no runs: exit 0, said in text and in JSON
    r = pipe("status", "good")
    assert r.returncode == 0 and "no runs yet" in r.stdout
    r = pipe("status", "good", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"pipelines": [{"pipeline": "good", "paused": None, "runs": []}],
                                                              "run": None}
    r = pipe("backfill", "good", "--start", "2026-11-05T00:00", "--end", "2026-11-05T02:00", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [i["state"] for i in doc["intervals"]] == ["succeeded"] * 3
    assert all(i["run_id"] for i in doc["intervals"])


def test_status_shape_limit_and_state_filter(project, pipe, write_pipeline):
    write_pipeline("flip", "params: {code: '0'}\ntasks:\n  a:\n    run: exit {{ params.code }}\n")
    for code in ("0", "1", "0", "1", "0"):
        pipe("run", "flip", "-p", f"code={code}")
    doc = json.loads(pipe("status", "flip", "--json").stdout)
    runs = doc["pipelines"][0]["runs"]
    assert [r["state"] for r in runs] == ["succeeded", "failed", "succeeded", "failed", "succeeded"]
    assert doc["run"]["run_id"] == runs[0]["run_id"], "newest first; the task table is the latest run's"
    doc = json.loads(pipe("status", "flip", "--limit", "2", "--json").stdout)
    assert len(doc["pipelines"][0]["runs"]) == 2
    doc = json.loads(pipe("status", "flip", "--state", "failed", "--json").stdout)
    assert [r["state"] for r in doc["pipelines"][0]["runs"]] == ["failed", "failed"]
    one = json.loads(pipe("status", "flip", "--run", runs[3]["run_id"], "--json").stdout)
    assert set(one) == {"pipelines", "run"} and one["run"]["run_id"] == runs[3]["run_id"]
    every = json.loads(pipe("status", "--json").stdout)
    assert set(every) == {"pipelines", "run"} and every["pipelines"][0]["pipeline"] == "flip"
    r = pipe("status", "flip", "--limit", "0")
    assert r.returncode == 2
    r = pipe("status", "flip", "--state", "bogus")
    assert r.returncode == 2 and "expected one of" in r.stderr


def test_backfill_says_why_an_interval_is_skipped(project, pipe, write_pipeline):
    write_pipeline("hr", HOURLY)
    assert pipe("backfill", "hr", "--start", "2026-11-05T00:00", "--end", "2026-11-05T00:00").returncode == 0
    first = json.loads(pipe("status", "hr", "--json").stdout)["run"]["run_id"]
    r = pipe("backfill", "hr", "--start", "2026-11-05T00:00", "--end", "2026-11-05T01:00")
    assert r.returncode == 0, r.stderr
    assert f"skipped, it already succeeded in run {first} (--rerun runs it again)" in r.stdout
    doc = json.loads(pipe("backfill", "hr", "--start", "2026-11-05T00:00", "--end", "2026-11-05T00:00", "--json").stdout)
    assert doc["intervals"][0]["state"] == "skipped" and doc["intervals"][0]["run_id"] == first
    assert first in doc["intervals"][0]["why"]


def test_only_counts_the_tasks_that_ran_and_resume_says_resumed(project, pipe, write_pipeline):
    write_pipeline("four", """
        tasks:
          a: {run: echo a}
          b: {run: echo b, deps: [a]}
          c: {run: "test -f go", deps: [b]}
          d: {run: echo d, deps: [c]}
        """)
    assert pipe("run", "four").returncode == 1
    failed = json.loads(pipe("status", "four", "--json").stdout)["run"]["run_id"]
    r = pipe("run", "four", "--only", "a,b")
    assert r.returncode == 0, r.stderr
    assert "(2 succeeded)" in r.stdout, r.stdout
    (project / "pipelines" / "go").write_text("")
    r = pipe("resume", "four", failed)
    assert r.returncode == 0, r.stderr
    assert re.search(r"run \S+ resumed \(manual", r.stdout), r.stdout
    assert " started (" not in r.stdout


def test_run_json_with_stdout_closed_is_not_exit_0(project, write_pipeline):
    write_pipeline("simple", "tasks:\n  a:\n    run: echo hi\n")
    command = f"{sys.executable} -m pipeline_cli run simple --json >&-"
    r = subprocess.run(["sh", "-c", command], cwd=project, env=clean_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "stdout is closed" in r.stderr and "Traceback" not in r.stderr
    assert not (project / ".pipe" / "simple").exists(), "nothing was run"
    # every --json command says the same; without --json a closed stdout only loses the text
    for command in (["status", "simple", "--json"], ["list", "--json"], ["validate", "--json"]):
        r = subprocess.run(["sh", "-c", f"{sys.executable} -m pipeline_cli {' '.join(command)} >&-"], cwd=project,
                           env=clean_env(), capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "stdout is closed" in r.stderr, (command, r.stderr)
    r = subprocess.run(["sh", "-c", f"{sys.executable} -m pipeline_cli run simple >&-"], cwd=project,
                       env=clean_env(), capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (0, "")
    # a reader that goes away before the document is written: not 0 either
    r = subprocess.run(["bash", "-c", f"{sys.executable} -m pipeline_cli run simple --json | (exec 0<&-; true); "
                                      "exit ${PIPESTATUS[0]}"], cwd=project, env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_dry_run_says_the_interval_and_params(project, pipe, write_pipeline):
    write_pipeline("daily", 'schedule: "@daily"\nparams: {city: Oslo}\ntasks:\n  a:\n    run: echo {{ ds }}\n')
    r = pipe("run", "daily", "--date", "2026-11-03", "--dry-run", "--json", "-p", "city=Bergen")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["logical_date"] == doc["data_interval_start"] == "2026-11-03T00:00:00+00:00"
    assert doc["data_interval_end"] == "2026-11-04T00:00:00+00:00" and doc["params"] == {"city": "Bergen"}
    assert doc["tasks"][0]["command"] == "echo 2026-11-03"
    r = pipe("run", "daily", "--date", "2026-11-03", "--dry-run")
    assert "dry run for logical date 2026-11-03T00:00:00+00:00 (1 task; nothing is run)" in r.stdout
    assert not (project / ".pipe" / "daily").exists()


def test_logs_of_an_empty_log_say_so(project, pipe, write_pipeline):
    write_pipeline("quiet", "tasks:\n  a:\n    run: 'true'\n")
    assert pipe("run", "quiet").returncode == 0
    r = pipe("logs", "quiet", "a")
    assert r.returncode == 0 and r.stdout == ""
    assert "the log of task a attempt 1 is empty" in r.stderr


def test_logs_follow_a_running_attempt_until_it_ends(project, pipe, write_pipeline):
    write_pipeline("slow", """
        tasks:
          a:
            run: "echo one; while [ ! -f go ]; do sleep 0.05; done; echo two"
        """)
    runner = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "run", "slow"], cwd=project, env=clean_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = pipe("logs", "slow", "a")
            if "one" in r.stdout:
                break
            time.sleep(0.1)
        follower = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "logs", "slow", "a", "-f"], cwd=project,
                                    env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = follower.stdout.readline()
        assert first == "one\n"
        assert follower.poll() is None, "still following while the attempt runs"
        (project / "pipelines" / "go").write_text("")
        rest, err = follower.communicate(timeout=30)
        assert follower.returncode == 0, err
        assert rest == "two\n"
    finally:
        runner.wait(30)
    # without TASK, -f follows the only running task; with nothing running it says so
    r = pipe("logs", "slow", "-f")
    assert r.returncode == 0 and "no running tasks" in r.stderr


# --- completion -------------------------------------------------------------------------------------

def test_completion_candidates(project, pipe, write_pipeline):
    write_pipeline("weather", "tasks:\n  fetch: {run: echo}\n  clean: {run: echo, deps: [fetch]}\n")
    write_pipeline("umbrella", "tasks:\n  a: {run: echo}\n")

    def complete(*words):
        r = pipe("completion", *[x for w in words for x in ("--words", w)])
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert "run" in complete("") and "status" in complete("st") and complete("ru") == ["run"]
    assert complete("run", "w") == ["weather"]
    assert complete("logs", "weather", "") == ["fetch", "clean"]
    assert complete("run", "weather", "--only", "fetch,c") == ["fetch,clean"]
    assert complete("run", "weather", "--fr") == ["--from"]
    assert complete("graph", "weather", "--format", "m") == ["mermaid"]
    assert complete("--state-dir", "x", "status", "u") == ["umbrella"]
    assert complete("notify", "t") == ["test"]
    other = project / "flows"
    other.mkdir()
    (other / "alt.yaml").write_text("tasks:\n  x: {run: echo}\n")
    assert complete("--pipelines-dir", "flows", "run", "") == ["alt"]
    assert complete("logs", "--pipelines-dir=flows", "alt", "") == ["x"]
    assert complete("logs", "--pipelines-dir", "flows", "alt", "") == ["x"]
    assert pipe("run", "weather").returncode == 0
    run_id = json.loads(pipe("status", "weather", "--json").stdout)["run"]["run_id"]
    assert complete("status", "weather", "--run", "") == [run_id]
    assert complete("resume", "weather", "") == ["latest", run_id]
    # the instances of a foreach task, once the word names it
    write_pipeline("fan", "tasks:\n  each: {foreach: [a, b, c], run: echo}\n  other: {run: echo}\n")
    assert pipe("run", "fan").returncode == 0
    assert complete("logs", "fan", "e") == ["each"]
    assert complete("logs", "fan", "each") == ["each", "each[0]", "each[1]", "each[2]"]
    assert complete("logs", "fan", "each[1") == ["each[1]"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash")
def test_bash_completion_script_completes_in_bash(project, pipe, write_pipeline):
    write_pipeline("weather", "tasks:\n  fetch: {run: echo}\n")
    script = pipe("completion", "bash").stdout
    bindir = project / "bin"
    bindir.mkdir()
    (bindir / "pipe").write_text(f"#!/bin/sh\nexec {sys.executable} -m pipeline_cli \"$@\"\n")
    (bindir / "pipe").chmod(0o755)
    test = script + '\nCOMP_WORDS=(pipe logs wea); COMP_CWORD=2; _pipe_completion pipe; printf "%s\\n" "${COMPREPLY[@]}"\n'
    r = subprocess.run(["bash", "-c", test], cwd=project, capture_output=True, text=True, timeout=60,
                       env=clean_env({"PATH": f"{bindir}:{os.environ['PATH']}"}))
    assert r.stdout.split() == ["weather"], r.stderr


def _shim(project: Path) -> dict:
    bindir = project / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "pipe").write_text(f"#!/bin/sh\nexec {sys.executable} -m pipeline_cli \"$@\"\n")
    (bindir / "pipe").chmod(0o755)
    return clean_env({"PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(project)})


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_script_completes_in_fish(project, pipe, write_pipeline):
    write_pipeline("weather", "tasks:\n  fetch: {run: echo}\n")
    (project / "pipe.fish").write_text(pipe("completion", "fish").stdout)
    r = subprocess.run(["fish", "-c", "source pipe.fish; complete -C 'pipe logs wea'; echo sep; "
                                      "complete -C 'pipe logs weather '"],
                       cwd=project, capture_output=True, text=True, timeout=60, env=_shim(project))
    assert r.stdout.split() == ["weather", "sep", "fetch"], r.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completion_script_completes_in_zsh(project, pipe, write_pipeline):
    """The function compdef registers, called as zsh's completion system calls it (compadd,
    a builtin of the completion context only, replaced by one that prints its words)."""
    write_pipeline("weather", "tasks:\n  fetch: {run: echo}\n")
    (project / "pipe.zsh").write_text(pipe("completion", "zsh").stdout)
    script = ("autoload -U compinit; compinit -u -D 2>/dev/null; source ./pipe.zsh; "
              "compadd() { print -l -- \"${(@P)${@[-1]}}\"; }; "
              "_describe() { print -l -- \"${(@)${(@P)3}%%:*}\"; }; "
              "words=(pipe logs wea); CURRENT=3; _pipe_completion; print -- --; "
              "words=(pipe logs weather ''); CURRENT=4; _pipe_completion")
    r = subprocess.run(["zsh", "-f", "-c", script], cwd=project, capture_output=True, text=True, timeout=60,
                       env=_shim(project))
    assert r.stdout.split() == ["weather", "--", "fetch"], r.stderr
