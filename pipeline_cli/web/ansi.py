"""A task's log as the log page shows it: numbered lines (each with its own anchor, #L12)
and the ANSI colours of a terminal, as classes (the Content-Security-Policy forbids inline
styles). Every other byte is text: escaped, never HTML. Escape sequences that are not colours
(cursor moves, titles) and control characters are dropped, as are carriage returns.

static/live.js renders the text a running attempt appends the same way (renderLog there)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape

ESCAPE_RE = re.compile(r"\x1b(?:\[([0-?]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")


@dataclass
class Style:
    fg: int | None = None
    bg: int | None = None
    flags: set = field(default_factory=set)      # b (bold), d (dim), i (italic), u (underline)

    def classes(self) -> str:
        out = [f"a-{f}" for f in sorted(self.flags)]
        if self.fg is not None:
            out.append(f"a-fg{self.fg}")
        if self.bg is not None:
            out.append(f"a-bg{self.bg}")
        return " ".join(out)

    def apply(self, params: str) -> None:
        codes = [int(c) if c.isdigit() else 0 for c in re.split(r"[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.fg = self.bg = None
                self.flags = set()
            elif c in (1, 2, 3, 4):
                self.flags.add("bdiu"[c - 1])
            elif c == 22:
                self.flags -= {"b", "d"}
            elif c in (23, 24):
                self.flags.discard("i" if c == 23 else "u")
            elif 30 <= c <= 37:
                self.fg = c - 30
            elif 90 <= c <= 97:
                self.fg = c - 90 + 8
            elif c == 39:
                self.fg = None
            elif 40 <= c <= 47:
                self.bg = c - 40
            elif 100 <= c <= 107:
                self.bg = c - 100 + 8
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                # 256 colours: the first 16 as such, the rest not drawn; true colour skipped.
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    n = codes[i + 2]
                    if n < 16:
                        if c == 38:
                            self.fg = n
                        else:
                            self.bg = n
                    i += 2
                elif codes[i + 1] == 2:
                    i += 4
            i += 1


def plain(text: str) -> str:
    """The text a log shows: escape sequences, control characters and carriage returns gone."""
    return CONTROL_RE.sub("", ESCAPE_RE.sub("", text.replace("\r", "")))


def render(text: str, first_line: int = 1) -> tuple[Markup, int, bool, str]:
    """(the lines as HTML, how many, whether the last one is open (no newline yet), the
    classes in force at the end) for a log's text."""
    style = Style()
    out: list[str] = []
    text = text.replace("\r", "")
    lines = text.split("\n")
    open_end = lines[-1] != ""
    if not open_end:
        lines.pop()
    n = first_line - 1
    for k, line in enumerate(lines):
        n += 1
        parts: list[str] = []
        pos = 0
        for m in ESCAPE_RE.finditer(line):
            _segment(parts, line[pos:m.start()], style)
            if m.group(2) == "m":
                style.apply(m.group(1) or "")
            pos = m.end()
        _segment(parts, line[pos:], style)
        end = "\n" if (k < len(lines) - 1 or not open_end) else ""
        out.append(f'<span class="ln" id="L{n}"><a class="n" href="#L{n}" data-n="{n}" aria-label="line {n}"></a>'
                   f'<span class="t">{"".join(parts)}</span>{end}</span>')
    return Markup("".join(out)), n - first_line + 1, open_end, style.classes()


def _segment(parts: list[str], text: str, style: Style) -> None:
    text = CONTROL_RE.sub("", text)
    if not text:
        return
    classes = style.classes()
    parts.append(f'<span class="{classes}">{escape(text)}</span>' if classes else str(escape(text)))
