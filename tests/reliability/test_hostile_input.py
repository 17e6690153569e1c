"""Issue 7: hostile pipeline files and corrupted state never crash, hang or exhaust memory."""
from __future__ import annotations

import json
import resource
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ST, cli as run_pipe
from pipeline_cli import spec
from pipeline_cli.errors import SpecError

GB = 1 << 30

VALID = {
    "name": "target",
    "description": "a valid pipeline",
    "schedule": "@daily",
    "timezone": "Europe/Amsterdam",
    "start_date": "2026-01-01",
    "catchup": "7d",
    "params": {"city": "Seattle", "n": 3},
    "env": {"DATA_DIR": "data"},
    "defaults": {"retries": 1},
    "tasks": {
        "fetch": {"run": "echo {{ params.city }} {{ ds }}", "timeout": "5m"},
        "clean": {"run": ["echo", "{{ tasks.fetch.outputs.x }}"], "deps": ["fetch"], "retry_delay": "10s"},
        "publish": {"python": "json:dumps", "with": {"obj": "{{ ds }}"}, "deps": ["clean"],   # read unchecked
                    "trigger": "all_done", "sources": ["a"], "generates": ["b"]},
    },
}


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (GB, GB))


def cli(project: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """pipe in a subprocess limited to 1 GB of address space."""
    return run_pipe(project, *args, timeout=timeout, preexec_fn=_limit_memory)


def assert_clean_outcome(r: subprocess.CompletedProcess, file: str) -> None:
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    if r.returncode == 2:
        assert file in r.stderr, r.stderr[-2000:]


def load_text(tmp: Path, text: str | bytes) -> None:
    """spec.load either returns a pipeline or raises SpecError: never anything else."""
    path = tmp / "target.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        spec.load(path)
    except SpecError as e:
        assert e.problems and all(str(path) == p.file for p in e.problems)


# --- mutations of a valid pipeline ------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["", "\x00", "../../x", "/etc/passwd", "{{", "{{ nope }}",
                                                           "{% for %}", "é\u202e", "x" * 5000, "5m", "-1",
                                                           "tasks", "* * * * *", "$(touch pwned)"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def paths_of(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths_of(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths_of(v, prefix + (i,))


@st.composite
def mutated(draw):
    doc = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in paths_of(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add", "wrap"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
        elif action == "wrap":
            parent[path[-1]] = [parent[path[-1]]]
    return yaml.safe_dump(doc, allow_unicode=draw(st.booleans()))


HOSTILE_SNIPPETS = [
    "!!python/object/apply:os.system ['touch pwned']",
    "!!python/name:os.system",
    "&a [*a]",
    "*undefined",
    "!custom {}",
    "{a: 1, a: 2}",
    "[" * 300 + "]" * 300,
    "{x: " * 300 + "1" + "}" * 300,
    "? [complex, key]\n: 1",
    "<<: {run: 'true'}",
    "<<: [1, 2]",
    "\t\tbad indent",
    "'unterminated",
    "\x00\x01\x02",
    "\ufeff",
    "--- \n--- \n",
    "%YAML 9.9\n---\nx",
    "!!binary aGVsbG8=",
    "2026-13-45",
    "0x" + "f" * 400,
    "1e99999",
]


@st.composite
def yaml_documents(draw):
    base = draw(mutated())
    if draw(st.booleans()):
        lines = base.splitlines()
        i = draw(st.integers(0, len(lines)))
        snippet = draw(st.sampled_from(HOSTILE_SNIPPETS))
        indent = " " * draw(st.integers(0, 6))
        key = draw(st.sampled_from(["tasks", "name", "params", "x", "run", "deps", "- "]))
        lines.insert(i, f"{indent}{key}: {snippet}")
        base = "\n".join(lines)
    if draw(st.booleans()):
        base = base[: draw(st.integers(0, len(base)))]       # truncated
    return base


FAST = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@FAST
@given(text=yaml_documents())
def test_spec_load_raises_only_spec_errors(tmp_path_factory, text):
    load_text(tmp_path_factory.mktemp("h"), text)


@FAST
@given(text=st.text(max_size=300))
def test_random_text_raises_only_spec_errors(tmp_path_factory, text):
    load_text(tmp_path_factory.mktemp("r"), text)


@FAST
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_spec_errors(tmp_path_factory, data):
    load_text(tmp_path_factory.mktemp("b"), data)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(text=yaml_documents())
def test_cli_on_hostile_files(tmp_path_factory, text):
    project = tmp_path_factory.mktemp("p")
    (project / "pipelines").mkdir()
    (project / "pipelines" / "target.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    for args in (["validate", "target"], ["run", "target", "--dry-run"]):
        r = cli(project, *args)
        assert_clean_outcome(r, "target.yaml")
    assert not (project / "pwned").exists()


def laughs(levels: int, width: int = 10, refs: int = 10) -> str:
    lines = ["name: target", "params:", f"  a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * refs)}]")
    lines.append("tasks: {x: {run: 'true'}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [
    laughs(9),                                       # a billion laughs
    laughs(30, width=2, refs=2),                     # 2**31 values, as a chain
    laughs(4, refs=10) .replace("  a4:", "  b: [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\n  a4:"),   # just under the limit
    "tasks: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "tasks: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n",
    "tasks:\n" + "".join(f"  {'  ' * i}t{i}:\n" for i in range(3000)),
    "name: target\ndescription: " + "x" * 30_000_000 + "\ntasks: {x: {run: 'true'}}\n",
    "name: target\ntasks:\n" + "".join(f"  t{i}: {{run: 'true', deps: [t{i + 1}]}}\n" for i in range(3000))
    + "  t3000: {run: 'true', deps: [t0]}\n",       # a 3,001-task cycle
], ids=["billion-laughs", "alias-chain", "under-limit", "deep-lists", "deep-maps", "deep-indent", "30MB-string",
        "huge-cycle"])
def test_cli_on_pathological_files(project: Path, text: str):
    (project / "pipelines" / "target.yaml").write_text(text)
    for args in (["validate", "target"], ["run", "target", "--dry-run"]):
        r = cli(project, *args, timeout=40)
        assert_clean_outcome(r, "target.yaml")


def test_python_tags_are_refused(project: Path):
    (project / "pipelines" / "target.yaml").write_text(
        "name: target\nparams: {x: !!python/object/apply:os.system ['touch pwned']}\n"
        "tasks: {a: {run: !!python/object/new:os.system ['touch pwned2']}}\n")
    for args in (["validate", "target"], ["run", "target", "--dry-run"], ["run", "target"]):
        r = cli(project, *args)
        assert r.returncode == 2, r.stderr
        assert "target.yaml:2:" in r.stderr and "target.yaml:3:" in r.stderr and "Traceback" not in r.stderr
    assert not (project / "pwned").exists() and not (project / "pwned2").exists()
    assert not (project / "pipelines" / "pwned").exists()


# --- corrupted state --------------------------------------------------------------------

def _one_run(project: Path) -> Path:
    (project / "pipelines" / "target.yaml").write_text(
        "name: target\ntasks:\n  a: {run: echo hello}\n  b: {run: echo world, deps: [a]}\n")
    r = cli(project, "run", "target", timeout=60)
    assert r.returncode == 0, r.stderr
    (run,) = (project / ST / "target" / "runs").iterdir()
    return run


def _status_answers(project: Path) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    text = cli(project, "status", "target", timeout=60)
    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stderr
    js = cli(project, "status", "target", "--json", timeout=60)
    assert js.returncode == 0, js.stderr
    json.loads(js.stdout)
    return text, js


def test_garbage_lines_are_skipped_and_counted(project: Path):
    run = _one_run(project)
    events = run / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    garbage = [b"not json at all\n", b"\x00\xff\xfe garbage\n", b"[1, 2, 3]\n", b'{"no_event": 1}\n',
               b'{"event": "task", "task": 5}\n']
    events.write_bytes(lines[0] + garbage[0] + b"".join(lines[1:3]) + b"".join(garbage[1:4]) + b"".join(lines[3:])
                       + b'{"event": "run_fini')
    text, js = _status_answers(project)
    assert "skipped 5" in text.stdout, text.stdout
    assert json.loads(js.stdout)["run"]["skipped_lines"] == 5
    assert json.loads(js.stdout)["run"]["tasks"]["a"]["state"] == "succeeded"


def test_truncated_events_file(project: Path):
    run = _one_run(project)
    events = run / "events.jsonl"
    data = events.read_bytes()
    for cut in (7, 0):
        events.write_bytes(data[:cut])
        _status_answers(project)
    lines = data.splitlines(keepends=True)
    keep = len(lines) // 2
    events.write_bytes(b"".join(lines[:keep]) + lines[keep][:len(lines[keep]) // 2])    # cut inside a line
    text, js = _status_answers(project)
    doc = json.loads(js.stdout)["run"]
    assert doc["state"] == "interrupted"
    assert doc["skipped_lines"] == 1                       # the torn last line, and only it
    assert "skipped 1 unreadable line" in text.stdout, text.stdout


def test_missing_files_and_folders(project: Path):
    run = _one_run(project)
    shutil.rmtree(run / "logs")
    _status_answers(project)
    r = cli(project, "logs", "target", "a", timeout=60)
    assert r.returncode == 2 and "no log" in r.stderr and "Traceback" not in r.stderr, r.stderr
    (run / "events.jsonl").unlink()
    _status_answers(project)
    assert cli(project, "status", timeout=60).returncode == 0
    for gone in (run, project / ST / "target" / "runs"):        # the run's folder, then all runs
        shutil.rmtree(gone)
        r = cli(project, "status", "target", timeout=60)
        assert r.returncode == 0 and "no runs" in r.stdout and "Traceback" not in r.stderr, (r.stdout, r.stderr)
        assert cli(project, "status", timeout=60).returncode == 0
    # and pipe still runs the pipeline afterwards
    assert cli(project, "run", "target", timeout=60).returncode == 0


def test_corrupted_ledger_and_caches(project: Path):
    (project / "pipelines" / "target.yaml").write_text(
        "name: target\nschedule: '@hourly'\ntasks:\n  a: {run: echo hello}\n")
    r = cli(project, "tick", "--now", "2026-01-01T05:30:00+00:00", timeout=60)
    assert r.returncode == 0, r.stderr
    with open(project / ST / "target" / "intervals.jsonl", "ab") as f:
        f.write(b'garbage\n{"event": "interval", "start": 5}\n{"event": "interval", "start": "2026-01-01T0')
    for cache in (project / ST / "cache").rglob("*"):
        if cache.is_file():
            cache.write_bytes(b"\x00garbage{")
    (project / ST / "target" / "durations.json").write_text("[not a mapping")
    r = cli(project, "tick", "--now", "2026-01-01T06:30:00+00:00", timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    entries = []
    for line in (project / ST / "target" / "intervals.jsonl").read_bytes().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue                                           # the garbage and the torn line
    starts = [e["start"] for e in entries if isinstance(e, dict) and e.get("event") == "interval"
              and isinstance(e["start"], str)]               # not the garbage entry, whose start is 5
    assert starts == ["2026-01-01T04:00:00+00:00", "2026-01-01T05:00:00+00:00"], entries
    _status_answers(project)
