"""How segarena runs its app under uvicorn (``segarena serve``, ``segarena demo``, tests).

uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 by default, so any local process could pick
its client address (and dodge, or aim, the failed-token limit). Every server segarena starts
turns that off; the app applies ``SEGARENA_TRUSTED_PROXIES`` itself
(``challenge.core.http_edges``).
"""

from __future__ import annotations

from typing import Any

import uvicorn

#: uvicorn options every launcher of the app uses.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


def uvicorn_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with ``SERVER_OPTIONS`` (for servers run in a thread)."""
    return uvicorn.Config(app, host=host, port=port, **SERVER_OPTIONS, **options)


def run(app: Any, *, host: str, port: int) -> None:
    """Serve ``app`` in the foreground with ``SERVER_OPTIONS`` until interrupted."""
    uvicorn.run(app, host=host, port=port, **SERVER_OPTIONS)
