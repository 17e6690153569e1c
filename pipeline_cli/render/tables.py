"""Tables of runs, tasks and pipelines: Rich on a terminal, never cutting ids, dates or
states (less important columns are dropped or folded first); aligned plain text elsewhere."""
from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from ..model import RUN_INTERRUPTED
from .common import _styled, fmt_duration, is_terminal, resume_command, short_date, to_second, when

if TYPE_CHECKING:
    from ..state import RunView


def fit(headers: list[str], rows: list[list[str]], width: int | None, drop: tuple[str, ...] = (),
        fold: tuple[str, ...] = ()) -> dict[str, int | None]:
    """Which columns to show at this width, and the width of each folding column (None: its
    own). Columns are never cut: the ones in `drop` go first (in that order) and the ones
    in `fold` wrap, so that run ids, dates, states and task ids show whole."""
    natural = {h: max([len(h)] + [_wide(r[i]) for r in rows]) for i, h in enumerate(headers)}
    shown = list(headers)

    def need(cols: list[str], folded: int) -> int:
        return sum(min(natural[c], folded) if c in fold else natural[c] for c in cols) + 3 * len(cols) + 1

    if width is None:
        return {h: None for h in shown}
    order = list(drop)
    while need(shown, 16) > width and order:
        col = order.pop(0)
        if col in shown and len(shown) > 1:
            shown.remove(col)
    widths: dict[str, int | None] = {h: None for h in shown}
    folding = [c for c in shown if c in fold]
    if folding and need(shown, 10**6) > width:
        fixed = sum(natural[c] for c in shown if c not in fold) + 3 * len(shown) + 1
        room = max(8, (width - fixed) // len(folding))
        for c in folding:
            widths[c] = min(natural[c], room)
    return widths


def _wide(cell: str) -> int:
    """The width of a cell (a cell may hold lines of its own)."""
    return max(len(line) for line in cell.split("\n"))


def _rich_table(headers: list[str], rows: list[list[str]], cols: dict[str, int | None], title: str | None = None):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    index = {h: i for i, h in enumerate(headers)}
    for h in cols:
        if cols[h] is None:
            table.add_column(h, no_wrap=True, min_width=max([len(h)] + [_wide(r[index[h]]) for r in rows]))
        else:
            table.add_column(h, overflow="fold", max_width=cols[h])
    for r in rows:
        table.add_row(*[_styled(r[index[h]]) for h in cols])
    return table


NARROWEST = 24           # a folding column narrower than this is said under the table instead


def _table(headers: list[str], rows: list[list[str]], title: str | None = None, drop: tuple[str, ...] = (),
           fold: tuple[str, ...] = (), below: str | None = None) -> None:
    """`below`: a column that, when the terminal leaves it too little room, is said under the
    table, one `FIRST-COLUMN: value` line each, rather than folded into a narrow strip."""
    if is_terminal(sys.stdout):
        from rich.console import Console
        from rich.markup import escape
        from rich.text import Text

        console = Console()
        if title:          # wrapped between words at the terminal's width, never cut
            console.print(Text(title))
        cols = fit(headers, rows, console.width, drop, fold)
        under: list[str] = []
        if below in headers and (below not in cols or (cols[below] or 10**6) < NARROWEST):
            i = headers.index(below)
            under = [f"{r[0]}: {r[i]}" for r in rows if r[i]]
            headers, rows = headers[:i] + headers[i + 1:], [r[:i] + r[i + 1:] for r in rows]
            cols = fit(headers, rows, console.width, drop, fold)
        console.print(_rich_table(headers, rows, cols))
        for line in under:
            console.print(escape(line), highlight=False)
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = sys.stdout
    if title:
        out.write(title + "\n")
    out.write("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip() + "\n")
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")


def runs_table(pipeline: str, runs: list[RunView], note: str = "") -> None:
    """Newest first."""
    rows = [[r.run_id, r.state, r.kind, short_date(r.logical_date), when(r.started), fmt_duration(r.duration)]
            for r in runs]
    _table(["run", "state", "kind", "logical date", "started", "duration"], rows,
           title=f"{pipeline}: {'recent runs' if not note else note}", drop=("kind", "started", "duration"))


def run_table(run: RunView, expand: bool = False) -> None:
    """A run's tasks, one row each; a foreach task says its instances' counts (`expand`:
    a row for each instance below it, with its item)."""
    selected = set(run.selected or run.tasks)
    shown = []
    for t in run.tasks.values():
        if t.id in selected or t.state != "pending":
            shown.append((t, t.id, instances_reason(t)))
            if expand:
                shown += [(i, f"  {i.id}", _item_reason(t, n, i)) for n, i in sorted(t.instances.items())]
    # Where each attempt ran, when any ran elsewhere than here (the Dask executor).
    remote = any(getattr(t, "worker", None) not in (None, "local") for t, _, _ in shown)
    rows = [[name, t.state, str(t.attempt or ""), fmt_duration(t.duration)]
            + ([getattr(t, "worker", None) or ""] if remote else []) + [reason] for t, name, reason in shown]
    title = (f"{run.pipeline} · run {run.run_id} · {run.state} · {run.kind} · logical date {to_second(run.logical_date)}")
    _table(["task", "state", "attempt", "duration"] + (["worker"] if remote else []) + ["reason"], rows,
           title=title, drop=("duration", "worker", "attempt"), fold=("reason",), below="reason")
    for n in getattr(run, "notifications", ()):     # deliveries after the run (notify.py): already masked
        said = "sent" if n.get("ok") else f"NOT delivered: {n.get('error')}"
        sys.stdout.write(f"notify {n.get('when')} -> {n.get('target')}: {said}\n")
    for s in getattr(run, "stale", None) or ():
        sys.stdout.write(f"stale: {s['asset']} {s['start']} was produced again (version {s['now']}) after this run "
                         f"read version {s['version']}\n")
    if run.state == RUN_INTERRUPTED:
        sys.stdout.write(f"resume it: {resume_command(run)}\n")
    if run.skipped_lines:
        from ..state.layout import events_file

        sys.stdout.write(f"note: skipped {run.skipped_lines} unreadable line(s) in {events_file(run.dir)}\n")


def instances_reason(t, short: bool = False) -> str:
    """The reason column of a task; of a foreach task, its instances' counts first (`short`:
    the counts alone, for the live table at 80 columns)."""
    if t.items is None:
        return t.reason or ""
    from ..fanout import counts_text, instances_text

    return counts_text(t) if short else instances_text(t)


def _item_reason(parent, index: int, inst) -> str:
    item = parent.values[index] if parent.values and index < len(parent.values) else None
    shown = "" if item is None else f"item {json.dumps(item, default=str)}"
    return "; ".join(x for x in (shown, inst.reason or "") if x)


def assets_table(assets: list[dict], detail: bool) -> None:
    rows = [[a["asset"], ", ".join(a["producers"]) or "(nothing)", str(a["partitions"]),
             short_date((a["latest"] or {}).get("start")) or "-", ", ".join(a["consumers"]) or "-"] for a in assets]
    _table(["asset", "produced by", "partitions", "latest", "waited for by"], rows, fold=("waited for by",))
    if detail:
        for a in assets:
            parts = [[p["start"], p["end"], str(p["version"]), p["run_id"] or "-", p["by"]] for p in a["produced"]]
            if parts:
                _table(["partition", "until", "version", "run", "by"], parts, title=f"{a['asset']}: partitions")


def pools_table(pools: list[dict]) -> None:
    rows = []
    for p in pools:
        held = "; ".join(f"{h.get('pipeline', '?')} {h.get('task', '?')} (run {h.get('run_id', '?')})"
                         for h in p["holders"]) or "-"
        rows.append([p["pool"], str(p["size"]), f"{p['in_use']} of {p['size']}", held])
    _table(["pool", "size", "in use", "held by"], rows, fold=("held by",))


def pipelines_table(rows: list[dict]) -> None:
    overdue = "\n(overdue)" if is_terminal(sys.stdout) else " (overdue)"     # under the time, in a table cell
    table_rows = []
    for r in rows:
        nxt = (to_second(r.get("next_due")) or "-") + (overdue if r.get("overdue") else "")
        if r.get("ended"):
            nxt = f"ended {short_date(r.get('end_date'))}"     # the schedule's end_date has passed
        if r.get("waiting_for"):
            first = r["waiting_for"][0]
            nxt = f"waiting for {first['missing']}"
        if r.get("paused"):
            nxt = "paused" + (f" since {short_date(r['paused'].get('at'))}" if r["paused"].get("at") else "")
        table_rows.append([r["name"], r.get("schedule_words") or "-", nxt, str(r["tasks"]),
                           (r.get("last_state") or "-") + (" (late)" if r.get("late") else ""),
                           when(r.get("last_started")), r.get("description") or ""])
    _table(["pipeline", "schedule", "next due", "tasks", "last run", "started", "description"], table_rows,
           drop=("started", "tasks", "description"), fold=("description", "schedule"))
