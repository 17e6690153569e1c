"""The run page's task table, one row per task, written here rather than in the template: a
run of 10,000 tasks renders in a fraction of Jinja's time (benchmarks/web_bench.py). Every
user-written string is escaped; the markup is the same the template had (tests read it)."""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping
from urllib.parse import quote

from markupsafe import Markup, escape

from .svg import fmt_duration


_PLAIN = re.compile(r"[A-Za-z0-9_.-]*\Z").match      # needs neither HTML escaping nor URL quoting


def _e(text: str) -> str:
    return text if _PLAIN(text) else str(escape(text))


def _q(text: str) -> str:
    return text if _PLAIN(text) else quote(text, safe="")


def short_when(value: str | None) -> str:
    """MM-DD HH:MM of an ISO time, as written (in its own offset)."""
    if not value:
        return ""
    if len(value) >= 16 and value[4] == "-" and value[7] == "-" and value[10] in "T " and value[13] == ":":
        return f"{value[5:10]} {value[11:16]}"
    from datetime import datetime

    try:
        return datetime.fromisoformat(value).strftime("%m-%d %H:%M")
    except ValueError:
        return value


def output_text(value: Any) -> str:
    """A task output as the run page writes it: a string as it is, anything else as JSON, cut short."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= 120 else text[:119] + "…"


INSTANCE_ROWS = 1000      # a foreach task's instances listed on its run's page (the rest: counted)


def _with_instances(tasks: list):
    """Each task, and below a foreach task its instances (up to INSTANCE_ROWS)."""
    for t in tasks:
        yield t
        for i in sorted(t.instances)[:INSTANCE_ROWS]:
            yield t.instances[i]


def _reason(t) -> str:
    """The reason cell; of a foreach task, its instances' counts first (as `pipe status` says them)."""
    if t.items is None:
        return t.reason or ""
    from ..fanout import instances_text

    text = instances_text(t)
    if t.items > INSTANCE_ROWS:
        text += f" (the first {INSTANCE_ROWS} are listed below; all of them: pipe status --expand)"
    return text


def task_rows(tasks: list, *, base: str, icons: Mapping[str, str], descriptions: Mapping[str, str],
              elapsed: Mapping[str, float], tails: Mapping[str, list[str]], rerun: bool, name_url: Callable,
              csrf: str, mark_url: Callable = str) -> Markup:
    out: list[str] = []
    add = out.append
    for t in _with_instances(tasks):
        tid = _e(t.id)
        state = _e(t.state)
        log = _e(f"{base}/{_q(t.id)}/log")
        instance = "[" in t.id
        cls = ' class="instance"' if instance else ""
        add(f'<tr data-task="{tid}" data-state="{state}"{cls}>\n<td class="mono">')
        add(f'<a href="{log}">{tid}</a>' if t.attempt else tid)
        desc = descriptions.get(t.id)
        if desc:
            add(f'<div class="desc" data-field="description">{escape(desc)}</div>')
        add(f'</td>\n<td data-label="State"><span class="state" data-state="{state}">{icons.get(t.state, "?")} '
            f'{state}</span></td>\n<td class="num" data-label="Attempt">')
        if t.attempt > 1:
            add(" ".join(f'<a href="{log}?attempt={n}">{n}</a>' for n in range(1, t.attempt + 1)))
        else:
            add(str(t.attempt or ""))
        add(f'</td>\n<td class="when" data-label="Started">{_e(short_when(t.started))}</td>\n')
        if t.id in elapsed:
            add(f'<td class="num" data-label="Duration" data-tick="{elapsed[t.id]:.3f}">{fmt_duration(elapsed[t.id])}</td>\n')
        else:
            add(f'<td class="num" data-label="Duration">{fmt_duration(t.duration)}</td>\n')
        add(f'<td class="num" data-label="Exit">{"" if t.exit_code is None else escape(t.exit_code)}</td>\n'
            f'<td class="reason" data-label="Reason">{escape(_reason(t)) if _reason(t) else ""}')
        tail = tails.get(t.id)
        if tail:
            add(f'<pre class="tail" data-field="log-tail">{escape(chr(10).join(tail))}</pre>')
        add('</td>\n<td class="outputs" data-label="Outputs">')
        if isinstance(t.outputs, list):       # a foreach task's: one per instance, on the instances' rows
            add(f'<span class="muted small" data-field="outputs">a list of {len(t.outputs)}, '
                'one per instance</span>' if t.outputs else "")
        elif t.outputs:
            add('<dl class="outputs" data-field="outputs">')
            for k, v in t.outputs.items():
                add(f'<div><dt>{escape(k)}</dt><dd class="mono" data-output="{escape(k)}">{escape(output_text(v))}</dd></div>')
            add("</dl>")
            if t.kept_from:
                add(f'<div class="muted small">from run {escape(t.kept_from)}</div>')
        add("</td>\n")
        if rerun and not instance:
            other = "failed" if t.state == "succeeded" else "succeeded"
            add(f'<td class="act"><form method="post" action="{escape(name_url(t.id))}" data-action="rerun">'
                f'<input type="hidden" name="csrf" value="{escape(csrf)}"><button type="submit" class="secondary small" '
                f'title="pipe resume --from {tid}">Rerun<span class="vh"> {tid}</span> with downstream</button></form>'
                f'<details class="mark"><summary>Mark<span class="vh"> {tid}</span>…</summary>'
                f'<form method="post" action="{escape(mark_url(t.id))}" data-action="mark">'
                f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
                f'<label>as <select name="state"><option value="{other}">{other}</option>'
                f'<option value="{"succeeded" if other == "failed" else "failed"}">'
                f'{"succeeded" if other == "failed" else "failed"}</option></select></label>'
                f'<label>why <input name="reason" required maxlength="500" autocomplete="off" '
                f'placeholder="kept in the run\'s history"></label>'
                f'<button type="submit" class="secondary small">Mark</button></form></details></td>\n')
        elif rerun:
            add('<td class="act"></td>\n')        # an instance: rerun or mark its foreach task
        add("</tr>\n")
    return Markup("".join(out))
