"""`pipe serve`: the web UI (the `web` extra). Nothing here is imported by the core."""
from __future__ import annotations


def serve(g, host: str = "127.0.0.1", port: int = 8080, token: str | None = None, actions: bool = False) -> int:
    """The `pipe serve` command: the handler named in cli.py."""
    from ..errors import UsageError, install_hint

    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise UsageError(f"pipe serve needs the web extra ({e.name} is not installed): "
                         f"{install_hint('web')}") from None
    from .app import serve as run_server

    return run_server(g, host=host, port=port, token=token, actions=actions)
