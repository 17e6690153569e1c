"""Where messages go, and what is masked: the block's `to` templates rendered into URLs
(over pipe's environment and the dotenv file), and the redactor for all that is said."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import Pipeline
from ..redact import MASK, Redactor


def environment(pipeline: Pipeline) -> dict[str, str]:
    """pipe's environment and the pipeline's dotenv file (the real environment wins)."""
    env = dict(os.environ)
    if pipeline.dotenv:
        from ..envfile import read_dotenv

        for k, v in read_dotenv(Path(pipeline.folder) / pipeline.dotenv).items():
            env.setdefault(k, v)
    return env


def redactor_for(pipeline: Pipeline, env: dict[str, str], extra: tuple[str, ...] = ()) -> Redactor:
    return Redactor([env[s] for s in pipeline.secrets if env.get(s)] + [v for v in extra if len(v) >= 3])


class _Tracking(dict):
    """The `env` of a target template: remembers every value a template reads (to mask it)."""

    def __init__(self, data: dict, seen: list):
        super().__init__(data)
        self.seen = seen

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.seen.append(value)
        return value

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return default


@dataclass
class Target:
    url: str | None          # the rendered URL (None: it could not be rendered)
    shown: str               # what pipe prints and records: secrets and passwords masked
    error: str | None = None
    app: Any = None          # the Apprise object, once added


def render_targets(pipeline: Pipeline, env: dict[str, str], params: dict) -> tuple[list[Target], Redactor]:
    """The block's `to` templates rendered over env, params, secrets and pipeline; and a
    redactor for everything said about them (pipeline secrets and every value read from env)."""
    from .. import templates

    n = pipeline.notify
    seen: list[str] = []
    rendered: list[tuple[str, str | None, str | None]] = []
    for text in n.to if n else ():
        ctx = {"env": _Tracking(env, seen), "params": params, "pipeline": pipeline.name,
               "secrets": _Tracking({s: env.get(s, "") for s in pipeline.secrets}, seen)}
        try:
            rendered.append((text, templates.render(text, ctx).strip(), None))
        except templates.TemplateError as e:
            rendered.append((text, None, f"cannot render the target: {e.message}"))
    redactor = redactor_for(pipeline, env, tuple(v for v in seen if isinstance(v, str)))
    targets = []
    for text, url, error in rendered:
        if url is None:
            targets.append(Target(None, redactor.text(text), redactor.text(error or "")))
        elif not url:
            targets.append(Target(None, redactor.text(text), "the target renders to an empty string"))
        else:
            targets.append(Target(url, redactor.text(mask_url(url))))
    return targets, redactor


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)([^/@?#]*)@")


def mask_url(url: str) -> str:
    """A URL as pipe shows it: the password of `scheme://user:password@host` is ***, and the
    query (where tokens often travel) is dropped."""
    m = _USERINFO.match(url)
    if m:
        user, sep, _ = m.group(2).partition(":")
        url = m.group(1) + (f"{user}:{MASK}" if sep else user) + "@" + url[m.end():]
    return url.split("?", 1)[0].split("#", 1)[0]
