"""Everything pipe shows, at the edge: commands return results and the run loop calls a
reporter; this package turns them into text for a person or one JSON document.

    common.py    terminal detection, durations, dates (to the second), errors on stderr, JSON out,
                 styles
    progress.py  a run as it goes: the live Rich table (terminal), plain lines (cron, CI,
                 pipes), the summary at the end
    tables.py    tables of runs, tasks and pipelines that never cut ids, dates or states
    graph.py     tree, Mermaid, Graphviz dot and JSON graphs
    results.py   show(result, json_mode): a command's result as text or JSON

Rich is imported only where a terminal gets a live table or a styled table; plain output is
plain text with no escape codes; `--json` is one document.
"""
from __future__ import annotations

from .common import (LIVE_ROWS, STYLE, TAIL_LINES, fmt_duration, is_terminal, json_out, logs_command,
                     print_errors, short_date, tail, to_second, when)
from .graph import MERMAID_MAX_EDGES, MERMAID_MAX_TEXT, graph_dot, graph_mermaid, graph_tree, mermaid_limits
from .progress import LiveReporter, PlainReporter, QuietReporter, reporter_for_output, side_by_side_reporter, summary
from .results import TEXT, show, stdout_gone
from .tables import fit, pipelines_table, run_table, runs_table

__all__ = ["LIVE_ROWS", "STYLE", "TAIL_LINES", "fmt_duration", "is_terminal", "json_out", "logs_command",
           "print_errors", "short_date", "tail", "to_second", "when", "MERMAID_MAX_EDGES", "MERMAID_MAX_TEXT", "graph_dot",
           "graph_mermaid", "graph_tree", "mermaid_limits", "LiveReporter", "PlainReporter", "QuietReporter", "side_by_side_reporter",
           "reporter_for_output", "summary", "TEXT", "show", "stdout_gone", "fit", "pipelines_table", "run_table",
           "runs_table"]
