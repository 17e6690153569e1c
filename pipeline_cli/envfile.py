"""A pipeline's dotenv file (`dotenv: .env`), read as python-dotenv reads it."""
from __future__ import annotations

from pathlib import Path

from .errors import UsageError


def read_dotenv(path: Path) -> dict[str, str]:
    """A .env file's values, as python-dotenv (and docker compose) read them: comments,
    `export`, quotes, escapes and multi-line quoted values. A missing file is no values."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read the dotenv file: {e}") from None
