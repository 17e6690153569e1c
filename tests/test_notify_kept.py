"""A run's message counts what the run ran: the tasks `--only`/`--from` left out are said
as kept from the earlier run whose outputs they lend, not as skipped (real CLI, the
notify block's `run:` command receives the message)."""
from __future__ import annotations

import json


def test_the_message_of_an_only_run_says_kept_not_skipped(project, pipe, write_pipeline):
    write_pipeline("kept", """
        notify:
          run: cat > notified.txt
          when: [failure]
          repeat: true
          manual: true
        tasks:
          a:
            run: echo a
          b:
            deps: [a]
            run: test -f ok
    """)
    assert pipe("run", "kept").returncode == 1
    first = json.loads(pipe("status", "kept", "--json").stdout)["run"]["run_id"]
    message = project / "pipelines" / "notified.txt"
    assert "Tasks:        1 succeeded, 1 failed\n" in message.read_text()
    assert pipe("run", "kept", "--only", "b").returncode == 1
    text = message.read_text()
    assert f"Tasks:        1 failed; 1 kept from run {first}\n" in text, text
    assert "skipped" not in text
