"""A committing database and a real uvicorn server in a background thread (loopback only).

The HTTP reliability tests need what TestClient does not give: real sockets (clients that
disconnect mid-body, 50 concurrent connections) and real commits seen by other sessions.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.core.serving import uvicorn_config
from challenge.teams import service as teams
from tests import factories as f
from tests.conftest import drop_pg_database, fresh_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Live:
    settings: Settings
    factory: sessionmaker[Session]
    app: Any
    url: str

    @property
    def storage_root(self) -> Path:
        return Path(self.app.state.storage.root)


@contextmanager
def committed_database(backend: str, tmp_path: Path) -> Iterator[str]:
    url = fresh_database(backend, tmp_path)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@contextmanager
def serve(settings: Settings, dispatcher: Any = None) -> Iterator[Live]:
    """Run ``create_app(settings)`` under uvicorn on a free loopback port."""
    from challenge.app import create_app
    from challenge.evaluations.dispatch import NoDispatcher

    app = create_app(settings, dispatcher=dispatcher or NoDispatcher())
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, host="127.0.0.1", port=port, log_level="error",
                                           limit_concurrency=1000, backlog=2048))
    thread = threading.Thread(target=server.run, daemon=True, name="uvicorn")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    engine = make_engine(settings.database_url)
    try:
        yield Live(settings, session_factory(engine), app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        engine.dispose()
        app.state.engine.dispose()


@dataclass
class Arena:
    """One published challenge 'alpha' with an open phase and a team of one member."""

    org_headers: dict[str, str]
    member_headers: dict[str, str]
    phase_id: int
    team_id: int


def arena(factory: sessionmaker[Session], **phase_overrides: Any) -> Arena:
    with factory() as db:
        admin = f.admin_account(db)
        org = f.account(db, "org", f.Role.organizer, admin.user)
        f.challenge(db, org.user, "alpha")
        phase = f.phase(db, org.user, "alpha", **phase_overrides)
        member = f.account(db, "member")
        team = teams.create(db=db, user=member.user, slug="alpha", name="Team")
        return Arena(org.headers, member.headers, phase.id, team.id)


def live_settings(database_url: str, storage_root: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"environment": "test", "database_url": database_url,
                              "storage_root": storage_root, "worker_mode": "off",
                              "auth_failures_per_minute": 1000, **overrides}
    return Settings(**values)


def http(live: Live, timeout: float = 60.0) -> httpx.Client:
    return httpx.Client(base_url=live.url, timeout=timeout)
