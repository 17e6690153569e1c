"""The run state machine, in-process: trigger rules, retries, fail-fast, cancel, lost
attempts, resume and --only/--from, each a table row that runs in milliseconds. A second
table drives the real run loop with a scripted executor (no processes)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from datetime import datetime, timezone

from pipeline_cli import attempt as base
from pipeline_cli import run
from pipeline_cli.attempt import Outcome, Started
from pipeline_cli.dag import Dag
from pipeline_cli.run.machine import RunMachine
from pipeline_cli.model import Pipeline, Task
from pipeline_cli.state import RunStore, StateDir


def pipeline(spec: dict[str, dict]) -> Pipeline:
    tasks = {tid: Task(id=tid, run="true", deps=tuple(t.get("deps", ())), retries=t.get("retries", 0),
                       trigger=t.get("trigger", "all_success"), retry_delay=t.get("retry_delay", 0.0))
             for tid, t in spec.items()}
    return Pipeline(name="t", path="/nowhere/t.yaml", folder="/tmp", tasks=tasks)


def drive(p: Pipeline, script: dict[str, list[str]], *, selected=None, outside=None, tries=None,
          fail_fast=False, stop_after=None):
    """Run the machine to its end, one attempt at a time, each attempt ending as `script`
    says (default: succeeded). Returns (final states, starts in order, the machine)."""
    dag = Dag(p)
    m = RunMachine(p.tasks, dag.downstream, set(selected or p.tasks), dag.priorities({}), outside, tries, fail_fast)
    states = {}
    starts = []
    for c in m.start():
        states[c.task] = c.state
    clock = 0.0
    used = {t: 0 for t in p.tasks}
    while not m.over():
        m.release_retries(clock)
        tid = m.take_ready()
        if tid is None:
            clock += 1000.0            # jump to the next retry
            continue
        m.started(tid)
        starts.append(tid)
        kinds = script.get(tid, [])
        kind = kinds[used[tid]] if used[tid] < len(kinds) else base.SUCCEEDED
        used[tid] += 1
        for c in m.finished(tid, Outcome(kind=kind, reason=None if kind == base.SUCCEEDED else kind), clock):
            states[c.task] = c.state
        if stop_after == tid:
            for c in m.stop("interrupted by SIGINT"):
                states[c.task] = c.state
    return states, starts, m


CHAIN = {"a": {}, "b": {"deps": ["a"]}, "c": {"deps": ["b"]}}
FAN = {"a": {}, "b": {}, "x": {"deps": ["a", "b"]}}


@pytest.mark.parametrize("spec, script, expected", [
    (CHAIN, {}, {"a": "succeeded", "b": "succeeded", "c": "succeeded"}),
    (CHAIN, {"a": ["failed"]}, {"a": "failed", "b": "upstream_failed", "c": "upstream_failed"}),
    (CHAIN, {"b": ["timed_out"]}, {"a": "succeeded", "b": "failed", "c": "upstream_failed"}),
    (CHAIN, {"a": ["not_started"]}, {"a": "failed", "b": "upstream_failed", "c": "upstream_failed"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "all_done"}}, {"a": ["failed"]},
     {"a": "failed", "b": "succeeded", "x": "succeeded"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "one_failed"}}, {"a": ["failed"]},
     {"a": "failed", "b": "succeeded", "x": "succeeded"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "one_failed"}}, {},
     {"a": "succeeded", "b": "succeeded", "x": "skipped"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "all_failed"}}, {"a": ["failed"]},
     {"a": "failed", "b": "succeeded", "x": "skipped"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "all_failed"}}, {"a": ["failed"], "b": ["failed"]},
     {"a": "failed", "b": "failed", "x": "succeeded"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "one_success"}}, {"a": ["failed"]},
     {"a": "failed", "b": "succeeded", "x": "succeeded"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "one_success"}}, {"a": ["failed"], "b": ["failed"]},
     {"a": "failed", "b": "failed", "x": "upstream_failed"}),
    ({**FAN, "x": {"deps": ["a", "b"], "trigger": "none_failed"}}, {"b": ["failed"]},
     {"a": "succeeded", "b": "failed", "x": "upstream_failed"}),
    # A failed upstream reached through an upstream_failed one still counts as bad.
    ({"a": {}, "b": {"deps": ["a"]}, "c": {"deps": ["b"], "trigger": "one_failed"}}, {"a": ["failed"]},
     {"a": "failed", "b": "upstream_failed", "c": "succeeded"}),
])
def test_trigger_rules(spec, script, expected):
    states, _, _ = drive(pipeline(spec), script)
    assert states == expected


@pytest.mark.parametrize("retries, script, state, attempts", [
    (1, ["failed"], "succeeded", 2),                  # retried, then succeeded
    (2, ["failed", "failed", "failed"], "failed", 3),  # retries exhausted
    (1, ["lost"], "succeeded", 2),                    # a lost worker is retried like a failure
    (0, ["lost"], "failed", 1),
    (3, ["cancelled"], "cancelled", 1),               # stopped by pipe: never retried
    (1, ["timed_out", "failed"], "failed", 2),
])
def test_retries(retries, script, state, attempts):
    states, starts, m = drive(pipeline({"a": {"retries": retries}}), {"a": script})
    assert states["a"] == state
    assert starts.count("a") == attempts == m.attempts["a"]


def test_fail_fast_starts_nothing_after_the_first_failure():
    p = pipeline({"a": {}, "b": {}, "c": {}})
    states, starts, m = drive(p, {"a": ["failed"]}, fail_fast=True)
    assert starts == ["a"] and states == {"a": "failed"}
    assert m.stop_reason == "--fail-fast: a failed" and m.first_failure == "a"


def test_stop_cancels_a_task_waiting_for_its_retry():
    p = pipeline({"a": {"retries": 2, "retry_delay": 60}, "b": {}})
    dag = Dag(p)
    m = RunMachine(p.tasks, dag.downstream, set(p.tasks), dag.priorities({}))
    m.start()
    a = m.take_ready()
    m.started(a)
    assert [c.state for c in m.finished(a, Outcome(kind=base.FAILED, reason="exit code 1"), 0.0)] == ["retrying"]
    changes = m.stop("interrupted by SIGTERM")
    assert [(c.task, c.state, c.fields["reason"]) for c in changes] == [("a", "cancelled", "interrupted by SIGTERM")]
    assert m.take_ready() is None and m.next_retry() is None and m.over()


def test_resume_numbers_attempts_on_and_keeps_done_tasks():
    p = pipeline(CHAIN)
    states, starts, m = drive(p, {}, selected={"b", "c"}, outside={"a": "succeeded"}, tries={"b": 2, "c": 0})
    assert starts == ["b", "c"] and m.attempts == {"b": 3, "c": 1}
    assert states == {"b": "succeeded", "c": "succeeded"}


def test_only_takes_tasks_outside_the_run_as_done():
    states, starts, _ = drive(pipeline(CHAIN), {}, selected={"c"})
    assert starts == ["c"] and states == {"c": "succeeded"}


def test_from_with_a_failed_kept_upstream_is_upstream_failed():
    states, starts, _ = drive(pipeline(CHAIN), {}, selected={"b", "c"}, outside={"a": "failed"})
    assert starts == [] and states == {"b": "upstream_failed", "c": "upstream_failed"}


def test_longest_remaining_path_starts_first():
    p = pipeline({"short": {}, "head": {}, "mid": {"deps": ["head"]}, "tail": {"deps": ["mid"]}})
    _, starts, _ = drive(p, {})
    assert starts[0] == "head"


# -- the run loop, driven by a scripted executor ----------------------------------------------

def new_run(p: Pipeline, state, executor, fail_fast: bool = False):
    request = run.run_request(p, now=datetime.now(timezone.utc), limits=run.Limits(fail_fast=fail_fast))
    return run.new_run(state, request, executor=executor)


class ScriptedExecutor:
    """Ends each attempt as the script says, at once: the runner without processes."""

    name = "scripted"

    def __init__(self, script: dict[str, list[Outcome]]):
        self.script = {t: list(o) for t, o in script.items()}
        self.pending: list[tuple[str, Outcome]] = []
        self.specs = []
        self.cancelled: list[tuple[str, str]] = []

    def open(self, wake_fd):
        pass

    def capacity(self):
        return 4

    def check(self, specs, pipeline_file):
        pass

    def submit(self, spec):
        self.specs.append(spec)
        Path(spec.log_path).write_text(f"log of {spec.task}\n")
        queue = self.script.get(spec.task) or [Outcome(kind=base.SUCCEEDED)]
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        self.pending.append((spec.key, outcome))
        return Started(worker="tcp://10.9.8.7:1234")

    def wait(self, timeout):
        done, self.pending = self.pending, []
        return done

    def placed(self):
        return []

    def cancel(self, key, reason, grace=0):
        self.cancelled.append((key, reason))

    def kill_all(self):
        pass

    def stop_leftovers(self, handles):
        pass

    def running(self):
        return len(self.pending)

    def close(self, hard=False):
        pass


@pytest.fixture
def state(tmp_path):
    return StateDir(tmp_path / "state")


def test_runner_records_worker_outputs_and_reasons(state, tmp_path):
    p = pipeline({"a": {}, "b": {"deps": ["a"], "retries": 1}})
    ex = ScriptedExecutor({"a": [Outcome(kind=base.SUCCEEDED, outputs={"n": 1}, worker="tcp://w1")],
                           "b": [Outcome(kind=base.LOST, reason="worker lost", worker="tcp://w2"),
                                 Outcome(kind=base.SUCCEEDED, worker="tcp://w3")]})
    view = new_run(p, state, executor=ex)
    assert view.state == "succeeded"
    assert view.tasks["a"].outputs == {"n": 1} and view.tasks["a"].worker == "tcp://w1"
    assert [(a.number, a.state, a.reason, a.worker) for a in view.tasks["b"].attempts] == [
        (1, "retrying", "worker lost", "tcp://10.9.8.7:1234"), (2, "succeeded", None, "tcp://10.9.8.7:1234")]
    # every reader replays the same events into the same view
    again = RunStore(state.root).run("t", view.run_id)
    assert again.to_json() == view.to_json()
    # attempt keys carry the run id, the task and the attempt
    assert [s.key.split("/")[-2:] for s in ex.specs] == [["a", "1"], ["b", "1"], ["b", "2"]]
    assert all(view.run_id in s.key for s in ex.specs)


def test_runner_environment_holds_only_what_pipe_adds(state, monkeypatch):
    monkeypatch.setenv("SOMETHING_OF_PIPES_OWN", "x")
    p = pipeline({"a": {}})
    ex = ScriptedExecutor({})
    new_run(p, state, executor=ex)
    env = ex.specs[0].env
    assert "SOMETHING_OF_PIPES_OWN" not in env
    assert env["PIPE_TASK"] == "a" and env["PIPE_ATTEMPT"] == "1" and env["PIPE_PIPELINE"] == "t"


def test_runner_fail_fast_summary_names_the_first_failure(state):
    p = pipeline({"a": {}, "b": {"deps": ["a"]}})
    ex = ScriptedExecutor({"a": [Outcome(kind=base.FAILED, exit_code=3, reason="exit code 3")]})
    view = new_run(p, state, executor=ex, fail_fast=True)
    assert view.state == "failed"
    import json

    events = [json.loads(line) for line in (view.dir / "events.jsonl").read_text().splitlines()]
    assert [e["first_failure"] for e in events if e["event"] == "run_finished"] == ["a"]


# -- the reducer ----------------------------------------------------------------------------

def test_a_resumed_runs_duration_leaves_out_the_idle_time_before_the_resume(tmp_path):
    from pipeline_cli.state.events import replay

    t = "2026-11-20T10:00:{:02d}+00:00"
    evs = [{"event": "run_started", "time": t.format(0), "tasks": ["a"]},
           {"event": "task", "time": t.format(1), "task": "a", "state": "failed", "attempt": 1},
           {"event": "run_finished", "time": t.format(2), "state": "failed"},
           {"event": "run_resumed", "time": t.format(40), "tasks": ["a"]},
           {"event": "task", "time": t.format(41), "task": "a", "state": "succeeded", "attempt": 2},
           {"event": "run_finished", "time": t.format(43), "state": "succeeded"}]
    view = replay("r", "p", tmp_path, evs)
    assert view.state == "succeeded" and view.duration == 5.0
    assert view.started == t.format(0) and view.finished == t.format(43)


def test_a_task_left_out_by_an_older_pipe_reads_as_skipped_not_succeeded(tmp_path):
    """Runs written before left-out tasks had their own marker: attempt 0, no exit code."""
    from pipeline_cli.state.events import replay

    t = "2026-11-20T10:00:{:02d}+00:00"
    evs = [{"event": "run_started", "time": t.format(0), "tasks": ["a", "b"]},
           {"event": "task", "time": t.format(0), "task": "a", "state": "succeeded", "attempt": 0,
            "reason": "not in this run: outputs kept from an earlier run", "outputs": {"x": "1"}},
           {"event": "task", "time": t.format(1), "task": "b", "state": "running", "attempt": 1},
           {"event": "task", "time": t.format(2), "task": "b", "state": "succeeded", "attempt": 1, "exit_code": 0},
           {"event": "run_finished", "time": t.format(3), "state": "succeeded"}]
    view = replay("r", "p", tmp_path, evs)
    assert view.tasks["a"].state == "skipped" and view.tasks["a"].outputs == {"x": "1"}
    assert view.tasks["b"].state == "succeeded"


def test_an_interrupted_runs_task_whose_group_lives_is_running_with_its_pid(tmp_path):
    from pipeline_cli.state.events import interrupted_view, replay

    t = "2026-11-20T10:00:{:02d}+00:00"
    evs = [{"event": "run_started", "time": t.format(0), "tasks": ["a", "b", "c"]},
           {"event": "task", "time": t.format(1), "task": "a", "state": "running", "attempt": 1,
            "pgid": 4242, "pgid_start": "7"},
           {"event": "task", "time": t.format(1), "task": "b", "state": "running", "attempt": 1,
            "pgid": 4343, "pgid_start": "8"},
           {"event": "task", "time": t.format(2), "task": "c", "state": "retrying", "attempt": 1}]
    asked = []

    def alive(groups):
        asked.append(sorted(groups))
        return {4242}

    view = interrupted_view(replay("r", "p", tmp_path, evs), "interrupted: pipe stopped", alive)
    assert asked == [[(4242, "7"), (4343, "8")]]          # one question for the whole run
    assert view.state == "interrupted"
    assert view.tasks["a"].state == "running" and view.tasks["a"].to_json()["pid"] == 4242
    assert "process group 4242 is still running" in view.tasks["a"].reason
    assert view.tasks["b"].state == "cancelled" and view.tasks["b"].to_json()["pid"] is None
    assert view.tasks["c"].state == "cancelled"


def test_a_newer_event_format_is_refused_not_misread(tmp_path):
    from pipeline_cli.errors import UsageError

    run = tmp_path / "p" / "runs" / "20261120T100000000Z-manual-abcd"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text('{"event":"run_started","time":"2026-11-20T10:00:00+00:00","format":99}\n')
    with pytest.raises(UsageError, match="newer pipe"):
        RunStore(tmp_path).run("p", run.name)


def test_follow_returns_whole_lines_from_an_offset(tmp_path):
    run = tmp_path / "p" / "runs" / "20261120T100000000Z-manual-abcd"
    run.mkdir(parents=True)
    path = run / "events.jsonl"
    path.write_text('{"event":"run_started","time":"x"}\n{"event":"task","ta')
    store = RunStore(tmp_path)
    evs, offset = store.follow("p", run.name, 0)
    assert [e["event"] for e in evs] == ["run_started"]
    with open(path, "a") as f:
        f.write('sk":"a","state":"running"}\n')
    evs, offset2 = store.follow("p", run.name, offset)
    assert [e.get("task") for e in evs] == ["a"] and offset2 == path.stat().st_size


@pytest.mark.parametrize("bad", ["../etc", "a/b", "UPPER", "", "x" * 70])
def test_names_that_could_leave_the_state_folder_are_not_found(tmp_path, bad):
    from pipeline_cli.state import NotFound

    store = RunStore(tmp_path)
    with pytest.raises(NotFound):
        store.run(bad, "latest")
    with pytest.raises(NotFound):
        store.log("p", "20261120T100000000Z-manual-abcd", bad or "..", 1)


def test_a_kept_store_counts_a_torn_last_line_once_the_run_is_over(tmp_path):
    run = tmp_path / "p" / "runs" / "20261120T100000000Z-manual-abcd"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text('{"event":"run_started","time":"2026-11-20T10:00:00+00:00","pid":1,'
                                      '"pid_start":"never","tasks":["a"]}\n{"event":"task","task":"a","sta')
    kept, once = RunStore(tmp_path, cache=True), RunStore(tmp_path)
    for _ in range(2):            # the second read comes from the cache
        assert kept.run("p", run.name).skipped_lines == once.run("p", run.name).skipped_lines == 1


def test_an_interrupted_run_ends_at_its_last_event(tmp_path):
    run = tmp_path / "p" / "runs" / "20261120T100000000Z-manual-abcd"
    run.mkdir(parents=True)
    (run / "events.jsonl").write_text(
        '{"event":"run_started","time":"2026-11-20T10:00:00+00:00","pid":1,"pid_start":"never","tasks":["a"]}\n'
        '{"event":"task","time":"2026-11-20T10:00:07+00:00","task":"a","state":"running","attempt":1}\n')
    view = RunStore(tmp_path).run("p", run.name)
    assert view.state == "interrupted" and view.duration == 7.0
    assert view.tasks["a"].state == "cancelled"


def test_a_run_whose_pipe_holds_its_lock_is_starting_not_dead(tmp_path):
    import fcntl

    run = tmp_path / "p" / "runs" / "20261120T100000000Z-manual-abcd"
    run.mkdir(parents=True)
    store = RunStore(tmp_path)
    assert store.run("p", run.name).state == "interrupted"      # no events, nobody on it
    fd = os.open(run / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert store.run("p", run.name).state == "running"
    finally:
        os.close(fd)


def test_a_run_that_cannot_begin_leaves_no_folder(state, monkeypatch):
    from pipeline_cli.errors import UsageError

    p = Pipeline(name="t", path="/nowhere/t.yaml", folder="/tmp", tasks={"a": Task(id="a", run="true")},
                 secrets=("NOT_SET_ANYWHERE",))
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(UsageError, match="NOT_SET_ANYWHERE"):
        new_run(p, state, executor=ScriptedExecutor({}))
    assert state.run_ids("t") == []


class PlacingExecutor(ScriptedExecutor):
    """Learns the worker only once the attempt starts there, as the Dask executor does."""

    name = "placing"

    def submit(self, spec):
        super().submit(spec)
        self.placements = [(spec.key, "tcp://10.1.1.1:7000")]
        return Started(worker=None)

    def placed(self):
        out, self.placements = getattr(self, "placements", []), []
        return out


def test_a_worker_known_only_once_the_attempt_starts_is_recorded_on_that_attempt(state):
    p = pipeline({"a": {}})
    view = new_run(p, state, executor=PlacingExecutor({"a": [Outcome(kind=base.SUCCEEDED,
                                                                             worker="tcp://10.1.1.1:7000")]}))
    assert [(a.number, a.worker, a.state) for a in view.tasks["a"].attempts] == [(1, "tcp://10.1.1.1:7000", "succeeded")]
    assert RunStore(state.root).run("t", view.run_id).to_json() == view.to_json()


class RefusingExecutor(ScriptedExecutor):
    def check(self, specs, pipeline_file):
        from pipeline_cli.errors import UsageError

        raise UsageError("no worker offers GPU=1")


def test_a_run_the_executor_refuses_records_nothing(state):
    from pipeline_cli.errors import UsageError

    with pytest.raises(UsageError, match="GPU"):
        new_run(pipeline({"a": {}}), state, executor=RefusingExecutor({}))
    assert state.run_ids("t") == []


def test_a_killed_then_resumed_runs_duration_counts_both_executions(tmp_path):
    """The first execution ran 10 s and its pipe was killed (no run_finished); an hour later
    a resume ran 5 s: 15 s in all, not 5 (nor the idle hour)."""
    from pipeline_cli.state.events import replay

    t = lambda s: f"2026-11-01T{s}+00:00"         # noqa: E731
    events = [
        {"event": "run_started", "time": t("00:00:00"), "tasks": ["a"], "format": 1},
        {"event": "task", "time": t("00:00:00"), "task": "a", "state": "running", "attempt": 1},
        {"event": "task", "time": t("00:00:10"), "task": "a", "state": "retrying", "attempt": 1},
        {"event": "run_resumed", "time": t("01:00:00"), "tasks": ["a"]},
        {"event": "task", "time": t("01:00:00"), "task": "a", "state": "running", "attempt": 2},
        {"event": "task", "time": t("01:00:05"), "task": "a", "state": "succeeded", "attempt": 2},
        {"event": "run_finished", "time": t("01:00:05"), "state": "succeeded"},
    ]
    assert replay("r", "p", tmp_path, events).duration == 15.0
