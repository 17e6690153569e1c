"""Server-drawn SVG: the DAG of a run coloured by state, and the Gantt timeline of its attempts.

No style attributes (the Content-Security-Policy forbids inline styles): colours come from
classes and `data-state` in static/style.css. Every user-written string is escaped.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Mapping

from markupsafe import Markup, escape

from .dag_layout import Layout, curves


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def dag_svg(lay: Layout, states: Mapping[str, str], href: Callable[[str], str | None]) -> Markup:
    pad = 8
    w, h = lay.width + 2 * pad, lay.height + 2 * pad
    out = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
           f'viewBox="{-pad} {-pad} {w:.0f} {h:.0f}" role="group" aria-label="task graph">']
    out.append('<g class="edges">')
    for a, b, pts in lay.edges:
        segments = curves(lay, pts)
        d = f"M{segments[0][0][0]},{segments[0][0][1]}"
        for _, (c1x, c1y), (c2x, c2y), (ex, ey) in segments:
            d += f" C{c1x},{c1y} {c2x},{c2y} {ex},{ey}"
        out.append(f'<path d="{d}" data-from="{escape(a)}" data-to="{escape(b)}"/>')
    out.append("</g>")
    nw, nh = lay.node_width, lay.node_height
    for tid, box in lay.nodes.items():
        state = states.get(tid, "pending")
        x, y = box.x - nw / 2, box.y - nh / 2
        link = href(tid)
        node = (f'<g class="node" data-task="{escape(tid)}" data-state="{escape(state)}">'
                f"<title>{escape(tid)}: {escape(state)}</title>"
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{nw}" height="{nh}" rx="6"/>'
                f'<text x="{box.x}" y="{y + 18:.1f}" class="id">{escape(_short(tid, 22))}</text>'
                f'<text x="{box.x}" y="{y + 34:.1f}" class="st" data-field="state">{escape(state)}</text></g>')
        out.append(f'<a href="{escape(link)}">{node}</a>' if link else node)
    out.append("</svg>")
    return Markup("".join(out))


def _t(s: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(s) if s else None
    except ValueError:
        return None


RUNNING_STATES = ("running", "retrying")


def attempt_state(task_state: str, attempt, current: bool) -> str:
    """The one answer to "what state is this attempt shown with" (its colour, icon and word
    everywhere: the timeline, the attempt's log page). An attempt that ended says its own
    state; one that ended "retrying" failed (the retry is the task's, the next attempt's).
    One never closed by an event: the current attempt of a task that is no longer running
    takes the task's state (its pipe died: cancelled); an earlier one was stopped when its
    run was interrupted, before the resume that started the next: cancelled."""
    if attempt.finished is not None:
        return "failed" if attempt.state == "retrying" else attempt.state
    if attempt.state not in RUNNING_STATES:
        return attempt.state
    if current:
        return attempt.state if task_state in RUNNING_STATES else task_state
    return "cancelled"


class Timeline:
    """Where a time falls on the timeline's axis: the executions of a run (its first start
    and each resume, [begin, end)) laid side by side with a small gap between them, so the
    idle time before a resume does not squeeze what ran into slivers."""

    GAP = 14

    def __init__(self, spans: list[tuple[datetime, datetime]], plot: float):
        spans = [(s, max(e, s)) for s, e in spans]
        self.spans = spans
        gaps = self.GAP * (len(spans) - 1)
        self.active = sum((e - s).total_seconds() for s, e in spans)
        self.scale = max(plot - gaps, 10) / max(self.active, 0.001)      # px per second of running
        self.starts, x = [], 0.0
        for s, e in spans:
            self.starts.append(x)
            x += (e - s).total_seconds() * self.scale + self.GAP

    def x(self, t: datetime) -> float:
        """Offset of `t` on the plot (a time between two executions: the end of the earlier)."""
        for i in range(len(self.spans) - 1, -1, -1):
            s, e = self.spans[i]
            if t >= s or i == 0:
                within = min(max((t - s).total_seconds(), 0.0), (e - s).total_seconds())
                return self.starts[i] + within * self.scale
        return 0.0

    def breaks(self) -> list[tuple[float, datetime, datetime]]:
        """(x of the gap's middle, the earlier execution's end, the resume) for each resume."""
        out = []
        for i in range(1, len(self.spans)):
            out.append((self.starts[i] - self.GAP / 2, self.spans[i - 1][1], self.spans[i][0]))
        return out


def gantt_svg(rows: Iterable[tuple[str, str, list]], start: str | None, end: str | None,
              href: Callable[[str, int], str | None], width: int = 900,
              executions: list[tuple[str, str | None]] | None = None) -> Markup:
    """rows: (task, task state, attempts) with attempts carrying number/state/started/finished.
    `executions`: the run's first start and each resume as (begin, end or None: `end`)."""
    rows = [(tid, st, [a for a in atts if _t(a.started)]) for tid, st, atts in rows]
    rows = [r for r in rows if r[2]]
    t0 = _t(start)
    t1 = _t(end)
    starts = [_t(a.started) for _, _, atts in rows for a in atts]
    ends = [_t(a.finished) or t1 for _, _, atts in rows for a in atts]
    t0 = min([t for t in starts + [t0] if t], default=None)
    t1 = max([t for t in ends + [t1] if t], default=None)
    if not rows or t0 is None or t1 is None:
        return Markup('<p class="muted">No attempt has started yet.</p>')
    label_w, row_h, top = 170, 22, 22
    plot = width - label_w - 10
    spans = []
    for b, e in executions or []:
        bs, es = _t(b), _t(e) if e else t1
        if bs is not None and es is not None:
            spans.append((bs, es))
    if not spans:
        spans = [(t0, t1)]
    # Nothing drawn outside the executions: the first begins with the earliest attempt, the last
    # ends with the latest end (an attempt's end written after the run's last event, clocks).
    spans[0] = (min(spans[0][0], t0), spans[0][1])
    spans[-1] = (spans[-1][0], max(spans[-1][1], t1))
    axis = Timeline(spans, plot)
    span = axis.active
    h = top + row_h * len(rows) + 4
    out = [f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'viewBox="0 0 {width} {h}" role="group" aria-label="timeline of attempts">']
    if len(spans) == 1:
        # Ticks at round steps (1, 2, 5 times a power of ten; minutes and hours past a minute),
        # 3 to 8 of them over the run's span: +0, +5s, +10s, ... rather than +3ms, +7ms, +11ms.
        step = _nice_step(span)
        k = 0
        while k * step <= span * 1.0001:
            x = label_w + axis.x(spans[0][0]) + k * step * axis.scale
            anchor = ' class="ticklabel end"' if (k + 1) * step > span * 1.0001 and k else ' class="ticklabel"'
            out.append(f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{h}"/>'
                       f'<text{anchor} x="{x:.1f}" y="11">+{_tick(k * step, span)}</text>')
            k += 1
    else:
        # One run, several executions: each begins at its own tick, and each resume is marked
        # with how long the run stood still before it.
        for k, (s, e) in enumerate(spans):
            x = label_w + axis.starts[k]
            out.append(f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{h}"/>')
            room = axis.x(e) - axis.starts[k]
            if room > 80:        # its length over its middle, where that fits between the labels
                out.append(f'<text class="ticklabel" data-execution="{k + 1}" x="{x + room / 2:.1f}" y="11">'
                           f'{_fmt((e - s).total_seconds())}</text>')
        for k, (x, before, after) in enumerate(axis.breaks(), start=1):
            x += label_w
            idle = _fmt((after - before).total_seconds())
            out.append(f'<g class="resume" data-resume="{k}"><title>resumed {escape(after.isoformat())}, '
                       f'after {idle} stopped</title>'
                       f'<line class="resume" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{h}"/>'
                       f'<text class="ticklabel mid" x="{x:.1f}" y="11">resumed</text></g>')
        out.append(f'<text class="ticklabel start" x="{label_w}" y="11">started</text>')
    for k, (tid, state, atts) in enumerate(rows):
        y = top + k * row_h
        out.append(f'<g class="row" data-task="{escape(tid)}" data-state="{escape(state)}">'
                   f"<title>{escape(tid)}: {escape(state)}</title>"
                   f'<text class="label" x="{label_w - 6}" y="{y + 15}">{escape(_short(tid, 22))}</text>')
        for a in atts:
            shown = attempt_state(state, a, a is atts[-1])
            s = _t(a.started)
            e = _t(a.finished)
            if e is None:
                # Never closed: running, or stopped with its execution (it ends where that ends).
                e = next((pe for ps, pe in reversed(spans) if ps <= s), t1) if shown not in RUNNING_STATES else t1
            e = max(e, s)
            x = label_w + axis.x(s)
            bw = max(axis.x(e) - axis.x(s), 2)
            dur = (e - s).total_seconds()
            bar = (f'<rect class="bar" data-state="{escape(shown)}" data-attempt="{a.number}" x="{x:.1f}" '
                   f'y="{y + 3}" width="{bw:.1f}" height="{row_h - 6}" rx="2"><title>{escape(tid)} attempt '
                   f'{a.number}: {escape(shown)}, {_fmt(dur)}</title></rect>')
            link = href(tid, a.number)
            out.append(f'<a href="{escape(link)}">{bar}</a>' if link else bar)
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _nice_step(span: float) -> float:
    """A round tick step that divides `span` seconds into 3 to 8 parts."""
    import math

    span = max(span, 0.001)
    steps = [60.0, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    if span > 180:
        return next((st for st in steps if span / st <= 8), steps[-1] * math.ceil(span / steps[-1] / 8))
    base = 10 ** math.floor(math.log10(span / 8))
    for m in (1, 2, 5, 10, 20, 50):
        if span / (base * m) <= 8:
            return base * m
    return base * 100


def _tick(seconds: float, span: float) -> str:
    if seconds <= 0:
        return "0"
    if span < 2:
        return f"{seconds * 1000:.0f}ms"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return _fmt(seconds)


def _fmt(seconds: float | None) -> str:
    """A duration as the pages write it (static/live.js writes a ticking one the same way).
    Never negative: a clock ahead of another's (a shared state folder) reads 0."""
    if seconds is None:
        return ""
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


fmt_duration = _fmt
