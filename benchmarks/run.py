#!/usr/bin/env python3
"""Benchmark `pipe` against GNU make, doit and luigi on the same DAGs.

    python benchmarks/run.py [--rounds N] [--only W,..] [--tools pipe,make,doit,luigi]
                             [--pipe CMD] [--check-only] [--write-readme]
    python benchmarks/run.py --profile chain-200     # cProfile of `pipe run`

Every workload is described once (workloads.py) and rendered for each tool
(generate.py). Each round runs every tool once, in turn (A B C D A B C D ...),
each in a fresh temp dir (so pipe has no history, make/doit/luigi no state).
Before the timed rounds every tool runs the workload once with check commands
(each task fails unless its dependencies' markers exist, then leaves its own)
and the markers are counted, so a fast time cannot come from skipping work;
that run also warms the page cache. See README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import MARKERS, render_doit, render_luigi, render_make, render_pipe  # noqa: E402
from workloads import WORKLOADS, Workload, tick_pipelines  # noqa: E402

ALL_TOOLS = ("pipe", "make", "doit", "luigi")
VENV_BIN = HERE / ".venv" / "bin"
README = HERE / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

# Goals from issue 6 (printed next to the results; they are targets, not asserts).
TICK_GOAL = 0.6
TARGETS_DOC = """\
- chain-200, wide-500: pipe <= 2x make and <= 0.5x doit
- critical-path: within 5% of 2.0 s (first run, no history)
- sleep-wide: efficiency ideal/wall >= 0.97
- tick (nothing due): <= 0.6x `python -c "import typer, rich, yaml, jsonschema, croniter"`
- big-10k: validate + graph --format json < 1.5 s, run <= 3x make, peak RSS < 150 MB"""


# ------------------------------------------------------------------ running one command
@dataclass
class Sample:
    wall: float
    rc: int
    maxrss_kb: int
    timed_out: bool = False


TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_timed(argv: list[str], cwd: Path, env: dict[str, str], timeout: float,
              stdout=subprocess.DEVNULL, stderr_path: Path | None = None) -> Sample:
    """Run argv, return its wall time and the peak RSS of its process tree.

    The peak RSS comes from `/usr/bin/time -f %M` wrapped around the command
    (its wait4 rusage, as resource.getrusage(RUSAGE_CHILDREN) in a wrapper
    would give). It is not read from our own wait4: a child forked from this
    Python process starts with this process's RSS as its high-water mark.
    The wrapper costs every tool the same ~1 ms per command. Without
    /usr/bin/time the RSS column is that inflated upper bound."""
    rss_file = Path(tempfile.mkstemp(prefix="bench-rss-")[1]) if TIME else None
    if rss_file:
        argv = [TIME, "-f", "%M", "-o", str(rss_file), *argv]
    err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    timed_out = threading.Event()
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=err, start_new_session=True)

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss
        if rss_file:
            lines = rss_file.read_text().split()
            maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    finally:
        if stderr_path:
            err.close()
        if rss_file:
            rss_file.unlink(missing_ok=True)
    return Sample(wall, proc.returncode, maxrss, timed_out.is_set())


# ------------------------------------------------------------------ tools
def first_line(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc})"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else f"? (exit {out.returncode})"


@dataclass
class Step:
    label: str  # "run", or for pipe on big-10k also "validate", "graph"
    argv: list[str]
    env: dict[str, str]
    stdout_file: str | None = None  # keep stdout in the temp dir (graph json)


class Tool:
    name = ""
    parallel = ""  # how it is run in parallel, for the table
    self_verifying = False  # every timed run proves every task ran: no separate check run

    def __init__(self, env: dict[str, str]):
        self.env = env

    def version(self) -> str:
        raise NotImplementedError

    def prepare(self, w: Workload, d: Path, check: bool) -> list[Step]:
        raise NotImplementedError

    def ran(self, w: Workload, d: Path) -> int:
        """Check mode: how many tasks left their marker."""
        m = d / MARKERS
        return len(list(m.iterdir())) if m.is_dir() else 0


class Pipe(Tool):
    name = "pipe"
    parallel = "`concurrency: 2`"

    def __init__(self, env, cmd: list[str]):
        super().__init__(env)
        self.cmd = cmd

    def python(self) -> str:
        """pipe's own interpreter: the shebang of its script, or CMD's python."""
        exe = shutil.which(self.cmd[0]) or self.cmd[0]
        if Path(exe).name.startswith("python"):
            return exe
        try:
            with open(exe, "rb") as f:
                line = f.readline().decode(errors="replace")
            if line.startswith("#!"):
                return shlex.split(line[2:])[0]
        except OSError:
            pass
        return sys.executable

    def version(self) -> str:
        return first_line(self.cmd + ["--version"], self.env)

    def prepare(self, w, d, check):
        path = render_pipe(w, d, check)
        g = self.cmd + ["--state-dir", str(d / ".pipe")]
        steps = []
        if "big" in w.tags:
            steps.append(Step("validate", g + ["validate", str(path)], self.env))
            steps.append(Step("graph", g + ["graph", str(path), "--format", "json"], self.env,
                              stdout_file="graph.json"))
        steps.append(Step("run", g + ["run", str(path)], self.env))
        return steps


class Make(Tool):
    name = "make"
    parallel = "`make -j2`"

    def version(self):
        return first_line(["make", "--version"])

    def prepare(self, w, d, check):
        render_make(w, d, check)
        return [Step("run", ["make", "-j2", "-s", "-f", "Makefile", "all"], self.env)]


class Doit(Tool):
    name = "doit"
    parallel = "`doit -n 2 -P thread`, json backend"

    def exe(self) -> str:
        return shutil.which("doit", path=self.env["PATH"]) or "doit"

    def version(self):
        return "doit " + first_line([self.exe(), "--version"], self.env)

    def prepare(self, w, d, check):
        render_doit(w, d, check)
        return [Step("run", [self.exe(), "run", "-n", "2", "-P", "thread", "--backend", "json",
                             "--db-file", str(d / ".doit.json")], self.env)]


class Luigi(Tool):
    name = "luigi"
    parallel = "`--local-scheduler --workers 2`"
    # run() writes luigi-done/<id> only after its command succeeded, and luigi
    # refuses to run a task whose requirements are not complete.
    self_verifying = True

    def ran(self, w, d):
        m = d / "luigi-done"
        return len(list(m.iterdir())) if m.is_dir() else 0

    def exe(self) -> str:
        return shutil.which("luigi", path=self.env["PATH"]) or "luigi"

    def version(self):
        exe = self.exe()
        py = sys.executable
        try:
            with open(exe, "rb") as f:
                line = f.readline().decode()
            if line.startswith("#!"):
                py = shlex.split(line[2:])[0]
        except OSError:
            pass
        return "luigi " + first_line([py, "-c", "import luigi; print(luigi.__version__)"], self.env)

    def prepare(self, w, d, check):
        render_luigi(w, d, check)
        env = dict(self.env, PYTHONPATH=str(d), LUIGI_CONFIG_PATH=str(d / "luigi.cfg"))
        return [Step("run", [self.exe(), "--module", "bench_dag", "All", "--local-scheduler",
                             "--workers", "2"], env)]


def find_pipe(arg: str | None) -> list[str] | None:
    if arg:
        return shlex.split(arg)
    for cand in (shutil.which("pipe"), VENV_BIN / "pipe", HERE.parent / ".venv" / "bin" / "pipe"):
        if cand and Path(cand).exists():
            return [str(cand)]
    return None


# ------------------------------------------------------------------ measurements
@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)
    error: str | None = None
    merged_from: str | None = None  # set when taken from an earlier run's --json file

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    def median(self) -> float:
        return statistics.median(self.walls)

    def span(self) -> tuple[float, float]:
        return min(self.walls), max(self.walls)

    def peak_rss_mb(self) -> float:
        return max(s.maxrss_kb for s in self.samples) / 1024


def describe_failure(step: Step, d: Path, sample: Sample, what: str) -> str:
    err = (d / "stderr.txt").read_text(errors="replace").strip() if (d / "stderr.txt").exists() else ""
    tail = "\n".join(err.splitlines()[-15:])
    how = f"timed out after {sample.wall:.0f} s" if sample.timed_out else f"exit {sample.rc}"
    return f"{what}: `{shlex.join(step.argv)}` (cwd {d}) {how}" + (f"\n{tail}" if tail else "")


def run_once(tool: Tool, w: Workload, check: bool, timeout: float, keep: bool
             ) -> tuple[dict[str, Sample], str | None]:
    d = Path(tempfile.mkdtemp(prefix=f"bench-{w.name}-{tool.name}-"))
    try:
        if check:
            (d / MARKERS).mkdir()
        out: dict[str, Sample] = {}
        for step in tool.prepare(w, d, check):
            stdout = open(d / step.stdout_file, "wb") if step.stdout_file else subprocess.DEVNULL
            try:
                s = run_timed(step.argv, d, step.env, timeout, stdout=stdout,
                              stderr_path=d / "stderr.txt")
            finally:
                if step.stdout_file:
                    stdout.close()
            out[step.label] = s
            if s.rc != 0 or s.timed_out:
                if s.timed_out and not (check or tool.self_verifying):
                    return out, f"timed out after {s.wall:.0f} s"
                if s.timed_out:
                    return out, (f"timed out after {s.wall:.0f} s with "
                                 f"{tool.ran(w, d):,} of {w.n:,} tasks done")
                keep = True
                return out, describe_failure(step, d, s, f"{tool.name} {step.label} failed")
            if check and step.label == "graph":
                try:
                    json.loads((d / step.stdout_file).read_text())
                except ValueError as exc:
                    keep = True
                    return out, f"{tool.name} graph --format json printed no JSON ({exc}) in {d}"
        if check or tool.self_verifying:
            n = tool.ran(w, d)
            if n != w.n:
                keep = True
                return out, f"{tool.name} ran {n} of {w.n} tasks (check mode, {d})"
        return out, None
    finally:
        if not keep:
            shutil.rmtree(d, ignore_errors=True)


def bench_workload(w: Workload, tools: list[Tool], rounds: int, check: bool, timeout: float,
                   keep: bool, slow: float, log) -> dict[str, dict[str, Series]]:
    """Check (and warm up) every tool once, then `rounds` rounds of A B C D.
    A tool whose first timed run took longer than `slow` seconds gets no more."""
    res: dict[str, dict[str, Series]] = {t.name: {} for t in tools}
    live = list(tools)
    wanted = {t.name: rounds for t in tools}
    if check:
        for t in list(live):
            if t.self_verifying and rounds:
                continue  # its timed runs verify themselves
            log(f"  check {t.name} ...")
            _, error = run_once(t, w, not t.self_verifying, timeout, keep)
            if error:
                log(f"  ! {error}")
                res[t.name]["run"] = Series(error=error)
                live.remove(t)
    for r in range(rounds):
        for t in list(live):
            if r >= wanted[t.name]:
                continue
            samples, error = run_once(t, w, False, timeout, keep)
            took = sum(s.wall for s in samples.values())
            if r == 0 and took > slow and rounds > 1:
                wanted[t.name] = 1
                log(f"  {t.name} took {took:.0f} s > --slow {slow:g} s: one timed round")
            if error:
                log(f"  ! {error}")
                res[t.name].setdefault("run", Series()).error = error
                live.remove(t)
                continue
            for label, s in samples.items():
                res[t.name].setdefault(label, Series()).samples.append(s)
        log(f"  round {r + 1}/{rounds}: " + ", ".join(
            f"{t.name} {res[t.name]['run'].samples[-1].wall:.3f}s" for t in live
            if r < wanted[t.name]))
    return res


# ------------------------------------------------------------------ tick
TICK_T0 = datetime(2026, 6, 1, 3, 0, 30, tzinfo=timezone.utc)


def bench_tick(pipe: Pipe, runs: int, timeout: float, log) -> dict:
    d = Path(tempfile.mkdtemp(prefix="bench-tick-"))
    pdir, sdir = d / "pipelines", d / ".pipe"
    pdir.mkdir()
    for w in tick_pipelines(20):
        # daily at 03:00 UTC, start_date long before T0 (catchup: false by default)
        render_pipe(w, pdir, header=('schedule: "0 3 * * *"', "start_date: 2026-01-01"))
    g = pipe.cmd + ["--state-dir", str(sdir), "--pipelines-dir", str(pdir)]
    out: dict = {"T0": TICK_T0.isoformat()}
    with open(d / "first.txt", "wb") as f:
        # -v: tick is quiet when its runs succeed; the check reads its progress lines
        first = run_timed(g + ["tick", "-v", "--now", TICK_T0.isoformat()], d, pipe.env, timeout,
                          stdout=f, stderr_path=d / "stderr.txt")
    if first.rc != 0 or first.timed_out:
        out["error"] = describe_failure(Step("tick", g + ["tick", "--now", TICK_T0.isoformat()],
                                             pipe.env), d, first, "first pipe tick failed")
        log("  ! " + out["error"])
        return out
    said = (d / "first.txt").read_text(errors="replace")
    missing = [w.name for w in tick_pipelines(20) if w.name not in said]
    if missing:  # with -v it prints a line per state change when not on a terminal
        out["error"] = f"the first tick at {TICK_T0.isoformat()} did not run {', '.join(missing)}"
        log("  ! " + out["error"])
        return out
    log(f"  first tick ran all 20 pipelines in {first.wall:.2f} s")
    out["first_tick_s"] = first.wall
    later = (TICK_T0 + timedelta(minutes=5)).isoformat()
    py = pipe.python()
    cmds = {
        "pipe tick": g + ["tick", "--now", later],
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import typer, rich, yaml, jsonschema, croniter'":
            [py, "-c", "import typer, rich, yaml, jsonschema, croniter"],
    }
    series = {k: Series() for k in cmds}
    printed = ""
    for i in range(runs + 1):  # the first of each is a warm-up
        for k, argv in cmds.items():
            stdout = d / "stdout.txt"
            with open(stdout, "wb") as f:
                s = run_timed(argv, d, pipe.env, timeout, stdout=f, stderr_path=d / "stderr.txt")
            if s.rc != 0 or s.timed_out:
                out["error"] = describe_failure(Step(k, argv, pipe.env), d, s, f"{k} failed")
                log("  ! " + out["error"])
                return out
            if k == "pipe tick" and stdout.read_text().strip():
                printed = stdout.read_text()[:500]
            if i:
                series[k].samples.append(s)
    shutil.rmtree(d, ignore_errors=True)
    out["series"] = series
    out["interpreter"] = py
    out["later"] = later
    if printed:
        out["printed"] = printed
    log("  " + ", ".join(f"{k.split(' ')[0] if k.startswith('pipe') else k}: "
                         f"{v.median() * 1000:.0f} ms" for k, v in series.items()))
    return out


# ------------------------------------------------------------------ report
def machine(tools: list[Tool], pipe: Pipe | None) -> list[str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- runner: Python {platform.python_version()}; load average at start "
        + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]
    if pipe:
        lines.append(f"- pipe's interpreter: {first_line([pipe.python(), '--version'])}")
    for t in tools:
        lines.append(f"- {t.name}: {t.version()} — {t.parallel}")
    return lines


def fmt_s(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def report(results: dict, tick: dict | None, tools: list[Tool], pipe: Pipe | None,
           rounds: int, mach: list[str]) -> str:
    out = [f"Medians of {rounds} rounds (min–max); overhead/task = (wall − ideal) / tasks; "
           "`pipe ÷ tool` = pipe's median / the tool's (< 1: pipe is faster).", ""]
    out += ["| workload | tasks | ideal s | tool | wall s | min–max s | overhead/task ms "
            "| pipe ÷ tool | peak RSS MB |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    merged_notes: set[str] = set()
    failures: list[str] = []
    for wname, (w, res) in results.items():
        pipe_run = res.get("pipe", {}).get("run")
        pipe_med = pipe_run.median() if pipe_run and pipe_run.samples else None
        for t in tools:
            for label, s in res.get(t.name, {}).items():
                name = t.name if label == "run" else f"{t.name} {label}"
                if label == "graph":
                    name = "pipe graph --format json"
                if not s.samples:
                    err = s.error or "no samples"
                    m = re.match(r"timed out after (\d+) s(?: with (.*))?", err)
                    if m:
                        out.append(f"| {wname} | {w.n} | {w.ideal:g} | {name} | > {m[1]} | "
                                   f"timed out{': ' + m[2] if m[2] else ''} | | | |")
                    else:
                        out.append(f"| {wname} | {w.n} | {w.ideal:g} | {name} | failed ‡ | | | | |")
                        failures.append(err)
                    continue
                med = s.median()
                lo, hi = s.span()
                if s.merged_from:
                    name += " †"
                    merged_notes.add(s.merged_from)
                span = f"{fmt_s(lo)}–{fmt_s(hi)}" if len(s.samples) > 1 else "1 run"
                if label == "run":
                    ovh = f"{(med - w.ideal) / w.n * 1000:.2f}"
                    ratio = "—" if t.name == "pipe" or pipe_med is None else f"{pipe_med / med:.2f}x"
                else:
                    ovh, ratio = "", ""
                out.append(f"| {wname} | {w.n} | {w.ideal:g} | {name} | {fmt_s(med)} | "
                           f"{span} | {ovh} | {ratio} | {s.peak_rss_mb():.0f} |")
    for err in failures:
        out += ["", "‡ " + err.splitlines()[0], ""]
        if len(err.splitlines()) > 1:
            out += ["```", *err.splitlines()[1:], "```"]
    for when in sorted(merged_notes):
        out.append(f"\n† measured in an earlier run of this suite on the same machine ({when}), "
                   "merged with --merge.")
    if tick and "series" in tick:
        ser = tick["series"]
        out += ["", f"`pipe tick` with nothing due (20 scheduled pipelines, state from one tick "
                f"at {tick['T0']}; timed at {tick['later']}), medians of "
                f"{len(ser['pipe tick'].samples)} runs, same interpreter:", "",
                "| command | median ms | min–max ms | ÷ imports |", "|---|---:|---:|---:|"]
        imp = [k for k in ser if k.startswith("python -c 'import")][0]
        for k, s in ser.items():
            lo, hi = s.span()
            out.append(f"| `{k}` | {s.median() * 1000:.0f} | {lo * 1000:.0f}–{hi * 1000:.0f} | "
                       f"{s.median() / ser[imp].median():.2f}x |")
        if tick.get("printed"):
            out.append(f"\nNote: `pipe tick` printed output although nothing was due: "
                       f"`{tick['printed'].splitlines()[0]}`")
    elif tick and tick.get("error"):
        out += ["", "tick: failed — " + tick["error"].replace("\n", "\n    ")]
    targets = target_rows(results, tick)
    if targets:
        out += ["", "| target | goal | measured | result |", "|---|---|---|---|"] + targets
    out += ["", "Machine:", ""] + mach
    return "\n".join(out)


def target_rows(results: dict, tick: dict | None) -> list[str]:
    rows = []

    def med(w: str, tool: str, label: str = "run") -> float | None:
        s = results.get(w, (None, {}))[1].get(tool, {}).get(label)
        return s.median() if s and s.samples else None

    def row(name: str, goal: str, measured: str, ok: bool | None) -> None:
        res = "n/a" if ok is None else ("met" if ok else "**not met**")
        rows.append(f"| {name} | {goal} | {measured} | {res} |")

    for w in ("chain-200", "wide-500"):
        p = med(w, "pipe")
        for peer, goal in (("make", 2.0), ("doit", 0.5)):
            q = med(w, peer)
            if p and q:
                row(f"{w}: pipe ÷ {peer}", f"≤ {goal:g}x", f"{p / q:.2f}x", p / q <= goal)
    p = med("critical-path", "pipe")
    if p:
        row("critical-path: pipe wall (first run)", "≤ 2.10 s (2.0 s + 5%)",
            f"{p:.3f} s ({(p / 2.0 - 1) * 100:+.1f}%)", p <= 2.1)
    p = med("sleep-wide", "pipe")
    if p:
        row("sleep-wide: efficiency ideal/wall", "≥ 0.97", f"{2.0 / p:.3f}", 2.0 / p >= 0.97)
    if tick and "series" in tick:
        ser = tick["series"]
        imp = [k for k in ser if k.startswith("python -c 'import")][0]
        r = ser["pipe tick"].median() / ser[imp].median()
        row("tick (nothing due) ÷ imports", f"≤ {TICK_GOAL}x", f"{r:.2f}x", r <= TICK_GOAL)
    v, g = med("big-10k", "pipe", "validate"), med("big-10k", "pipe", "graph")
    if v and g:
        row("big-10k: validate + graph json", "< 1.5 s", f"{v:.2f} + {g:.2f} = {v + g:.2f} s",
            v + g < 1.5)
    p, m = med("big-10k", "pipe"), med("big-10k", "make")
    if p and m:
        row("big-10k: pipe run ÷ make", "≤ 3x", f"{p / m:.2f}x", p / m <= 3)
    s = results.get("big-10k", (None, {}))[1].get("pipe", {}).get("run")
    if s and s.samples:
        rss = s.peak_rss_mb()
        row("big-10k: pipe run peak RSS", "< 150 MB", f"{rss:.0f} MB", rss < 150)
    return rows


def to_json(results: dict, tick: dict | None, mach: list[str]) -> dict:
    def ser(s: Series) -> dict:
        return {"walls": s.walls, "rc": [x.rc for x in s.samples],
                "maxrss_kb": [x.maxrss_kb for x in s.samples], "error": s.error,
                "merged_from": s.merged_from}
    doc = {"machine": mach, "workloads": {
        w: {"tasks": wl.n, "ideal": wl.ideal,
            "tools": {t: {lab: ser(s) for lab, s in labs.items()} for t, labs in res.items()}}
        for w, (wl, res) in results.items()}}
    if tick:
        doc["tick"] = {k: (v if k != "series" else {n: ser(s) for n, s in v.items()})
                       for k, v in tick.items()}
    return doc


def merge(results: dict, doc: dict, tools: list[str], log) -> None:
    """Fill (workload, tool, step) series missing from `results` from a --json file."""
    when = next((m[len("- date: "):] for m in doc.get("machine", []) if m.startswith("- date: ")),
                "an earlier run")
    for wname, wdoc in doc.get("workloads", {}).items():
        if wname not in results:
            continue
        res = results[wname][1]
        for tool, labs in wdoc["tools"].items():
            if tool not in tools:
                continue
            for label, sdoc in labs.items():
                cur = res.setdefault(tool, {}).get(label)
                if cur is not None and (cur.samples or not sdoc["walls"]):
                    continue
                samples = [Sample(w, rc, rss) for w, rc, rss in
                           zip(sdoc["walls"], sdoc["rc"], sdoc["maxrss_kb"])]
                res[tool][label] = Series(samples, sdoc.get("error"),
                                          merged_from=sdoc.get("merged_from") or when)
                log(f"  merged {wname} / {tool} {label} from {when}")


# ------------------------------------------------------------------ profile
def profile(pipe: Pipe, wname: str, command: str, out_dir: Path) -> int:
    w = WORKLOADS[wname]()
    d = Path(tempfile.mkdtemp(prefix=f"bench-profile-{wname}-"))
    path = render_pipe(w, d)
    out_dir.mkdir(parents=True, exist_ok=True)
    prof = out_dir / f"{wname}-{command}.prof"
    argv = [pipe.python(), "-m", "cProfile", "-o", str(prof), "-m", "pipeline_cli",
            "--state-dir", str(d / ".pipe"), command, str(path)]
    if command == "graph":
        argv += ["--format", "json"]
    print("$ " + shlex.join(argv), file=sys.stderr)
    s = run_timed(argv, d, pipe.env, 3600, stderr_path=d / "stderr.txt")  # stdout: /dev/null
    if s.rc != 0:
        print(describe_failure(Step("profile", argv, pipe.env), d, s, "profile run failed"))
        return 1
    print(f"wall {s.wall:.3f} s under cProfile; {prof}\n")
    code = ("import pstats,sys; p=pstats.Stats(sys.argv[1]); p.strip_dirs();"
            "p.sort_stats('tottime').print_stats(20); p.sort_stats('cumulative').print_stats(25)")
    subprocess.run([pipe.python(), "-c", code, str(prof)])
    shutil.rmtree(d, ignore_errors=True)
    return 0


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Workloads: " + ", ".join(list(WORKLOADS) + ["tick"])
                                 + "\n\nTargets:\n" + TARGETS_DOC)
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per workload (default 5)")
    ap.add_argument("--only", help="comma-separated workloads (default: all, and tick)")
    ap.add_argument("--skip", help="comma-separated workloads (noop-1) or tool:workload pairs "
                    "(luigi:big-10k) to leave out")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="default: pipe,make,doit,luigi")
    ap.add_argument("--pipe", help="command for pipe (default: `pipe` on PATH, then "
                    "benchmarks/.venv/bin/pipe, then .venv/bin/pipe)")
    ap.add_argument("--tick-runs", type=int, default=20, help="timed runs per tick command")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds per command (default 1800); a tool that takes longer is "
                    "reported as timed out, with how many tasks it had done")
    ap.add_argument("--slow", type=float, default=60, help="a tool whose first timed run takes "
                    "longer than this many seconds gets only that one (default 60)")
    ap.add_argument("--merge", type=Path, help="a --json file of an earlier run: pairs not "
                    "measured now (e.g. --skip luigi:big-10k) are taken from it, marked †")
    ap.add_argument("--no-check", action="store_true", help="skip the verifying warm-up run")
    ap.add_argument("--check-only", action="store_true", help="only verify every tool runs every task")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs")
    ap.add_argument("--json", type=Path, help="also write raw samples to this JSON file")
    ap.add_argument("--write-readme", action="store_true",
                    help=f"replace the results between {START} and {END} in benchmarks/README.md")
    ap.add_argument("--profile", metavar="WORKLOAD",
                    help="run pipe on WORKLOAD under cProfile and print the top functions")
    ap.add_argument("--profile-command", choices=("run", "validate", "graph"), default="run",
                    help="the pipe command --profile runs (default run)")
    args = ap.parse_args(argv)

    env = dict(os.environ, NO_COLOR="1")
    env.pop("PYTHONPATH", None)
    # Measure Python tools as users run them: with bytecode caches. Caches go to
    # a folder of our own so running the suite writes nothing outside benchmarks/.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(HERE / ".venv" / "pycache")
    if VENV_BIN.is_dir():
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"

    names = list(WORKLOADS) + ["tick"]
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
    skip_pairs = set()
    for item in (args.skip or "").split(","):
        tool_, _, wl = item.strip().rpartition(":")
        if tool_:
            skip_pairs.add((tool_, wl))
        elif wl in names:
            names.remove(wl)
    bad = [n for n in names if n not in WORKLOADS and n != "tick"]
    if bad:
        ap.error(f"unknown workload(s): {', '.join(bad)}; known: {', '.join(WORKLOADS)}, tick")

    pipe_cmd = find_pipe(args.pipe)
    pipe = Pipe(env, pipe_cmd) if pipe_cmd else None
    if args.profile:
        if not pipe:
            ap.error("pipe not found: pass --pipe CMD")
        if args.profile not in WORKLOADS:
            ap.error(f"unknown workload {args.profile}")
        return profile(pipe, args.profile, args.profile_command, HERE / "profiles")

    tools: list[Tool] = []
    for name in args.tools.split(","):
        name = name.strip()
        if name == "pipe":
            if pipe:
                tools.append(pipe)
            else:
                print("pipe not found (PATH, benchmarks/.venv, .venv): skipped; use --pipe CMD",
                      file=sys.stderr)
        elif name == "make":
            tools.append(Make(env))
        elif name == "doit":
            tools.append(Doit(env))
        elif name == "luigi":
            tools.append(Luigi(env))
        elif name:
            ap.error(f"unknown tool {name}; known: {', '.join(ALL_TOOLS)}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    mach = machine(tools, pipe if pipe in tools else None)
    log("\n".join(mach))
    results: dict = {}
    tick = None
    for name in names:
        if name == "tick":
            if pipe in tools and not args.check_only:
                log(f"tick: {args.tick_runs} runs each")
                tick = bench_tick(pipe, args.tick_runs, args.timeout, log)
            continue
        w = WORKLOADS[name]()
        lb = w.lower_bound()
        assert abs(lb - w.ideal) < 1e-9, (name, lb, w.ideal)
        log(f"{name}: {w.n} tasks, ideal {w.ideal:g} s")
        these = [t for t in tools if (t.name, name) not in skip_pairs]
        res = bench_workload(w, these, 0 if args.check_only else args.rounds,
                             not args.no_check, args.timeout, args.keep, args.slow, log)
        results[name] = (w, res)

    if args.check_only:
        failed = [f"{w}/{t}" for w, (_, res) in results.items() for t, labs in res.items()
                  if any(s.error for s in labs.values())]
        print("check: every tool ran every task of every workload" if not failed
              else "check failed: " + ", ".join(failed))
        return 1 if failed else 0

    mach.append("- load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
                + f"; {args.rounds} rounds")
    if args.merge:
        merge(results, json.loads(args.merge.read_text()), [t.name for t in tools], log)
    table = report(results, tick, tools, pipe if pipe in tools else None, args.rounds, mach)
    print(table)
    if args.json:
        args.json.write_text(json.dumps(to_json(results, tick, mach), indent=1))
    if args.write_readme:
        text = README.read_text()
        if START in text and END in text:
            head, rest = text.split(START, 1)
            _, tail = rest.split(END, 1)
            README.write_text(f"{head}{START}\n{table}\n{END}{tail}")
            log(f"wrote the results into {README}")
        else:
            log(f"{README} has no {START} / {END} markers; not written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
