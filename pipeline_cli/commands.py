"""The commands: resolve arguments, call the core, render, return an exit code.

Both entry points call these: the typer CLI (cli.py) and the lean path for `pipe run`
and `pipe tick` (entry.py), which skips typer's import cost for cron and for small runs.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import render
from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, PipeError, SpecError, UsageError
from .state import StateDir, now_utc


@dataclass
class Globals:
    pipelines_dir: Path
    state_dir: Path

    @classmethod
    def make(cls, pipelines_dir: str | None, state_dir: str | None) -> "Globals":
        return cls(Path(pipelines_dir or os.environ.get("PIPE_PIPELINES_DIR") or "pipelines"),
                   Path(state_dir or os.environ.get("PIPE_STATE_DIR") or ".pipe"))

    def args(self) -> list[str]:
        return ["--pipelines-dir", str(self.pipelines_dir), "--state-dir", str(self.state_dir)]

    @property
    def spec_cache(self) -> Path:
        return self.state_dir / "cache" / "specs"

    @property
    def state(self) -> StateDir:
        return StateDir(self.state_dir)


def guarded(fn, *args, **kwargs) -> int:
    """Run a command; a user error becomes its message on stderr and exit code 2."""
    try:
        return fn(*args, **kwargs)
    except PipeError as e:
        render.print_errors(e.lines())
        return e.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


def load(g: Globals, name: str):
    from . import spec

    return spec.load(spec.resolve(name, g.pipelines_dir), cache=g.spec_cache)


def parse_date(text: str, tz: str, option: str) -> datetime:
    from .schedule import parse_instant

    try:
        return parse_instant(text, tz)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def split_ids(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def run(g: Globals, pipeline: str, *, date: str | None = None, params: list[str] | None = None,
        only: list[str] | None = None, from_: list[str] | None = None, force: bool = False,
        dry_run: bool = False, concurrency: int | None = None, fail_fast: bool = False,
        json_mode: bool = False) -> int:
    from . import runner

    p = load(g, pipeline)
    if concurrency is not None and concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    when = parse_date(date, p.timezone, "--date") if date else None
    result = runner.new_run(p, g.state, reporter=render.reporter_for_output(json_mode), date=when,
                            params=parse_params(params), only=split_ids(only), from_=split_ids(from_),
                            force=force, concurrency=concurrency, fail_fast=fail_fast, dry_run=dry_run)
    if dry_run:
        render.plan(result, json_mode)
        return EXIT_OK
    if json_mode:
        render.json_out(result.to_json())
    return runner.exit_code(result)


def resume(g: Globals, pipeline: str, run_id: str | None, *, from_: list[str] | None = None,
           json_mode: bool = False) -> int:
    from . import runner

    p = load(g, pipeline)
    result = runner.resume(p, g.state, run_id, reporter=render.reporter_for_output(json_mode), from_=split_ids(from_))
    if json_mode:
        render.json_out(result.to_json())
    return runner.exit_code(result)


def validate(g: Globals, pipelines: list[str] | None) -> int:
    from . import spec

    if pipelines:
        paths = [spec.resolve(name, g.pipelines_dir) for name in pipelines]
    else:
        paths = spec.discover(g.pipelines_dir)
        if not paths:
            raise UsageError(f"no pipeline files (*.yaml, *.yml) in {g.pipelines_dir}/")
    code = EXIT_OK
    for path in paths:
        try:
            p = spec.load(path)
            print(f"{path}: ok ({p.name}, {len(p.tasks)} task{'' if len(p.tasks) == 1 else 's'})")
        except SpecError as e:
            render.print_errors(e.lines())
            code = EXIT_INVALID
    return code


def graph(g: Globals, pipeline: str | None, fmt: str) -> int:
    from . import spec

    if fmt not in ("tree", "mermaid", "dot", "json"):
        raise UsageError(f"--format {fmt!r}: expected tree, mermaid, dot or json")
    paths = [spec.resolve(pipeline, g.pipelines_dir)] if pipeline else spec.discover(g.pipelines_dir)
    if not paths:
        raise UsageError(f"no pipeline files (*.yaml, *.yml) in {g.pipelines_dir}/")
    problems = []
    pipelines = []
    for path in paths:
        try:
            pipelines.append(spec.load(path))
        except SpecError as e:
            problems.extend(e.problems)
    if problems:
        raise SpecError(problems)
    if fmt == "json":
        docs = [render.graph_json(p) for p in pipelines]
        render.json_out(docs[0] if pipeline else {"pipelines": docs})
        return EXIT_OK
    make = {"tree": render.graph_tree, "mermaid": render.graph_mermaid, "dot": render.graph_dot}[fmt]
    sys.stdout.write("\n".join(make(p) for p in pipelines))
    return EXIT_OK


def list_pipelines(g: Globals, json_mode: bool) -> int:
    from . import spec

    rows = []
    problems = []
    now = now_utc()
    for path in spec.discover(g.pipelines_dir):
        try:
            p = spec.load(path)
        except SpecError as e:
            problems.extend(e.lines())
            rows.append({"name": path.stem, "file": str(path), "valid": False, "tasks": 0})
            continue
        row = {"name": p.name, "file": str(path), "valid": True, "description": p.description,
               "schedule": p.schedule, "timezone": p.timezone, "tasks": len(p.tasks)}
        if p.schedule:
            from .schedule import Schedule, describe_cron

            sched = Schedule(p.schedule, p.timezone, p.start_date)
            row["schedule_words"] = f"{describe_cron(p.schedule)} ({p.timezone})"
            row["next_due"] = sched.next_due(now).isoformat()
        ids = g.state.run_ids(p.name)
        if ids:
            last = g.state.run(p.name, ids[-1])
            row.update(last_run=last.run_id, last_state=last.state, last_started=last.started)
        rows.append(row)
    if json_mode:
        render.json_out({"pipelines": rows})
    else:
        render.pipelines_table(rows)
    if problems:
        render.print_errors(problems)
        return EXIT_INVALID
    return EXIT_OK


def status(g: Globals, pipeline: str | None, run_id: str | None, json_mode: bool) -> int:
    if pipeline is None:
        if run_id:
            raise UsageError("--run needs a PIPELINE")
        names = g.state.pipelines()
        runs = {n: g.state.runs(n, limit=10) for n in names}
        if json_mode:
            render.json_out({"pipelines": {n: [r.to_json() for r in rs] for n, rs in runs.items()}})
        elif not names:
            print(f"no runs yet (state folder {g.state_dir})")
        for n, rs in runs.items():
            if not json_mode:
                render.runs_table(n, rs)
        return EXIT_OK
    name = _pipeline_name(g, pipeline)
    if run_id is None and not json_mode:
        runs = g.state.runs(name, limit=10)
        if not runs:
            raise UsageError(f"pipeline {name!r} has no runs yet (state folder {g.state_dir})")
        render.runs_table(name, runs)
        print()
        render.run_table(runs[-1])
        return EXIT_OK
    run = g.state.run(name, run_id)
    if json_mode:
        doc = run.to_json()
        if run_id is None:
            doc = {"pipeline": name, "runs": [r.to_json() for r in g.state.runs(name, limit=10)], "latest": doc}
        render.json_out(doc)
    else:
        render.run_table(run)
    return EXIT_OK


def _pipeline_name(g: Globals, pipeline: str) -> str:
    """The pipeline's name, from its file if it is valid, else the name given (history stays readable)."""
    from . import spec

    if pipeline in g.state.pipelines():
        return pipeline
    try:
        return load(g, pipeline).name
    except SpecError:
        return Path(pipeline).stem


def logs(g: Globals, pipeline: str, task: str | None, run_id: str | None, attempt: int | None) -> int:
    name = _pipeline_name(g, pipeline)
    run = g.state.run(name, run_id)
    if task is None:
        chosen = [t for t in run.tasks.values() if t.state == "failed"]
        if not chosen:
            print(f"run {run.run_id} has no failed tasks; name a TASK to see its log")
            return EXIT_OK
    else:
        if task not in run.tasks:
            import difflib

            close = difflib.get_close_matches(task, list(run.tasks), n=1)
            raise UsageError(f"run {run.run_id} has no task {task!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
        chosen = [run.tasks[task]]
    out = sys.stdout.buffer
    for t in chosen:
        n = attempt or t.attempt
        if not n:
            raise UsageError(f"task {t.id!r} has not run in run {run.run_id} (state: {t.state})")
        path = run.dir / "logs" / f"{t.id}.{n}.log"
        if not path.exists():
            raise UsageError(f"no log for task {t.id!r} attempt {n} in run {run.run_id}")
        if len(chosen) > 1 or task is None:
            out.write(f"==> {t.id} attempt {n} ({t.state}) <==\n".encode())
        with open(path, "rb") as f:
            while chunk := f.read(1 << 16):
                out.write(chunk)
        out.flush()
    return EXIT_OK


def tick(g: Globals, now: str | None, dry_run: bool = False, pipeline_file: str | None = None) -> int:
    from . import scheduler

    when = parse_date(now, "UTC", "--now") if now else now_utc()
    if pipeline_file:
        return scheduler.tick_pipeline(Path(pipeline_file), g.state,
                                       when, lambda p: render.PlainReporter(sys.stdout, prefix=True))
    if not dry_run and scheduler.quiet(g.pipelines_dir, g.state, when):
        return EXIT_OK
    report = scheduler.tick(g.pipelines_dir, g.state, when, dry_run=dry_run, global_args=g.args())
    for error in report.invalid:
        render.print_errors(error.lines() + [f"{error.problems[0].file}: skipped (invalid)"])
    if dry_run:
        for plan in report.plans:
            if plan.intervals or plan.resume:
                blocked = plan.active >= plan.pipeline.max_active_runs
                for r in plan.resume:
                    print(f"{plan.pipeline.name}: would resume interrupted run {r.run_id} ({r.logical_date})"
                          + (f" but {plan.why}" if blocked else ""))
                for i in plan.intervals:
                    print(f"{plan.pipeline.name}: would run {i.start.isoformat()} .. {i.end.isoformat()}"
                          + (f" but {plan.why}" if blocked else ""))
            else:
                nxt = plan.next_due.isoformat() if plan.next_due else "never"
                print(f"{plan.pipeline.name}: nothing due ({plan.why}); next due {nxt}")
    return report.exit_code


def backfill(g: Globals, pipeline: str, start: str, end: str, rerun: bool, json_mode: bool = False) -> int:
    from . import scheduler

    p = load(g, pipeline)
    begin, finish = parse_date(start, p.timezone, "--start"), parse_date(end, p.timezone, "--end")

    def progress(i, n, interval):
        if not json_mode:
            print(f"[{i + 1}/{n}] {p.name} interval {interval.start.isoformat()} .. {interval.end.isoformat()}",
                  flush=True)

    results = scheduler.backfill(p, g.state, begin, finish, rerun=rerun,
                                 reporter_for=lambda _: render.reporter_for_output(json_mode), on_interval=progress)
    states = [s for _, s in results]
    if json_mode:
        render.json_out({"pipeline": p.name, "intervals": [{"start": i.start.isoformat(), "end": i.end.isoformat(),
                                                            "state": s} for i, s in results]})
    else:
        counts = {s: states.count(s) for s in dict.fromkeys(states)}
        print(f"{p.name}: backfill of {len(results)} interval(s): " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if "interrupted" in states:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if any(s not in ("succeeded", "skipped") for s in states) else EXIT_OK


def schema() -> int:
    from .spec import SCHEMA_FILE

    sys.stdout.write(SCHEMA_FILE.read_text(encoding="utf-8"))
    return EXIT_OK
