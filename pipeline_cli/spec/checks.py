"""Step 3: the checks the schema cannot express. Each check reads the document and reports
located problems (and warnings); none builds anything. The build (build.py) may then rely
on a document that passed them all.
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Callable

from .. import templates
from ..errors import Problem
from .schema_check import aliased, dotted
from .values import (MAX_NOTIFY_TIMEOUT, NAME_RE, NOTIFY_NAMES, as_str_map, defaults_of, deps_of,
                     merged_task, parse_duration, tasks_of, timezone_of)
from .yamldoc import node_at


class Checker:
    """What the checks share: the document, where its values are, and the problems found."""

    def __init__(self, file: str, root, doc: dict, problems: list[Problem]):
        self.file, self.root, self.doc, self.problems = file, root, doc, problems
        self.warnings: list[Problem] = []
        self.sources: set[str] = set()        # the Python files the entrypoint check read
        self.raw_tasks = tasks_of(doc)
        self.defaults = defaults_of(doc)
        self.deps = deps_of(self.raw_tasks)
        self.params = doc.get("params") if isinstance(doc.get("params"), dict) else {}
        self._ancestors: dict[str, set[str]] = {}

    def _problem(self, path, message: str, key: bool = False) -> Problem:
        mark = node_at(self.root, path, key=key).start_mark
        return Problem(self.file, mark.line + 1, mark.column + 1, message)

    def at(self, path, message: str, key: bool = False) -> None:
        self.problems.append(self._problem(path, message, key))

    def warn(self, path, message: str) -> None:
        self.warnings.append(self._problem(path, message))

    def reported(self, path) -> bool:
        """Whether a problem (e.g. from the schema) is already located at this value."""
        mark = node_at(self.root, path).start_mark
        return any((p.line, p.column) == (mark.line + 1, mark.column + 1) for p in self.problems)

    def ancestors(self, tid: str) -> set[str]:
        if tid not in self._ancestors:
            seen: set[str] = set()
            stack = list(self.deps.get(tid, ()))
            while stack:
                d = stack.pop()
                if d not in seen and d in self.deps:
                    seen.add(d)
                    stack.extend(self.deps[d])
            self._ancestors[tid] = seen
        return self._ancestors[tid]

    def template(self, text, path: list, task_id: str | None) -> None:
        """A templated field: syntax, names, params, and upstream outputs only."""
        if not isinstance(text, str) or not templates.is_template(text):
            return
        try:
            use = templates.analyse(text)
        except templates.TemplateError as e:
            self.at(path, f"{dotted(path)}: {e.message}" + (f" (template line {e.lineno})" if e.lineno and "\n" in text else ""))
            return
        for n in sorted(use.names - templates.CONTEXT_NAMES):
            close = difflib.get_close_matches(n, sorted(templates.CONTEXT_NAMES), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.at(path, f"{dotted(path)}: unknown template variable {n!r}{hint}")
        for n in sorted(use.names & templates.FOREACH_NAMES):
            if task_id is None or "foreach" not in self.raw_tasks.get(task_id, {}) or path[-1:] == ["foreach"]:
                where = "its own foreach list" if path[-1:] == ["foreach"] else \
                    ("a pipeline field" if task_id is None else f"task {task_id!r}, which has no `foreach:`")
                self.at(path, f"{dotted(path)}: {n!r} is only known in the fields of a foreach task's instances, "
                              f"not in {where}")
        for p in sorted(use.params - set(self.params)):
            self.at(path, f"{dotted(path)}: {undeclared_param(p, self.params)}")
        for up in sorted(use.outputs):
            if task_id is None:
                self.at(path, f"{dotted(path)}: tasks.{up}.outputs can only be used in a task's fields")
            elif up not in self.raw_tasks:
                self.at(path, f"{dotted(path)}: tasks.{up}.outputs refers to unknown task {up!r}")
            elif up not in self.ancestors(task_id):
                self.at(path, f"{dotted(path)}: tasks.{up}.outputs: {up!r} is not upstream of {task_id!r} "
                              f"(add it to deps, directly or through another task)")


def undeclared_param(name: str, params: dict) -> str:
    close = difflib.get_close_matches(name, sorted(params), n=1)
    hint = f"; did you mean params.{close[0]}?" if close else ""
    return f"params.{name} is not declared in `params:` (declared: {', '.join(sorted(params)) or 'none'}){hint}"


def task_path(c: Checker, tid: str, field: str) -> list:
    """Where a task's field stands: in the task, or in `defaults:`."""
    return ["tasks", tid, field] if field in c.raw_tasks[tid] else ["defaults", field]


# -- the pipeline's own fields ------------------------------------------------------------

def check_name(c: Checker) -> None:
    stem = Path(c.file).stem
    if "name" not in c.doc and not NAME_RE.match(stem):
        c.at([], f"the file name {stem!r} is not a valid pipeline name (lower-case letters, digits, '_' "
                 "and '-', starting with a letter); add a `name:`")


def valid_zone(tz: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not tz or tz.startswith(("/", ".")) or ".." in tz:
            return False
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_timezone(c: Checker) -> None:
    tz = c.doc.get("timezone")
    if isinstance(tz, str) and not valid_zone(tz):
        from zoneinfo import available_timezones

        close = difflib.get_close_matches(tz, sorted(available_timezones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else " (expected an IANA name such as Europe/Amsterdam)"
        c.at(["timezone"], f"unknown timezone {tz!r}{hint}")


def check_schedule(c: Checker) -> None:
    from ..schedule import cron_problem

    schedule = c.doc.get("schedule")
    if isinstance(schedule, str):
        why = cron_problem(schedule)
        if why and not c.reported(["schedule"]):
            c.at(["schedule"], why)


def check_start_date(c: Checker) -> None:
    from ..schedule import parse_instant

    if not isinstance(c.doc.get("start_date"), str):
        return
    tz = timezone_of(c.doc)
    try:
        parse_instant(c.doc["start_date"], tz if valid_zone(tz) else "UTC")
    except ValueError as e:
        if not c.reported(["start_date"]):
            c.at(["start_date"], f"start_date: {e}")


def check_end_date(c: Checker) -> None:
    """end_date: a date that exists, after start_date (a schedule that ends before it begins
    would never run: a mistake, said where end_date stands)."""
    from ..schedule import parse_instant

    if not isinstance(c.doc.get("end_date"), str):
        return
    tz = timezone_of(c.doc)
    tz = tz if valid_zone(tz) else "UTC"
    try:
        end = parse_instant(c.doc["end_date"], tz)
    except ValueError as e:
        if not c.reported(["end_date"]):
            c.at(["end_date"], f"end_date: {e}")
        return
    if not isinstance(c.doc.get("start_date"), str):
        return
    try:
        start = parse_instant(c.doc["start_date"], tz)
    except ValueError:
        return
    if end <= start and not c.reported(["end_date"]):
        c.at(["end_date"], f"end_date {c.doc['end_date']} is not after start_date {c.doc['start_date']}: "
                           "no interval could ever be scheduled")


def check_catchup(c: Checker) -> None:
    raw = c.doc.get("catchup", False)
    if isinstance(raw, str):
        try:
            parse_duration(raw)
        except ValueError as e:
            if not c.reported(["catchup"]):
                c.at(["catchup"], f"catchup: {e}")


def check_params(c: Checker) -> None:
    seen_env: dict[str, str] = {}
    for p in c.params:
        other = seen_env.setdefault(p.upper(), p)
        if other != p:
            c.at(["params", p], f"params {other!r} and {p!r} would both be passed as PIPE_PARAM_{p.upper()}; "
                                "rename one", key=True)


def check_scheduled_params(c: Checker) -> None:
    """A warning: a scheduled pipeline with a param declared without a default (`city:`)
    cannot be run by tick or backfill, which have no -p to give it."""
    if not c.doc.get("schedule"):
        return
    for name, value in c.params.items():
        if value is None:
            c.warn(["params", name], f"warning: params.{name} has no default, so `pipe tick` and `pipe backfill` "
                                     f"cannot run this scheduled pipeline (they have no -p to give it); "
                                     f"give it a default, or remove `schedule`")


def check_pipeline_templates(c: Checker) -> None:
    env = c.doc.get("env")
    if isinstance(env, dict):
        for k, v in env.items():
            c.template(v, ["env", k], None)
    c.template(c.doc.get("workdir"), ["workdir"], None)


# -- tasks ----------------------------------------------------------------------------------

def check_dependencies(c: Checker) -> None:
    """Unknown ids, self-dependencies, cycles."""
    import graphlib

    for tid, deps in c.deps.items():
        for i, dep in enumerate(deps):
            if dep == tid:
                c.at(["tasks", tid, "deps", i], f"task {tid!r} depends on itself")
            elif dep not in c.raw_tasks:
                close = difflib.get_close_matches(dep, list(c.raw_tasks), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                c.at(["tasks", tid, "deps", i], f"task {tid!r} depends on unknown task {dep!r}{hint}")
    graph = {t: [d for d in ds if d != t and d in c.deps] for t, ds in c.deps.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        # graphlib lists it so that each node is a dependency of the next: the flow of data.
        flow = list(e.args[1])
        c.at(["tasks", flow[0]], "dependency cycle: " + " -> ".join(flow), key=True)


def check_commands(c: Checker) -> None:
    """Exactly one of `run`, `python` and `wait` (a sensor); `with` only beside `python`,
    `every` only beside `wait`."""
    for tid, t in c.raw_tasks.items():
        given = [k for k in ("run", "python", "wait") if k in t]
        if len(given) > 1:
            c.at(["tasks", tid], f"task {tid!r} has both `{given[0]}` and `{given[1]}`; a task takes exactly one of "
                                 "`run`, `python` and `wait`", key=True)
        elif not given and not aliased(t, "run"):    # `command:`: said where it stands
            c.at(["tasks", tid], f"task {tid!r} has neither `run` (a command) nor `python` (module:function) "
                                 "nor `wait` (a sensor)", key=True)
        if "every" in t and "wait" not in t:
            c.at(["tasks", tid, "every"], f"tasks.{tid}.every: only a sensor (`wait:`) is checked every so often",
                 key=True)
        if "wait" in t and isinstance(t["wait"], dict):
            for k, v in t["wait"].items():
                if isinstance(v, str):
                    c.template(v, ["tasks", tid, "wait", k], tid)
            after = t["wait"].get("after")
            if after is not None:
                from ..sensors import after_problem

                problem = after_problem(after)
                if problem:
                    c.at(["tasks", tid, "wait", "after"], f"tasks.{tid}.wait.after: {problem}")
        if "with" in t and "python" not in t:
            c.at(["tasks", tid, "with"], f"task {tid!r}: `with:` passes arguments to a `python:` entrypoint; "
                                         "this task has none", key=True)


def check_task_templates(c: Checker) -> None:
    for tid, t in c.raw_tasks.items():
        merged = merged_task(c.defaults, t)
        run = merged.get("run")
        if isinstance(run, str):
            c.template(run, task_path(c, tid, "run"), tid)
        elif isinstance(run, list):
            for i, arg in enumerate(run):
                c.template(arg, task_path(c, tid, "run") + [i], tid)
        with_ = merged.get("with") if isinstance(merged.get("with"), dict) else {}
        for k, v in with_.items():
            for s in templates.strings_in(v):
                c.template(s, ["tasks", tid, "with", k], tid)
        for k, v in as_str_map(merged.get("env")).items():
            c.template(v, (["tasks", tid, "env", k] if k in (t.get("env") or {}) else ["defaults", "env", k]), tid)
        for field in ("sources", "generates"):
            for i, s in enumerate(merged.get(field) or () if isinstance(merged.get(field), list) else ()):
                c.template(s, task_path(c, tid, field) + [i], tid)
        c.template(merged.get("workdir"), task_path(c, tid, "workdir"), tid)


def check_foreach(c: Checker) -> None:
    """`foreach`: a template is checked like any task field; what is known before the run (a
    list, a JSON array, a matrix, a param with a default) must give at most MAX_ITEMS items."""
    from ..fanout import NotAList, items_of

    for tid, t in c.raw_tasks.items():
        if "foreach" not in t:
            if "max_parallel" in t:
                c.at(["tasks", tid, "max_parallel"], f"tasks.{tid}.max_parallel: only a task with `foreach:` has "
                                                     "instances to bound", key=True)
            continue
        value, path = t["foreach"], ["tasks", tid, "foreach"]
        if isinstance(value, str) and templates.is_template(value):
            c.template(value, path, tid)
            try:
                use = templates.analyse(value)
            except templates.TemplateError:
                continue
            if use.outputs or use.env or use.names - {"params"} or any(c.params.get(p) is None for p in use.params):
                continue          # known once the run has its upstream outputs (or a param given with -p)
            context = {"params": c.params}
        else:
            context = {}
        try:
            items_of(value, context, where=dotted(path))
        except (NotAList, templates.TemplateError) as e:
            c.at(path, str(getattr(e, "message", e)))


def check_wait_for(c: Checker) -> None:
    """`wait_for` (and `wait_timeout`) belong to a pipeline with a cron schedule: its intervals
    are what waits for the assets' partitions."""
    schedule = c.doc.get("schedule")
    for key in ("wait_for", "wait_timeout"):
        if key in c.doc and (not isinstance(schedule, str) or schedule == "@once"):
            c.at([key], f"{key}: only a pipeline with a cron `schedule:` waits for assets (its intervals are "
                        "what waits)", key=True)
    if "wait_timeout" in c.doc and "wait_for" not in c.doc:
        c.at(["wait_timeout"], "wait_timeout: the pipeline has no `wait_for:` to wait for", key=True)


def check_pool_slots(c: Checker) -> None:
    """`pool_slots` says how many slots of the task's pool: without `pool:` there is none."""
    for tid, t in c.raw_tasks.items():
        if "pool_slots" in t and "pool" not in merged_task(c.defaults, t):
            c.at(["tasks", tid, "pool_slots"], f"tasks.{tid}.pool_slots: the task has no `pool:` to take slots of",
                 key=True)


def check_quoted_templates(c: Checker) -> None:
    """A warning, not an error: a template inside the user's own quotes in a shell string."""
    for tid, t in c.raw_tasks.items():
        run = merged_task(c.defaults, t).get("run")
        if isinstance(run, str) and templates.is_template(run):
            path = task_path(c, tid, "run")
            for expr, quote in templates.quoted_in_shell(run):
                c.warn(path, _quoted_warning(path, expr, quote))


def _quoted_warning(path, expr: str, quote: str) -> str:
    inner = expr.strip()
    if quote == '"':
        where, why = "double quotes", "where the shell still expands $, ` and \\ in the value pipe quoted"
    else:
        where, why = "single quotes", "where the quotes pipe puts around the value end yours instead"
    return (f"warning: {dotted(path)}: {quote}{inner}{quote} is inside {where} of your own, {why}; pipe quotes "
            f"every value it substitutes, so write {inner} without the quotes "
            f"(or {inner[:-2].rstrip()} | raw }}}} to pass it as shell code)")


def check_durations(c: Checker) -> None:
    for tid, t in c.raw_tasks.items():
        merged = merged_task(c.defaults, t)
        for field in ("timeout", "retry_delay"):
            if field in merged:
                try:
                    parse_duration(merged[field])
                except ValueError as e:
                    path = task_path(c, tid, field)
                    if not c.reported(path):
                        c.at(path, f"{dotted(path)}: {e}")


# -- notify ---------------------------------------------------------------------------------

_SECRET_REF = re.compile(r"\bsecrets\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def secret_names(text: str) -> set[str]:
    """The X of every `secrets.X` (or secrets['X']) a template uses."""
    return {a or b for a, b in _SECRET_REF.findall(text)}


def check_notify(c: Checker) -> None:
    raw = c.doc.get("notify")
    if not isinstance(raw, dict):
        return
    secrets = c.doc.get("secrets") if isinstance(c.doc.get("secrets"), list) else []
    to = raw.get("to", [])
    to = [to] if isinstance(to, str) else [u for u in to if isinstance(u, str)] if isinstance(to, list) else []
    if not to and raw.get("run") is None:
        c.at(["notify"], "notify: give `to` (Apprise URLs) or `run` (a command), or both", key=True)
    for i, url in enumerate(to):
        path = ["notify", "to"] + ([i] if isinstance(raw.get("to"), list) else [])
        if not templates.is_template(url):
            continue
        try:
            use = templates.analyse(url)
        except templates.TemplateError as e:
            c.at(path, f"{dotted(path)}: {e.message}")
            continue
        for n in sorted(use.names - NOTIFY_NAMES):
            c.at(path, f"{dotted(path)}: {n!r} cannot be used here; a notify target may use "
                       "env, params, secrets and pipeline")
        for name in sorted(use.params - set(c.params)):
            c.at(path, f"{dotted(path)}: {undeclared_param(name, c.params)}")
        for name in sorted(secret_names(url) - set(secrets)):
            c.at(path, f"{dotted(path)}: secrets.{name} is not listed in `secrets:`")
    when = raw.get("when") if isinstance(raw.get("when"), list) else []
    if "deadline" in when and "deadline" not in raw:
        c.at(["notify", "when", when.index("deadline")],
             "notify.when: `deadline` needs `notify.deadline` (how long after an interval's end, e.g. 2h)")
    if "deadline" in raw and not c.doc.get("schedule"):
        c.at(["notify", "deadline"], "notify.deadline: the pipeline has no `schedule`, so no interval "
                                     "can be late; add a schedule or remove the deadline", key=True)
    if "timeout" in raw:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError:
            return       # reported by the schema
        if timeout > MAX_NOTIFY_TIMEOUT:
            c.at(["notify", "timeout"], f"notify.timeout: at most 30s (all deliveries of a run take at most "
                                        f"30 s), got {raw['timeout']!r}")


def check_entrypoints(c: Checker) -> None:
    """Python tasks: the module, the function and `with:`, read from their source (never run)."""
    if any("python" in t for t in c.raw_tasks.values()):
        from . import entrypoints

        for path, message, key in entrypoints.problems(c.file, c.doc, c.sources):
            if not c.reported(path):
                c.at(path, message, key=key)


CHECKS: tuple[Callable[[Checker], None], ...] = (
    check_name, check_timezone, check_schedule, check_start_date, check_end_date, check_catchup, check_params,
    check_scheduled_params,
    check_pipeline_templates, check_dependencies, check_commands, check_task_templates,
    check_foreach, check_pool_slots, check_wait_for, check_quoted_templates, check_durations, check_notify, check_entrypoints,
)


def run_checks(c: Checker) -> None:
    for check in CHECKS:
        check(c)
