"""What each command returns: plain dataclasses, each with `to_json()` (the `--json`
document) and `outcome` (ok, failed, invalid or interrupted), which errors.exit_code_of
maps to the exit code. render.show prints them as text, Rich tables or JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK, FAILED, INVALID, INTERRUPTED = "ok", "failed", "invalid", "interrupted"


def _run_outcome(state: str) -> str:
    return {"succeeded": OK, "interrupted": INTERRUPTED}.get(state, FAILED)


@dataclass
class RunResult:
    """A run that `run` or `resume` finished (its progress was shown while it ran)."""

    view: Any                       # state.RunView
    resumed: bool = False

    @property
    def outcome(self) -> str:
        return _run_outcome(self.view.state)

    def to_json(self) -> dict:
        return self.view.to_json()


@dataclass
class PlanResult:
    """`run --dry-run`: each task with its command rendered; nothing was run."""

    plan: Any                       # runner.Plan
    outcome: str = OK

    def to_json(self) -> dict:
        p = self.plan
        return {"pipeline": p.pipeline, "dry_run": True, "logical_date": p.run.logical_date,
                "data_interval_start": p.run.interval_start, "data_interval_end": p.run.interval_end,
                "params": p.run.params, "tasks": p.steps}


@dataclass
class ValidatedFile:
    file: str
    pipeline: str | None = None
    tasks: int = 0
    problems: list = field(default_factory=list)      # errors.Problem
    warnings: list = field(default_factory=list)      # errors.Problem

    def to_json(self) -> dict:
        def problem(p) -> dict:
            return {"file": p.file, "line": p.line, "column": p.column, "message": p.message}

        return {"file": self.file, "valid": not self.problems, "pipeline": self.pipeline, "tasks": self.tasks,
                "errors": [problem(p) for p in self.problems], "warnings": [problem(p) for p in self.warnings]}


@dataclass
class ValidateResult:
    files: list[ValidatedFile]

    @property
    def outcome(self) -> str:
        return INVALID if any(f.problems for f in self.files) else OK

    def to_json(self) -> dict:
        return {"valid": self.outcome == OK, "files": [f.to_json() for f in self.files]}


@dataclass
class GraphResult:
    pipelines: list                 # model.Pipeline
    fmt: str
    single: bool                    # one pipeline was named
    outcome: str = OK

    def to_json(self) -> dict:
        from ..render import graph_json

        docs = [graph_json(p) for p in self.pipelines]
        return docs[0] if self.single else {"pipelines": docs}


@dataclass
class ListResult:
    """`pipe list` and GET /api/pipelines: one row (a dict) per pipeline file."""

    rows: list[dict]
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return INVALID if self.problems else OK

    def to_json(self) -> dict:
        return {"pipelines": self.rows}


@dataclass
class PipelineRuns:
    pipeline: str
    runs: list                      # state.RunView, newest first

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "runs": [r.to_json() for r in self.runs]}


@dataclass
class StatusResult:
    """`pipe status`, in one JSON shape whatever the arguments:
    {"pipelines": [{"pipeline": NAME, "runs": [RUN, ...newest first]}], "run": RUN or null},
    where RUN is a run's document (as `pipe run --json` prints it) and "run" is the run whose
    task table is shown (the latest of the pipeline, or --run)."""

    pipelines: list[PipelineRuns]
    run: Any = None                 # state.RunView
    state_dir: str = ""
    filter: str | None = None
    outcome: str = OK

    def to_json(self) -> dict:
        return {"pipelines": [p.to_json() for p in self.pipelines],
                "run": self.run.to_json() if self.run is not None else None}


@dataclass
class LogsResult:
    """`pipe logs`: what was printed (the logs themselves go straight to stdout)."""

    run_id: str
    shown: list[tuple[str, int]] = field(default_factory=list)     # (task, attempt)
    outcome: str = OK

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "logs": [{"task": t, "attempt": a} for t, a in self.shown]}


@dataclass
class TickRun:
    pipeline: str
    run_id: str
    state: str
    logical_date: str | None
    resumed: bool = False

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "run_id": self.run_id, "state": self.state,
                "logical_date": self.logical_date, "resumed": self.resumed}


@dataclass
class TickResult:
    now: str
    dry_run: bool = False
    plans: list = field(default_factory=list)          # scheduler.Due
    invalid: list = field(default_factory=list)        # errors.SpecError, to be said now
    runs: list[TickRun] = field(default_factory=list)
    code_outcome: str = OK

    @property
    def outcome(self) -> str:
        return self.code_outcome

    def to_json(self) -> dict:
        pipelines = []
        for plan in self.plans:
            blocked = plan.active >= plan.pipeline.max_active_runs and bool(plan.intervals or plan.resume)
            pipelines.append({
                "pipeline": plan.pipeline.name,
                "due": [{"start": i.start.isoformat(), "end": i.end.isoformat()} for i in plan.intervals],
                "resume": [r.run_id for r in plan.resume], "active": plan.active, "blocked": blocked,
                "why": plan.why or None, "next_due": plan.next_due.isoformat() if plan.next_due else None,
                "runs": [r.to_json() for r in self.runs if r.pipeline == plan.pipeline.name]})
        return {"now": self.now, "dry_run": self.dry_run, "pipelines": pipelines,
                "invalid": [{"file": e.problems[0].file, "errors": e.lines()} for e in self.invalid]}


@dataclass
class BackfillInterval:
    start: str
    end: str
    state: str                      # a run's state, or "skipped"
    run_id: str | None = None
    why: str | None = None          # why it was skipped

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "state": self.state, "run_id": self.run_id, "why": self.why}


@dataclass
class BackfillResult:
    pipeline: str
    intervals: list[BackfillInterval]

    @property
    def outcome(self) -> str:
        states = [i.state for i in self.intervals]
        if "interrupted" in states:
            return INTERRUPTED
        return FAILED if any(s not in ("succeeded", "skipped") for s in states) else OK

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "intervals": [i.to_json() for i in self.intervals]}


@dataclass
class InitResult:
    path: str
    name: str
    next_steps: list[str]
    outcome: str = OK

    def to_json(self) -> dict:
        return {"file": self.path, "pipeline": self.name, "next_steps": self.next_steps}


@dataclass
class TextResult:
    """A command whose product is text: `schema`, `completion`."""

    text: str
    outcome: str = OK

    def to_json(self) -> dict:
        return {"text": self.text}
