"""How segarena runs its app under uvicorn (``segarena serve``, ``segarena demo``, tests).

uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1 by default, so any local process could pick
its client address (and dodge, or aim, the failed-token limit). Every server segarena starts
turns that off; the app applies ``SEGARENA_TRUSTED_PROXIES`` itself
(``challenge.core.http_edges``).

Several server processes (``run_processes``) are uvicorn's supervisor: it spawns N fresh
interpreters that each import ``APP_FACTORY`` and build the app from the environment's
``SEGARENA_*`` settings, all accepting on one listening socket (the kernel spreads the
connections). Each has its own connection pool and leaderboard LRU; the computed snapshots are
shared through the database. SIGINT or SIGTERM to the supervisor stops every process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import uvicorn

#: uvicorn options every launcher of the app uses.
SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}


def uvicorn_config(app: Any, *, host: str, port: int, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with ``SERVER_OPTIONS`` (for servers run in a thread)."""
    return uvicorn.Config(app, host=host, port=port, **SERVER_OPTIONS, **options)


def run(app: Any, *, host: str, port: int, access_log: bool = True) -> None:
    """Serve ``app`` in the foreground with ``SERVER_OPTIONS`` until interrupted
    (``access_log``: one line per request on stdout)."""
    uvicorn.run(app, host=host, port=port, access_log=access_log, **SERVER_OPTIONS)


#: What each server process of ``run_processes`` imports and calls (without arguments).
APP_FACTORY = "challenge.app:create_app"


def run_processes(*, host: str, port: int, workers: int, env: Mapping[str, str],
                  access_log: bool = True) -> None:
    """Serve ``APP_FACTORY`` in ``workers`` processes until SIGINT/SIGTERM (a process that
    dies is replaced). ``env`` is added to this process's environment while the processes
    run, so they inherit it (their settings come from the environment); restored after."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        uvicorn.run(APP_FACTORY, factory=True, workers=workers, host=host, port=port,
                    access_log=access_log, **SERVER_OPTIONS)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
