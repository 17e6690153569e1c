"""Commands' results (commands/results.py) as text for a person, or as their JSON document."""
from __future__ import annotations

import os
import sys

from ..commands import results as R
from .common import _n, is_terminal, json_out, print_errors, to_second
from .graph import graph_dot, graph_mermaid, graph_tree, mermaid_limits
from .tables import pipelines_table, run_table, runs_table


def show(result, json_mode: bool = False) -> None:
    """Print a command's result: its JSON document, or the text made for a person."""
    if json_mode and hasattr(result, "to_json"):
        json_out(result.to_json())
        for error in getattr(result, "invalid", ()):       # what is wrong is said on stderr as well
            print_errors(error.lines())
        print_errors(getattr(result, "problems", []))
        if isinstance(result, R.ValidateResult):
            for f in result.files:
                print_errors([str(p) for p in f.problems])
        return
    text = TEXT.get(type(result))
    if text is None:
        raise TypeError(f"render.show: no text for a {type(result).__name__}")
    text(result)
    sys.stdout.flush()


def stdout_gone() -> None:
    """stdout cannot be written: later writes (and the flush at exit) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def _words(line: str) -> str:
    """A line of prose wrapped between words at a terminal's width (never a word cut by the
    terminal's edge); as it is anywhere else."""
    if not is_terminal(sys.stdout):
        return line
    import shutil
    import textwrap

    width = shutil.get_terminal_size().columns
    return textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False) if width > 20 else line


def _plan_text(result) -> None:
    plan_obj = result.plan
    out = sys.stdout
    out.write(_words(f"{plan_obj.pipeline}: dry run for logical date {to_second(plan_obj.run.logical_date)} "
                     f"({_n(len(plan_obj.steps), 'task')}; nothing is run)") + "\n")
    for i, step in enumerate(plan_obj.steps, 1):
        after = f" after {', '.join(step['deps'])}" if step["deps"] else ""
        note = " (up to date: would be skipped)" if step["up_to_date"] else ""
        out.write(f"{i:>3}. {step['task']}{after}{note}\n     {step['kind']}: {step['command']}\n     in {step['cwd']}\n")
        if "foreach" in step:
            out.write(_words(f"     foreach: {_foreach_words(step['foreach'])}") + "\n")


def _foreach_words(fan: dict) -> str:
    import json

    if fan.get("known_after"):
        return (f"the items are known once {', '.join(fan['known_after'])} has run "
                "(the command above is shown for <item>)")
    if fan.get("problem"):
        return fan["problem"]
    first = ", ".join(json.dumps(v, default=str) for v in fan["first"])
    more = f", ... ({fan['items'] - len(fan['first'])} more)" if fan["items"] > len(fan["first"]) else ""
    return (f"{_n(fan['items'], 'instance')}: {first}{more} (the command above is the first one's)"
            if fan["items"] else "no items: the task would be skipped")


def _validate_text(result) -> None:
    for f in result.files:
        if f.problems:
            print_errors([str(p) for p in f.problems])
        elif f.pipeline == "(project file)":
            sys.stdout.write(f"{f.file}: ok (the project file)\n")
        else:
            sys.stdout.write(f"{f.file}: ok ({f.pipeline}, {_n(f.tasks, 'task')})\n")
        for w in f.warnings:        # e.g. a template inside the user's own quotes
            sys.stderr.write(f"{w}\n")


def _graph_text(result) -> None:
    pipelines = result.pipelines
    if result.fmt == "json":
        json_out(result.to_json())
    elif result.fmt == "tree":
        sys.stdout.write("\n".join(graph_tree(p) for p in pipelines))
    else:
        text = (graph_mermaid if result.fmt == "mermaid" else graph_dot)(pipelines)   # one document
        sys.stdout.write(text)
        if result.fmt == "mermaid":
            for why in mermaid_limits(pipelines, text):
                sys.stderr.write(f"warning: {why}\n")


def _list_text(result) -> None:
    if result.rows:
        pipelines_table(result.rows)
    if result.problems:
        print_errors(result.problems)


def _paused_line(p) -> None:
    if getattr(p, "paused", None):
        from ..state.pause import describe

        sys.stdout.write(f"{p.pipeline}: {describe(p.paused)} (tick starts nothing; `pipe unpause {p.pipeline}` "
                         "resumes its schedule)\n")


def _status_text(result) -> None:
    what = f" in state {result.filter}" if result.filter else ""
    if not result.pipelines:
        sys.stdout.write(f"no runs yet (state folder {result.state_dir})\n")
        return
    single = len(result.pipelines) == 1 and result.run is not None
    if single and len(result.pipelines[0].runs) == 1 and result.pipelines[0].runs[0] is result.run:
        _paused_line(result.pipelines[0])
        run_table(result.run, result.expand)          # --run RUN_ID (or a pipeline with one run)
        return
    for i, p in enumerate(result.pipelines):
        if i:
            sys.stdout.write("\n")
        _paused_line(p)
        if p.runs:
            runs_table(p.pipeline, p.runs, note=f"recent runs{what}" if what else "")
        elif result.run is None and not what:
            sys.stdout.write(f"pipeline {p.pipeline!r} has no runs yet (state folder {result.state_dir})\n")
        else:
            sys.stdout.write(f"{p.pipeline}: no runs{what}\n")
    if result.run is not None:
        sys.stdout.write("\n")
        run_table(result.run, result.expand)


def _tick_text(result) -> None:
    for error in result.invalid:
        print_errors(error.lines() + [f"{error.problems[0].file}: skipped (invalid)"])
    if not result.dry_run:
        return                  # the runs said what went wrong themselves; success is silent
    for plan in result.plans:
        if getattr(plan, "paused", None) is not None:
            sys.stdout.write(f"{plan.pipeline.name}: nothing starts: {plan.why}\n")
        elif plan.intervals or plan.resume:
            blocked = plan.active >= plan.pipeline.max_active_runs
            for r in plan.resume:
                sys.stdout.write(f"{plan.pipeline.name}: would resume interrupted run {r.run_id} ({to_second(r.logical_date)})"
                                 + (f" but {plan.why}" if blocked else "") + "\n")
            for i in plan.intervals:
                sys.stdout.write(f"{plan.pipeline.name}: would run {to_second(i.start.isoformat())} .. {to_second(i.end.isoformat())}"
                                 + (f" but {plan.why}" if blocked else "") + "\n")
        else:
            nxt = to_second(plan.next_due.isoformat()) if plan.next_due else "never"
            sys.stdout.write(f"{plan.pipeline.name}: nothing due ({plan.why}); next due {nxt}\n")


def _backfill_text(result) -> None:
    states = [i.state for i in result.intervals]
    if result.dry_run:
        todo = [i for i in result.intervals if i.state == "would run"]
        for i in result.intervals:
            said = "would run" if i.state == "would run" else f"skipped ({i.why})"
            sys.stdout.write(f"{to_second(i.start)} .. {to_second(i.end)}  {said}\n")
        sys.stdout.write(f"{result.pipeline}: would run {_n(len(todo), 'interval')}"
                         + (f" of {len(states)} ({len(states) - len(todo)} already succeeded)"
                            if len(todo) != len(states) else "")
                         + f", up to {result.max_active_runs} at once, oldest first; nothing was run (dry run)\n")
        return
    counts = {s: states.count(s) for s in dict.fromkeys(states)}
    sys.stdout.write(f"{result.pipeline}: backfill of {_n(len(states), 'interval')}: "
                     + ", ".join(f"{n} {s}" for s, n in counts.items()) + "\n")


def _pause_text(result) -> None:
    from ..state.pause import describe

    name = result.pipeline
    if result.paused:
        if not result.changed:
            sys.stdout.write(f"{name} was already {describe(result.info)}\n")
            return
        sys.stdout.write(f"{describe(result.info).replace('paused', f'paused {name}', 1)}\n"
                         f"tick starts nothing for it until `pipe unpause {name}`; runs going on finish, "
                         "and `pipe run` still runs it\n")
        return
    if not result.changed:
        sys.stdout.write(f"{name} is not paused\n")
        return
    catchup = result.catchup
    then = ("the next tick runs the latest ended interval only (catchup: false)" if catchup is False else
            "the next tick catches up every interval it missed, oldest first (catchup: true)" if catchup is True else
            "the next tick catches up the intervals of its catchup window" if catchup else
            "the next tick goes on with its schedule")
    sys.stdout.write(f"unpaused {name} (it was {describe(result.info)}); {then}\n")


def _bytes(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


def _prune_text(result) -> None:
    verb = "would remove" if result.dry_run else "removed"
    for r in result.removed:
        sys.stdout.write(f"{verb} {r.pipeline} {r.run_id} ({r.state}, logical date {to_second(r.logical_date)}, "
                         f"{_bytes(r.bytes)}): {r.why}\n")
    for r in result.kept:
        sys.stdout.write(f"kept {r.pipeline} {r.run_id}: it is {r.state}\n")
    total = sum(r.bytes for r in result.removed)
    pipelines = len({r.pipeline for r in result.removed})
    if result.removed:
        sys.stdout.write(f"{verb} {_n(len(result.removed), 'run')} of {_n(pipelines, 'pipeline')}, {_bytes(total)}"
                         + ("; nothing was removed (dry run)" if result.dry_run else "")
                         + " (the ledger of claimed intervals is kept: tick never reruns them)\n")
    else:
        sys.stdout.write("nothing to prune\n")


def _init_text(result) -> None:
    out = sys.stdout
    out.write(f"wrote {result.path} (pipeline {result.name}) and its Python tasks next to it\n\nnext:\n")
    for step in result.next_steps:
        out.write(f"  {step}\n")


def _text(result) -> None:
    sys.stdout.write(result.text)


def _assets_text(result) -> None:
    if not result.assets:
        sys.stdout.write("no assets: a task says `produces: [NAME]`, a pipeline `wait_for: [NAME]`\n")
        return
    from .tables import assets_table

    assets_table(result.assets, result.detail)


def _pools_text(result) -> None:
    if result.project_file is None:
        sys.stdout.write("no project file (pipe.yaml at the project root), so no pools; declare them there:\n"
                         "  pools:\n    warehouse: 2\n")
        return
    if not result.pools:
        sys.stdout.write(f"{result.project_file} declares no pools\n")
        return
    from .tables import pools_table

    pools_table(result.pools)


def _shown_as_it_went(result) -> None:
    """A run (its reporter showed it, summary included) and logs (streamed as read)."""


# Each result type's text, by the type itself: a result with no entry here is a TypeError
# (found by the tests), never a command that silently prints nothing.
TEXT = {R.PlanResult: _plan_text, R.ValidateResult: _validate_text, R.GraphResult: _graph_text,
        R.ListResult: _list_text, R.StatusResult: _status_text, R.TickResult: _tick_text,
        R.BackfillResult: _backfill_text, R.InitResult: _init_text, R.PauseResult: _pause_text, R.PruneResult: _prune_text, R.TextResult: _text,
        R.RunResult: _shown_as_it_went, R.LogsResult: _shown_as_it_went, R.PoolsResult: _pools_text,
        R.AssetsResult: _assets_text}
