"""Jinja2 templates: a sandbox with strict undefined names, shell quoting, static analysis.

Jinja2 is imported only when a string actually holds template syntax, so a pipeline of
plain commands never pays for it.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Mapping

# Every name a template may use (SPEC section 2).
CONTEXT_NAMES = frozenset({
    "ds", "ds_nodash", "ts", "logical_date", "data_interval_start", "data_interval_end",
    "run_id", "pipeline", "task", "attempt", "params", "env", "tasks",
    "item", "item_index",        # only in a foreach task's templates (SPEC 11)
})
FOREACH_NAMES = frozenset({"item", "item_index"})


class Raw(str):
    """A value the `raw` filter marked: substituted into a shell string unquoted."""


class TemplateError(Exception):
    """A template that does not parse or does not render; `lineno` is inside the template."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message = message
        self.lineno = lineno


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _finalize(value: Any) -> Any:
    """Date-times render as ISO 8601 with their offset (SPEC 2), not str()'s space form."""
    from datetime import datetime

    return value.isoformat() if isinstance(value, datetime) else value


def _shell_finalize(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    return shlex.quote(str(_finalize(value)))


_envs: dict[bool, Any] = {}
_compiled: dict[tuple[bool, str], Any] = {}


def _environment(shell: bool):
    env = _envs.get(shell)
    if env is None:
        from jinja2 import StrictUndefined
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False,
            finalize=_shell_finalize if shell else _finalize,
        )
        env.filters["raw"] = lambda value: Raw("" if value is None else str(value))
        _envs[shell] = env
    return env


@dataclass(frozen=True)
class TemplateUse:
    """What a template refers to, found without rendering it."""

    names: frozenset[str]          # top-level names
    params: frozenset[str]         # params.X
    outputs: frozenset[str]        # tasks.X.outputs
    output_keys: frozenset[tuple[str, str]] = frozenset()    # tasks.X.outputs.KEY
    env: frozenset[str] = frozenset()                        # env.X


_analysed: dict[str, TemplateUse] = {}


def analyse(text: str) -> TemplateUse:
    """Parse a template (raises TemplateError on a syntax error) and list what it uses."""
    use = _analysed.get(text)
    if use is not None:
        return use
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = _environment(False)
    try:
        ast = env.parse(text)
    except TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error: {e.message}", e.lineno) from None
    names = frozenset(meta.find_undeclared_variables(ast))
    params, outputs, output_keys, env_names = set(), set(), set(), set()

    def key_of(node) -> str | None:
        if isinstance(node, nodes.Getattr):
            return node.attr
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            return str(node.arg.value)
        return None

    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        inner = node.node
        if isinstance(inner, nodes.Name) and inner.name in ("params", "env"):
            name = key_of(node)
            if name is not None:
                (params if inner.name == "params" else env_names).add(name)
        elif (isinstance(inner, (nodes.Getattr, nodes.Getitem)) and isinstance(inner.node, nodes.Name)
              and inner.node.name == "tasks" and key_of(node) == "outputs"):
            task = key_of(inner)
            if task is not None:
                outputs.add(task)
        elif (isinstance(inner, (nodes.Getattr, nodes.Getitem)) and key_of(inner) == "outputs"
              and isinstance(inner.node, (nodes.Getattr, nodes.Getitem))
              and isinstance(inner.node.node, nodes.Name) and inner.node.node.name == "tasks"):
            task, key = key_of(inner.node), key_of(node)
            if task is not None and key is not None:
                output_keys.add((task, key))
    use = TemplateUse(names, frozenset(params), frozenset(outputs), frozenset(output_keys), frozenset(env_names))
    _analysed[text] = use
    return use


def render(text: str, context: Mapping[str, Any], shell: bool = False) -> str:
    """Render one string. In a shell string every substituted value is shell-quoted."""
    if not is_template(text):
        return text
    key = (shell, text)
    template = _compiled.get(key)
    from jinja2 import TemplateError as JinjaError

    try:
        if template is None:
            template = _compiled[key] = _environment(shell).from_string(text)
        return template.render(context)
    except JinjaError as e:
        message = _explain(text, context) or f"template error in {text!r}: {e}"
        raise TemplateError(message, getattr(e, "lineno", None)) from None


def evaluate(text: str, context: Mapping[str, Any]) -> Any:
    """A string that is one expression, `{{ tasks.cities.outputs.names }}`, as the value it
    gives (a list stays a list, not its text); any other string rendered to its text."""
    inner = text.strip()
    if inner.startswith("{{") and inner.endswith("}}") and inner.count("{{") == 1 and "{%" not in inner:
        from jinja2 import TemplateError as JinjaError

        try:
            value = _environment(False).compile_expression(inner[2:-2].strip(), undefined_to_none=False)(context)
            from jinja2 import Undefined

            if isinstance(value, Undefined):
                value._fail_with_undefined_error()
            return value
        except JinjaError as e:
            message = _explain(text, context) or f"template error in {text!r}: {e}"
            raise TemplateError(message, getattr(e, "lineno", None)) from None
    return render(text, context)


def _explain(text: str, context: Mapping[str, Any]) -> str | None:
    """What a template that failed to render is missing, in the words of the pipeline file
    (Jinja would say "'dict object' has no attribute 'path'")."""
    try:
        use = analyse(text)
    except TemplateError:
        return None
    tasks = context.get("tasks") if isinstance(context.get("tasks"), Mapping) else {}
    for up in sorted(use.outputs):
        if up not in tasks:
            return (f"no earlier successful run of {up} for {context.get('ds', 'this logical date')} to take "
                    f"tasks.{up}.outputs from: run {up} too, or drop --only/--from")
    for up, key in sorted(use.output_keys):
        outputs = tasks.get(up, {}).get("outputs", {}) if isinstance(tasks.get(up), Mapping) else {}
        if key not in outputs:
            have = ", ".join(sorted(outputs)) or "none (it wrote no key=value line to $PIPE_OUTPUT)"
            return f"task {up} has no output {key!r} in this run; its outputs are: {have}"
    env = context.get("env") if isinstance(context.get("env"), Mapping) else None
    if env is not None:
        for name in sorted(use.env):
            if name not in env:
                return f"env.{name}: the environment has no variable {name} (set it, or add it to `env:`)"
    return None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside a `with:` value (lists and mappings too), as data."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    return value


def quoted_in_shell(command: str) -> list[tuple[str, str]]:
    """The `{{ ... }}` expressions of a shell string that stand inside quotes the user wrote
    ('...' or "..."), as (expression, quote). pipe shell-quotes each value it substitutes, so
    inside double quotes the shell would still expand `$(...)` in it, and inside single quotes
    the value's own quotes end the user's. Those with `| raw` are meant as shell code: left out."""
    found = []
    quote = None
    i, n = 0, len(command)
    while i < n:
        if command.startswith("{{", i):
            end = command.find("}}", i + 2)
            end = n if end < 0 else end + 2
            expr = command[i:end]
            if quote is not None and "raw" not in [f.strip() for f in expr[2:-2].split("|")[1:]]:
                found.append((expr, quote))
            i = end
            continue
        c = command[i]
        if quote is None:
            if c == "\\":
                i += 1
            elif c in "'\"":
                quote = c
        elif quote == '"':
            if c == "\\":
                i += 1
            elif c == '"':
                quote = None
        elif c == "'":
            quote = None
        i += 1
    return found


def strings_in(value: Any):
    """Every string inside a value (for analysis of `with:`)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings_in(v)
