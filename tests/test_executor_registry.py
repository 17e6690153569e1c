"""An executor is one place: the registry. A test executor, registered here and nowhere
else, runs a pipeline through the commands layer (the same call the CLI makes); its name
is chosen like a built-in one and recorded in the run's events."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline_cli import executors
from pipeline_cli.attempt import FAILED, SUCCEEDED, Outcome, Started
from pipeline_cli.commands import runs
from pipeline_cli.commands.project import Globals
from pipeline_cli.errors import UsageError
from pipeline_cli.executors import ExecutorKind, ExecutorOption


class InlineExecutor:
    """Runs each attempt to its end at submit (no process group, no parallelism)."""

    name = "inline"

    def __init__(self, inline_tag: str | None = None):
        self.tag = inline_tag or ""
        self.ended: list[tuple[str, Outcome]] = []

    def open(self, wake_fd):
        pass

    def capacity(self):
        return 1

    def check(self, specs, pipeline_file):
        pass

    def submit(self, spec):
        with open(spec.log_path, "ab") as log:
            code = subprocess.run(spec.argv, cwd=spec.cwd, env={**dict(__import__("os").environ), **spec.env,
                                                                 "INLINE_TAG": self.tag},
                                  stdout=log, stderr=subprocess.STDOUT).returncode
        self.ended.append((spec.key, Outcome(kind=SUCCEEDED if code == 0 else FAILED, exit_code=code,
                                             reason=None if code == 0 else f"exit code {code}", worker="inline")))
        return Started(worker="inline", handle={})

    def wait(self, timeout):
        done, self.ended = self.ended, []
        return done

    def placed(self):
        return []

    def cancel(self, key, reason, grace=0):
        pass

    def stop_leftovers(self, handles):
        pass

    def kill_all(self):
        pass

    def running(self):
        return 0

    def close(self, hard=False):
        pass


@pytest.fixture
def inline():
    executors.register(ExecutorKind("inline", "in this process, one at a time", InlineExecutor,
                                    (ExecutorOption("inline_tag", "--inline-tag", "PIPE_INLINE_TAG", chooses=True),)))
    yield
    executors.REGISTRY.pop("inline")


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "p.yaml").write_text(
        "tasks:\n  a: {run: 'echo from-a \"$INLINE_TAG\"'}\n  b: {run: 'echo from-b', deps: [a]}\n")
    monkeypatch.chdir(tmp_path)
    for var in ("PIPE_EXECUTOR", "PIPE_DASK_SCHEDULER", "PIPE_INLINE_TAG", "PIPE_PIPELINES_DIR", "PIPE_STATE_DIR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _events(view) -> list[dict]:
    return [json.loads(line) for line in (view.dir / "events.jsonl").read_text().splitlines()]


def test_a_registered_executor_runs_a_pipeline_by_its_name(inline, project):
    view = runs.run(Globals.make(), "p", executor="inline").view
    assert view.state == "succeeded"
    assert _events(view)[0]["executor"] == "inline"
    assert [view.tasks[t].worker for t in ("a", "b")] == ["inline", "inline"]
    assert (view.dir / "logs" / "a.1.log").read_text() == "from-a \n"


def test_an_option_of_the_registered_executor_alone_chooses_it(inline, project, monkeypatch):
    monkeypatch.setenv("PIPE_INLINE_TAG", "tagged")
    assert executors.from_options() is None           # nothing given on the line: the default
    view = runs.run(Globals.make(), "p", inline_tag="tagged").view
    assert _events(view)[0]["executor"] == "inline"
    assert (view.dir / "logs" / "a.1.log").read_text() == "from-a tagged\n"
    ex = executors.make_executor()                    # the run core's default reads the variable
    assert isinstance(ex, InlineExecutor) and ex.tag == "tagged"


def test_an_unknown_executor_is_one_clear_error(inline, project):
    with pytest.raises(UsageError) as e:
        executors.make_executor("inlin")
    assert str(e.value) == ("--executor 'inlin': expected one of local, dask, inline; did you mean 'inline'?")


def test_the_command_line_offers_exactly_the_registered_executors(project):
    r = subprocess.run([sys.executable, "-m", "pipeline_cli", "run", "p", "--executor", "nope"],
                       capture_output=True, text=True, cwd=project)
    assert r.returncode == 2
    assert "expected one of local, dask" in r.stderr and "Traceback" not in r.stderr
