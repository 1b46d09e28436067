"""Migrations run upgrade -> downgrade -> upgrade on SQLite and PostgreSQL, without drift."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from challenge.core import migrate
from challenge.models import Base
from tests.conftest import BACKENDS, drop_pg_database, fresh_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_downgrade_upgrade_leaves_no_drift(backend: str, tmp_path: Path) -> None:
    url = fresh_database(backend, tmp_path)
    try:
        migrate.upgrade(url)
        migrate.check(url)  # raises when models and migrations disagree
        migrate.downgrade(url)
        engine = create_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        migrate.upgrade(url)
        migrate.check(url)
        engine = create_engine(url)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        if backend == "postgresql":
            drop_pg_database(url)
