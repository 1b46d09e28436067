"""Shared fixtures: every database test runs on SQLite and on the real PostgreSQL.

Each backend gets a throwaway database migrated once per session with Alembic (the same
migrations production runs). Each test then works inside one outer transaction that is rolled
back at the end; services' commits become savepoint releases (``create_savepoint``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.evaluations.dispatch import NoDispatcher
from tests.evaluator.docker_images import ImageArchives, docker_client

PG_ADMIN_URL = os.environ.get("SEGARENA_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = f"segarena_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_database(backend: str, tmp_dir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_dir / f'segarena-{secrets.token_hex(4)}.db'}"
    return create_pg_database()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database(request.param, tmp_path_factory.mktemp("db"))
    migrate.upgrade(url)
    yield url
    if request.param == "postgresql":
        drop_pg_database(url)


def _savepoint_engine(url: str) -> Engine:
    """An engine whose SQLite connections honour SAVEPOINT (pysqlite needs explicit BEGIN)."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN")
    return engine


@pytest.fixture(scope="session")
def test_engine(database_url: str) -> Iterator[Engine]:
    engine = _savepoint_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(test_engine: Engine) -> Iterator[Connection]:
    conn = test_engine.connect()
    outer = conn.begin()
    yield conn
    outer.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                        expire_on_commit=False)


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    yield session
    session.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(environment="test", database_url=database_url,
                    storage_root=tmp_path / "storage", worker_mode="off",
                    auth_failures_per_minute=1000,
                    # Existing tests change rows and read the board at once, inside one
                    # uncommitted transaction (no NOTIFY): read the state on every request.
                    leaderboard_recheck_seconds=0)


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session]) -> FastAPI:
    application = create_app(settings, dispatcher=NoDispatcher())
    application.state.sessionmaker = session_factory
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def image_archives(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageArchives]:
    """Test algorithm images built once per session and saved as submission archives."""
    archives = ImageArchives(docker_client(), tmp_path_factory.mktemp("archives"))
    yield archives
    archives.cleanup()
