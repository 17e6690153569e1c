"""`pipe notify test PIPELINE`: a test message to every target of the pipeline's block (and
its `run:` command), one line per target."""
from __future__ import annotations

from types import SimpleNamespace

from .command import command_env
from .decide import TEST
from .deliver import Message, deliver
from .message import test_message
from .targets import environment, render_targets


def send_test(pipeline) -> int:
    """Send a test message to every target of the pipeline's block (and run its command):
    one line per target, `ok` or why not; exit 1 when one failed."""
    from ..errors import EXIT_FAILED, EXIT_OK, UsageError

    n = pipeline.notify
    if n is None:
        raise UsageError(f"pipeline {pipeline.name!r} has no `notify:` block ({pipeline.path})")
    env = environment(pipeline)
    targets, redactor = render_targets(pipeline, env, dict(pipeline.params))
    title, body = test_message(pipeline)
    view = SimpleNamespace(pipeline=pipeline.name, run_id="", state="test", kind="test", tasks={}, logical_date=None,
                           interval_start=None, interval_end=None, params=dict(pipeline.params), dir=None)
    message = Message(TEST, title, body, command_env(env, view, TEST, title))
    results = deliver(pipeline, [message], targets, redactor, n.timeout)
    for r in results:
        print(f"{'ok' if r.ok else 'FAILED':<7} {r.target}" + ("" if r.ok else f": {r.error}"), flush=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
