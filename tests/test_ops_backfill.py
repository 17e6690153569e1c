"""`pipe backfill` (SPEC 5 and 12, issue 26 item 13) through the real CLI: --dry-run, -p,
the confirmation of more than 100 intervals, and up to max_active_runs runs at once, oldest
first (checked from the tasks' own timestamps)."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

from conftest import clean_env


def hourly(extra: str = "", run: str = "true") -> str:
    return (f'schedule: "@hourly"\nstart_date: 2026-11-01\nworkdir: ..\n{extra}'
            f"tasks:\n  t:\n    run: {json.dumps(run)}\n")


def runs_of(project, name: str) -> list[str]:
    folder = project / ".pipe" / name / "runs"
    return sorted(os.listdir(folder)) if folder.exists() else []


def test_dry_run_lists_the_intervals_and_how_many_and_runs_nothing(project, write_pipeline, pipe):
    write_pipeline("h", hourly())
    assert pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T01:00").returncode == 0
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T04:00", "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len([line for line in lines if "would run" in line and ".." in line]) == 3
    assert len([line for line in lines if "skipped" in line]) == 2
    assert "would run 3 intervals of 5 (2 already succeeded)" in lines[-1] and "nothing was run" in lines[-1]
    doc = json.loads(pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T04:00",
                          "--dry-run", "--json").stdout)
    assert doc["dry_run"] is True and doc["count"] == 3
    assert [i["state"] for i in doc["intervals"]] == ["skipped", "skipped", "would run", "would run", "would run"]
    assert len(runs_of(project, "h")) == 2          # the dry runs ran and wrote nothing
    # A thousand intervals: listed, no confirmation asked (nothing runs).
    many = pipe("backfill", "h", "--start", "2026-11-01", "--end", "2026-11-30", "--dry-run", "--json")
    assert many.returncode == 0 and json.loads(many.stdout)["count"] == 24 * 29 + 1 - 2


def test_params_on_backfill(project, write_pipeline, pipe):
    write_pipeline("h", hourly('params: {city: Seattle, size: 1}\n', "echo {{ ds }} {{ params.city }} >> out.txt"))
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T01:00", "-p", "city=Paris")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (project / "out.txt").read_text().split() == ["2026-11-01", "Paris", "2026-11-01", "Paris"]
    doc = json.loads(pipe("status", "h", "--json").stdout)
    assert doc["run"]["params"]["city"] == "Paris" and doc["run"]["params"]["size"] == 1
    bad = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T01:00", "-p", "city")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr
    unknown = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T01:00", "-p", "town=x")
    assert unknown.returncode == 2 and "town" in unknown.stderr and "Traceback" not in unknown.stderr


def test_more_than_100_intervals_need_yes_without_a_terminal(project, write_pipeline, pipe):
    write_pipeline("h", hourly("max_active_runs: 4\n"))
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-05T04:00")       # 101 intervals
    assert r.returncode == 2, r.stdout + r.stderr
    assert "101 intervals" in r.stderr and "--yes" in r.stderr and "Traceback" not in r.stderr
    assert runs_of(project, "h") == []
    ok = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-05T04:00", "--yes", "--json",
              timeout=600)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert len(json.loads(ok.stdout)["intervals"]) == 101 and len(runs_of(project, "h")) == 101


def _on_a_terminal(project, args: list[str], answer: bytes) -> tuple[int, str]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", *args], cwd=project, env=clean_env(),
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    text, answered = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            text += data
        if not answered and b"[y/N]" in text:
            os.write(master, answer)
            answered = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(30)
    os.close(master)
    return proc.returncode, text.decode("utf-8", "replace")


def test_on_a_terminal_more_than_100_intervals_ask_first(project, write_pipeline):
    (project / "pipelines" / "h.yaml").write_text(hourly())
    code, text = _on_a_terminal(project, ["backfill", "h", "--start", "2026-11-01T00:00",
                                          "--end", "2026-11-05T04:00"], b"n\n")
    assert "backfill of 101 intervals of h" in text and "Run them? [y/N]" in text
    assert code == 0 and "cancelled: nothing was run" in text
    assert runs_of(project, "h") == []


def test_backfill_runs_up_to_max_active_runs_at_once_oldest_first(project, write_pipeline, pipe):
    stamp = "python3 -c 'import time; print(time.time())'"
    run = (f"echo {{{{ ds_nodash }}}}T{{{{ logical_date.strftime('%H') }}}} start $({stamp}) >> times.txt; sleep 2; "
           f"echo {{{{ ds_nodash }}}}T{{{{ logical_date.strftime('%H') }}}} end $({stamp}) >> times.txt")
    write_pipeline("h", hourly("max_active_runs: 3\n", run))
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T02:00")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 succeeded" in r.stdout.splitlines()[-1]
    # Started oldest first: backfill says each interval as it starts its run.
    starts = [line.split()[3] for line in r.stdout.splitlines() if line.startswith("[")]
    assert starts == ["2026-11-01T00:00:00+00:00", "2026-11-01T01:00:00+00:00", "2026-11-01T02:00:00+00:00"]
    marks: dict[str, dict[str, float]] = {}
    for line in (project / "times.txt").read_text().splitlines():
        key, what, t = line.split()
        marks.setdefault(key, {})[what] = float(t)
    assert len(marks) == 3
    # All three ran at the same time: each started before any of them ended.
    assert max(m["start"] for m in marks.values()) < min(m["end"] for m in marks.values()), marks


def test_backfill_with_max_active_runs_1_runs_one_after_another(project, write_pipeline, pipe):
    stamp = "python3 -c 'import time; print(time.time())'"
    run = f"echo start $({stamp}) >> times.txt; sleep 0.5; echo end $({stamp}) >> times.txt"
    write_pipeline("h", hourly("", run))
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T02:00")
    assert r.returncode == 0, r.stdout + r.stderr
    marks = [line.split() for line in (project / "times.txt").read_text().splitlines()]
    assert [m[0] for m in marks] == ["start", "end"] * 3       # never two at once


def test_backfill_never_runs_more_than_max_active_runs(project, write_pipeline, pipe):
    stamp = "python3 -c 'import time; print(time.time())'"
    run = f"echo start $({stamp}) >> times.txt; sleep 1; echo end $({stamp}) >> times.txt"
    write_pipeline("h", hourly("max_active_runs: 2\n", run))
    r = pipe("backfill", "h", "--start", "2026-11-01T00:00", "--end", "2026-11-01T03:00")
    assert r.returncode == 0, r.stdout + r.stderr
    events = sorted((float(t), what) for what, t in (line.split() for line in
                                                     (project / "times.txt").read_text().splitlines()))
    running, most = 0, 0
    for _, what in events:
        running += 1 if what == "start" else -1
        most = max(most, running)
    assert most <= 2, events          # (that they do overlap: the test above)


def test_ctrl_c_stops_a_concurrent_backfill_and_its_runs(project, write_pipeline, pipe):
    import signal

    from conftest import wait_until

    write_pipeline("h", hourly("max_active_runs: 2\n", "echo $$ >> pids.txt; sleep 60"))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline_cli", "backfill", "h", "--start", "2026-11-01T00:00",
                             "--end", "2026-11-01T03:00"], cwd=project, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pids = project / "pids.txt"
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, "two runs to start their task")
        proc.send_signal(signal.SIGINT)          # as Ctrl-C: to pipe alone, which passes it on once
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    runs = json.loads(pipe("status", "h", "--json").stdout)["pipelines"][0]["runs"]
    assert len(runs) == 2 and {r["state"] for r in runs} == {"interrupted"}      # no third run started
    for pid in pids.read_text().split():
        wait_until(lambda: not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2],
                   f"task {pid} to be stopped", limit=15)


def test_on_a_terminal_yes_runs_them(project, write_pipeline):
    (project / "pipelines" / "h.yaml").write_text(hourly("max_active_runs: 4\n"))
    code, text = _on_a_terminal(project, ["backfill", "h", "--start", "2026-11-01T00:00",
                                          "--end", "2026-11-05T04:00"], b"y\n")
    assert "Run them? [y/N]" in text and code == 0, text[-2000:]
    assert len(runs_of(project, "h")) == 101
