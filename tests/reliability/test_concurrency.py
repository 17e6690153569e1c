"""Issue 7: many ticks at once run every due interval exactly once; parallel runs never share files."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from conftest import ST, cli, start


def lines_of(path: Path) -> list[dict]:
    out = []
    for line in path.read_bytes().splitlines():
        out.append(json.loads(line))      # no torn or mixed line, ever, without a crash
    return out


def test_sixteen_ticks_at_once(project: Path):
    log = project / "ran.txt"
    names = ["alpha", "beta", "gamma"]
    for name in names:
        (project / "pipelines" / f"{name}.yaml").write_text(f"""
name: {name}
schedule: "0 * * * *"
start_date: 2026-03-01T00:00:00
catchup: true
concurrency: 2
tasks:
  one:
    run: echo {name} {{{{ ts }}}} one >> {log}; sleep 0.05
  two:
    run: echo {name} {{{{ ts }}}} two >> {log}
    deps: [one]
""")
    now = "2026-03-01T04:10:00+00:00"      # 4 due intervals per pipeline
    procs = [start(project, "tick", "--now", now) for _ in range(16)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        assert "Traceback" not in err
    counts = Counter(log.read_text().splitlines())
    expected = {f"{n} 2026-03-01T0{h}:00:00+00:00 {t}" for n in names for h in range(4) for t in ("one", "two")}
    assert set(counts) == expected
    assert all(c == 1 for c in counts.values()), [k for k, c in counts.items() if c > 1]
    for name in names:        # max_active_runs 1: one interval after the other, in order
        ran = [line.split()[1] for line in log.read_text().splitlines() if line.startswith(f"{name} ")]
        assert ran == sorted(ran) and len(ran) == 8, ran
    for name in names:
        ledger = lines_of(project / ST / name / "intervals.jsonl")
        starts = Counter(e["start"] for e in ledger)
        assert len(starts) == 4 and all(c == 1 for c in starts.values()), starts
        runs = sorted((project / ST / name / "runs").iterdir())
        assert sorted(r.name for r in runs) == sorted(e["run_id"] for e in ledger)
        for run in runs:
            events = lines_of(run / "events.jsonl")
            assert [e["event"] for e in events].count("run_started") == 1
            assert events[-1]["event"] == "run_finished" and events[-1]["state"] == "succeeded"
            assert {e["run_id"] for e in events if "run_id" in e} == {run.name}
    # And the next ticks find nothing to do, silently.
    r = cli(project, "tick", "--now", now)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_same_pipeline_twice_at_once(project: Path):
    (project / "pipelines" / "twice.yaml").write_text("""
name: twice
concurrency: 3
tasks:
  a: {run: 'for i in 1 2 3 4 5; do echo "$PIPE_RUN_ID"; sleep 0.05; done; echo "n=$PIPE_RUN_ID" >> "$PIPE_OUTPUT"'}
  b: {run: 'for i in 1 2 3 4 5; do echo "$PIPE_RUN_ID"; sleep 0.05; done', deps: [a]}
  c: {run: 'echo {{ tasks.a.outputs.n }}; test {{ tasks.a.outputs.n }} = "$PIPE_RUN_ID"', deps: [a]}
""")
    procs = [start(project, "run", "twice", "--json") for _ in range(2)]
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, out + err
        docs.append(json.loads(out))
    for d in docs:
        assert d["tasks"]["a"]["outputs"] == {"n": d["run_id"]}
        assert {t["state"] for t in d["tasks"].values()} == {"succeeded"}
    ids = {d["run_id"] for d in docs}
    assert len(ids) == 2
    runs = sorted((project / ST / "twice" / "runs").iterdir())
    assert {r.name for r in runs} == ids
    for run in runs:
        events = lines_of(run / "events.jsonl")
        assert [e["event"] for e in events].count("run_started") == 1
        assert events[0]["run_id"] == run.name
        for log in (run / "logs").iterdir():
            assert set(log.read_text().split()) == {run.name}, log
