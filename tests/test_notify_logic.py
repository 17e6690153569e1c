"""Notifications: the pure parts, in-process (which events a run fires, masking, the block's
validation with located errors)."""
from __future__ import annotations

import textwrap

import pytest

from pipeline_cli import spec
from pipeline_cli.errors import SpecError
from pipeline_cli.model import Notify
from pipeline_cli.notify import decide, mask_url

F, S, I = "failed", "succeeded", "interrupted"


@pytest.mark.parametrize("block, states, expected", [
    # default: failure once per streak, then one recovery
    ({}, [F, F, F, S, S], [["failure"], [], [], ["recovery"], []]),
    ({}, [S, S], [[], []]),
    ({}, [I, F, S], [["failure"], [], ["recovery"]]),
    ({"repeat": True}, [F, F], [["failure"], ["failure"]]),
    ({"when": ("success",)}, [S, F, S], [["success"], [], ["success"]]),
    # recovery says success too: one message for that run
    ({"when": ("success", "recovery")}, [F, S, S], [[], ["recovery"], ["success"]]),
    # recovery without failure in `when`: the streak is still known
    ({"when": ("recovery",)}, [F, F, S], [[], [], ["recovery"]]),
    # a failure that was not sent (not asked) leaves the next streak's first failure to be sent
    ({"when": ("failure",)}, [F, S, F], [["failure"], [], ["failure"]]),
])
def test_decide(block, states, expected):
    n = Notify(to=("json://x",), **block)
    memory: dict = {}
    assert [decide(n, memory, s, retried=False) for s in states] == expected


def test_retry_is_opt_in_and_not_sent_with_a_failure():
    memory: dict = {}
    assert decide(Notify(to=("x",)), memory, S, retried=True) == []
    n = Notify(to=("x",), when=("failure", "retry"))
    assert decide(n, {}, S, retried=True) == ["retry"]
    assert decide(n, {}, F, retried=True) == ["failure"]


@pytest.mark.parametrize("url, shown", [
    ("mailto://ops:hunter2@mail.example.com?to=a@b", "mailto://ops:***@mail.example.com"),
    ("json://user@host/p?token=abc", "json://user@host/p"),
    ("slack://T1/B2/C3", "slack://T1/B2/C3"),
    ("ntfys://user:pw@ntfy.example.com/topic#x", "ntfys://user:***@ntfy.example.com/topic"),
])
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def load(tmp_path, text: str):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return spec.load(path)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(SpecError) as e:
        load(tmp_path, text)
    return [f"{p.line}:{p.column}: {p.message}" for p in e.value.problems]


def test_block_is_built(tmp_path):
    p = load(tmp_path, """
        schedule: "@daily"
        params: {room: ops}
        secrets: [TOK]
        notify:
          to: "json://h/{{ params.room }}?t={{ secrets.TOK }}"
          when: [failure, deadline]
          deadline: 2h
          run: [./alert.sh, --now]
          repeat: true
          timeout: 5s
        tasks: {a: {run: "true"}}
    """)
    assert p.notify == Notify(to=("json://h/{{ params.room }}?t={{ secrets.TOK }}",), when=("failure", "deadline"),
                              deadline=7200.0, run=("./alert.sh", "--now"), repeat=True, timeout=5.0)
    assert load(tmp_path, "tasks: {a: {run: 'true'}}\n").notify is None
    assert load(tmp_path, "notify: {run: ./x.sh}\ntasks: {a: {run: 'true'}}\n").notify.when == ("failure", "recovery")


def test_block_errors_are_located(tmp_path):
    found = problems(tmp_path, """
        params: {room: ops}
        notify:
          to: ["json://h/{{ ds }}", "json://{{ params.nope }}", "x://{{ secrets.TOK }}"]
          when: [failure, deadline, sometimes]
          timeout: 1m
          deadline: 1h
        tasks: {a: {run: "true"}}
    """)
    text = "\n".join(found)
    assert "3:8: notify.to.0: 'ds' cannot be used here" in text
    assert "3:29: notify.to.1: params.nope is not declared" in text
    assert "3:57: notify.to.2: secrets.TOK is not listed in `secrets:`" in text
    assert "4:29: notify.when.2: 'sometimes' is not one of" in text
    assert "5:12: notify.timeout: at most 30s" in text
    assert "6:3: notify.deadline: the pipeline has no `schedule`" in text
    found = problems(tmp_path, """
        schedule: "@daily"
        notify:
          when: [deadline]
          colour: red
        tasks: {a: {run: "true"}}
    """)
    text = "\n".join(found)
    assert "2:1: notify: give `to` (Apprise URLs) or `run` (a command), or both" in text
    assert "3:10: notify.when: `deadline` needs `notify.deadline`" in text
    assert "4:3: unknown field 'colour' in notify" in text
