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
           f'viewBox="{-pad} {-pad} {w:.0f} {h:.0f}" role="img" aria-label="task graph">']
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


def gantt_svg(rows: Iterable[tuple[str, str, list]], start: str | None, end: str | None,
              href: Callable[[str, int], str | None], width: int = 900) -> Markup:
    """rows: (task, task state, attempts) with attempts carrying number/state/started/finished."""
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
    span = max((t1 - t0).total_seconds(), 0.001)
    label_w, row_h, top = 170, 22, 22
    plot = width - label_w - 10
    h = top + row_h * len(rows) + 4
    out = [f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'viewBox="0 0 {width} {h}" role="img" aria-label="timeline of attempts">']
    for i in range(5):
        x = label_w + plot * i / 4
        anchor = ' class="ticklabel end"' if i == 4 else ' class="ticklabel"'
        out.append(f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{h}"/>'
                   f'<text{anchor} x="{x:.1f}" y="11">+{_tick(span * i / 4, span)}</text>')
    for k, (tid, state, atts) in enumerate(rows):
        y = top + k * row_h
        out.append(f'<g class="row" data-task="{escape(tid)}" data-state="{escape(state)}">'
                   f"<title>{escape(tid)}: {escape(state)}</title>"
                   f'<text class="label" x="{label_w - 6}" y="{y + 15}">{escape(_short(tid, 22))}</text>')
        for a in atts:
            s = _t(a.started)
            e = _t(a.finished) or t1
            x = label_w + plot * (s - t0).total_seconds() / span
            bw = max(plot * (e - s).total_seconds() / span, 2)
            dur = (e - s).total_seconds()
            bar = (f'<rect class="bar" data-state="{escape(a.state)}" x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" '
                   f'height="{row_h - 6}" rx="2"><title>{escape(tid)} attempt {a.number}: {escape(a.state)}, '
                   f'{_fmt(dur)}</title></rect>')
            link = href(tid, a.number)
            out.append(f'<a href="{escape(link)}">{bar}</a>' if link else bar)
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def _tick(seconds: float, span: float) -> str:
    return f"{seconds * 1000:.0f}ms" if span < 2 else _fmt(seconds)


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    m, s = divmod(int(seconds), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


fmt_duration = _fmt
