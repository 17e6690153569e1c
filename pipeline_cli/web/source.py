"""A pipeline file as its page shows it: numbered lines, each with its anchor (#F12), YAML's
keys, comments and quoted strings told apart by classes, and the lines `pipe validate`
names marked. Every character of the file is escaped text."""
from __future__ import annotations

import re

from markupsafe import Markup, escape

MAX_BYTES = 256 * 1024
KEY_RE = re.compile(r"^(\s*(?:-\s+)?)([^\s#'\"{}\[\],&*!|>%@`][^#:]*?|\"[^\"]*\"|'[^']*')(:)(?=\s|$)")
STRING_RE = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'")


def _comment_at(line: str) -> int:
    """Where a comment begins (a # at the start or after a blank, outside quotes), or -1."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'" and (i == 0 or line[i - 1] in " \t:-[{,"):
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return -1


def _value(text: str) -> str:
    out, pos = [], 0
    for m in STRING_RE.finditer(text):
        out.append(str(escape(text[pos:m.start()])))
        out.append(f'<span class="y-s">{escape(m.group(0))}</span>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return "".join(out)


def render(text: str, marked: set[int] | None = None) -> Markup:
    marked = marked or set()
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        if n == text.count("\n") + 1 and line == "":
            break
        body, comment = line, ""
        at = _comment_at(line)
        if at >= 0:
            body, comment = line[:at], line[at:]
        m = KEY_RE.match(body)
        if m:
            html = (f"{escape(m.group(1))}<span class=\"y-k\">{escape(m.group(2))}</span>{escape(m.group(3))}"
                    f"{_value(body[m.end():])}")
        else:
            html = _value(body)
        if comment:
            html += f'<span class="y-c">{escape(comment)}</span>'
        mark = ' data-problem="true"' if n in marked else ""
        out.append(f'<span class="ln" id="F{n}"{mark}><a class="n" href="#F{n}" data-n="{n}" aria-label="line {n}"></a>'
                   f'<span class="t">{html}</span>\n</span>')
    return Markup("".join(out))


def problem_lines(path: str, messages: list[str]) -> set[int]:
    """The line numbers that `file:line:column: ...` messages about `path` name."""
    found = set()
    for msg in messages:
        if msg.startswith(path + ":"):
            rest = msg[len(path) + 1:]
            num = rest.split(":", 1)[0]
            if num.isdigit():
                found.add(int(num))
    return found
