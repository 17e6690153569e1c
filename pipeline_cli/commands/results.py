"""What each command returns: plain dataclasses, each with `to_json()` (the `--json`
document) and `outcome` (ok, failed, invalid or interrupted), which errors.exit_code_of
maps to the exit code. render.show prints them as text, Rich tables or JSON.

They are Records rather than dataclasses: the dataclass decorator writes and compiles
code for each class, a few milliseconds at every start of `pipe tick`."""
from __future__ import annotations

OK, FAILED, INVALID, INTERRUPTED = "ok", "failed", "invalid", "interrupted"
_REQUIRED = object()


class Record:
    """A small value class: FIELDS is ((name, default), ...); a default of `list` or `dict`
    makes a new one for each instance, _REQUIRED makes the field required."""

    FIELDS: tuple = ()

    def __init__(self, *args, **kwargs):
        names = [name for name, _ in self.FIELDS]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names or key in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {key!r}")
            values[key] = value
        for name, default in self.FIELDS:
            if name in values:
                value = values[name]
            elif default is _REQUIRED:
                raise TypeError(f"{type(self).__name__}: missing argument {name!r}")
            else:
                value = default() if default in (list, dict) else default
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n, _ in self.FIELDS)})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and all(getattr(self, n) == getattr(other, n) for n, _ in self.FIELDS)


def _run_outcome(state: str) -> str:
    return {"succeeded": OK, "interrupted": INTERRUPTED}.get(state, FAILED)


class RunResult(Record):
    """A run that `run` or `resume` finished (its progress was shown while it ran)."""

    FIELDS = (
        ("view", _REQUIRED),    # Any: state.RunView
        ("resumed", False),    # bool
    )

    @property
    def outcome(self) -> str:
        return _run_outcome(self.view.state)

    def to_json(self) -> dict:
        return self.view.to_json()


class PlanResult(Record):
    """`run --dry-run`: each task with its command rendered; nothing was run."""

    FIELDS = (
        ("plan", _REQUIRED),    # Any: runner.Plan
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        p = self.plan
        return {"pipeline": p.pipeline, "dry_run": True, "logical_date": p.run.logical_date,
                "data_interval_start": p.run.interval_start, "data_interval_end": p.run.interval_end,
                "params": p.run.params, "tasks": p.steps}


class ValidatedFile(Record):
    FIELDS = (
        ("file", _REQUIRED),    # str
        ("pipeline", None),    # str | None
        ("tasks", 0),    # int
        ("problems", list),    # list: errors.Problem
        ("warnings", list),    # list: errors.Problem
    )

    def to_json(self) -> dict:
        def problem(p) -> dict:
            return {"file": p.file, "line": p.line, "column": p.column, "message": p.message}

        return {"file": self.file, "valid": not self.problems, "pipeline": self.pipeline, "tasks": self.tasks,
                "errors": [problem(p) for p in self.problems], "warnings": [problem(p) for p in self.warnings]}


class ValidateResult(Record):
    FIELDS = (
        ("files", _REQUIRED),    # list[ValidatedFile]
    )

    @property
    def outcome(self) -> str:
        return INVALID if any(f.problems for f in self.files) else OK

    def to_json(self) -> dict:
        return {"valid": self.outcome == OK, "files": [f.to_json() for f in self.files]}


class GraphResult(Record):
    FIELDS = (
        ("pipelines", _REQUIRED),    # list: model.Pipeline
        ("fmt", _REQUIRED),    # str
        ("single", _REQUIRED),    # bool: one pipeline was named
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:

        docs = [graph_json(p) for p in self.pipelines]
        return docs[0] if self.single else {"pipelines": docs}


class ListResult(Record):
    """`pipe list` and GET /api/pipelines: one row (a dict) per pipeline file."""

    FIELDS = (
        ("rows", _REQUIRED),    # list[dict]
        ("problems", list),    # list[str]
    )

    @property
    def outcome(self) -> str:
        return INVALID if self.problems else OK

    def to_json(self) -> dict:
        return {"pipelines": self.rows}


class PipelineRuns(Record):
    FIELDS = (
        ("pipeline", _REQUIRED),    # str
        ("runs", _REQUIRED),    # list: state.RunView, newest first
        ("paused", None),    # dict | None: `pipe pause`'s who, when and why
    )

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "paused": self.paused, "runs": [r.to_json() for r in self.runs]}


class StatusResult(Record):
    """`pipe status`, in one JSON shape whatever the arguments:
    {"pipelines": [{"pipeline": NAME, "runs": [RUN, ...newest first]}], "run": RUN or null},
    where RUN is a run's document (as `pipe run --json` prints it) and "run" is the run whose
    task table is shown (the latest of the pipeline, or --run)."""

    FIELDS = (
        ("pipelines", _REQUIRED),    # list[PipelineRuns]
        ("run", None),    # Any: state.RunView
        ("state_dir", ""),    # str
        ("filter", None),    # str | None
        ("outcome", OK),    # str
        ("expand", False),    # bool: each instance of a foreach task on its own row
    )

    def to_json(self) -> dict:
        return {"pipelines": [p.to_json() for p in self.pipelines],
                "run": self.run.to_json() if self.run is not None else None}


class LogsResult(Record):
    """`pipe logs`: what was printed (the logs themselves go straight to stdout)."""

    FIELDS = (
        ("run_id", _REQUIRED),    # str
        ("shown", list),    # list[tuple[str, int]]: (task, attempt)
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "logs": [{"task": t, "attempt": a} for t, a in self.shown]}


class TickRun(Record):
    FIELDS = (
        ("pipeline", _REQUIRED),    # str
        ("run_id", _REQUIRED),    # str
        ("state", _REQUIRED),    # str
        ("logical_date", _REQUIRED),    # str | None
        ("resumed", False),    # bool
    )

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "run_id": self.run_id, "state": self.state,
                "logical_date": self.logical_date, "resumed": self.resumed}


class TickResult(Record):
    FIELDS = (
        ("now", _REQUIRED),    # str
        ("dry_run", False),    # bool
        ("plans", list),    # list: scheduling.Due
        ("invalid", list),    # list: errors.SpecError, to be said now
        ("runs", list),    # list[TickRun]
        ("code_outcome", OK),    # str
    )

    @property
    def outcome(self) -> str:
        return self.code_outcome

    @property
    def silent(self) -> bool:
        """Nothing to say as text: the runs printed their own failures."""
        return not self.dry_run and not self.invalid

    def to_json(self) -> dict:
        pipelines = []
        for plan in self.plans:
            blocked = (plan.active >= plan.pipeline.max_active_runs or getattr(plan, "paused", None) is not None) \
                and bool(plan.intervals or plan.resume)
            pipelines.append({
                "pipeline": plan.pipeline.name,
                "due": [{"start": i.start.isoformat(), "end": i.end.isoformat()} for i in plan.intervals],
                "resume": [r.run_id for r in plan.resume], "active": plan.active, "blocked": blocked,
                "why": plan.why or None, "next_due": plan.next_due.isoformat() if plan.next_due else None,
                "paused": getattr(plan, "paused", None),
                "runs": [r.to_json() for r in self.runs if r.pipeline == plan.pipeline.name]})
        return {"now": self.now, "dry_run": self.dry_run, "pipelines": pipelines,
                "invalid": [{"file": e.problems[0].file, "errors": e.lines()} for e in self.invalid]}


class BackfillInterval(Record):
    FIELDS = (
        ("start", _REQUIRED),    # str
        ("end", _REQUIRED),    # str
        ("state", _REQUIRED),    # str: a run's state, or "skipped"
        ("run_id", None),    # str | None
        ("why", None),    # str | None: why it was skipped
    )

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "state": self.state, "run_id": self.run_id, "why": self.why}


class BackfillResult(Record):
    FIELDS = (
        ("pipeline", _REQUIRED),    # str
        ("intervals", _REQUIRED),    # list[BackfillInterval]
        ("dry_run", False),    # bool: states are "would run" or "skipped"; nothing ran
        ("max_active_runs", 1),    # int: most runs at once
        ("end_date", None),    # str | None: the range was cut at the pipeline's end_date
    )

    @property
    def outcome(self) -> str:
        states = [i.state for i in self.intervals]
        if "interrupted" in states:
            return INTERRUPTED
        return FAILED if any(s not in ("succeeded", "skipped", "would run") for s in states) else OK

    def to_json(self) -> dict:
        doc = {"pipeline": self.pipeline, "intervals": [i.to_json() for i in self.intervals]}
        if self.dry_run:
            doc.update(dry_run=True, count=sum(i.state == "would run" for i in self.intervals),
                       max_active_runs=self.max_active_runs)
        doc["end_date"] = self.end_date
        return doc


class PauseResult(Record):
    """`pipe pause` / `pipe unpause`: the pipeline's pause as it now stands."""

    FIELDS = (
        ("pipeline", _REQUIRED),    # str
        ("paused", _REQUIRED),    # bool: paused now
        ("info", None),    # dict | None: {by, at, reason} of the pause (on unpause: the one ended)
        ("changed", True),    # bool: False when it was already so
        ("catchup", None),    # bool | float | None: on unpause, what tick will catch up
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"pipeline": self.pipeline, "paused": self.paused, "changed": self.changed,
                ("pause" if self.paused else "ended_pause"): self.info}


class PruneResult(Record):
    """`pipe prune`: the runs removed (or, dry, that would be), and those kept because they
    are going on."""

    FIELDS = (
        ("removed", _REQUIRED),    # list: state.prune.Pruned
        ("kept", list),    # list: state.RunView, running or waiting (never pruned)
        ("dry_run", False),    # bool
        ("source", "options"),    # str: "options" or "pipe.yaml" (its retention)
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"dry_run": self.dry_run, "by": self.source, "count": len(self.removed),
                "bytes": sum(r.bytes for r in self.removed), "runs": [r.to_json() for r in self.removed],
                "kept_going_on": [{"pipeline": r.pipeline, "run_id": r.run_id, "state": r.state} for r in self.kept]}


class AssetsResult(Record):
    """`pipe assets [NAME]`: {"assets": [{"asset", "producers": ["pipeline.task"], "consumers":
    [pipeline], "partitions": N, "latest": PARTITION or null, and with NAME "produced":
    [PARTITION, ...]}]}; a PARTITION is {"asset", "start", "end", "pipeline", "task", "run_id",
    "by", "time", "version"}."""

    FIELDS = (
        ("assets", _REQUIRED),    # list[dict]
        ("detail", False),    # bool: one asset, with its partitions
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"assets": self.assets}


class PoolsResult(Record):
    """`pipe pools`: {"project_file": PATH or null, "pools": [{"pool", "size", "in_use",
    "holders": [{"slot", "pipeline", "run_id", "task", "pid", "since"}]}]}."""

    FIELDS = (
        ("pools", _REQUIRED),    # list[dict]
        ("project_file", None),    # str | None
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"project_file": self.project_file, "pools": self.pools}


class InitResult(Record):
    FIELDS = (
        ("path", _REQUIRED),    # str
        ("name", _REQUIRED),    # str
        ("next_steps", _REQUIRED),    # list[str]
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"file": self.path, "pipeline": self.name, "next_steps": self.next_steps}


class TextResult(Record):
    """A command whose product is text: `schema`, `completion`."""

    FIELDS = (
        ("text", _REQUIRED),    # str
        ("outcome", OK),    # str
    )

    def to_json(self) -> dict:
        return {"text": self.text}


def graph_json(p) -> dict:
    """`pipe graph --format json` of one pipeline: its tasks and their edges."""
    return {"pipeline": p.name, "file": p.path,
            "nodes": [{"id": t.id, "kind": "python" if t.python else "sensor" if t.wait else "command",
                       "deps": list(t.deps),
                       "trigger": t.trigger} for t in p.tasks.values()],
            "edges": [[d, t.id] for t in p.tasks.values() for d in t.deps]}
