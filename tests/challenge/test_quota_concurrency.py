"""Concurrent uploads of one team at the quota edge: exactly the quota is accepted.

This runs on a real, committing database per backend (no outer transaction), with one
session per thread, as concurrent requests have in production.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from challenge.core import migrate
from challenge.core.db import make_engine, session_factory
from challenge.core.errors import QuotaExceeded
from challenge.core.storage import Storage
from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.models import Evaluation
from challenge.submissions import service as submissions
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from tests import factories as f
from tests.conftest import BACKENDS, drop_pg_database, fresh_database

PER_DAY = 5
UPLOADS = 16


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_uploads_never_exceed_the_quota(backend: str, tmp_path: Path) -> None:
    url = fresh_database(backend, tmp_path)
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        factory = session_factory(engine)
        storage = Storage(tmp_path / "storage")
        with factory() as db:
            admin = f.admin_account(db)
            org = f.account(db, "org", f.Role.organizer, admin.user)
            f.challenge(db, org.user, "alpha")
            phase = f.phase(db, org.user, "alpha", config={"submissions": {"per_day": PER_DAY}})
            member = f.account(db, "member")
            teams.create(db=db, user=member.user, slug="alpha", name="Team")
            phase_id, user_id = phase.id, member.user.id

        outcomes: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(UPLOADS)

        def upload(i: int) -> None:
            archive = storage.temp_path(f".{i}")
            archive.write_bytes(f.image_archive(salt=str(i)))
            with factory() as db:
                user = db.get(f.User, user_id)
                barrier.wait()
                try:
                    submissions.submit(db=db, storage=storage, user=user, phase_id=phase_id,
                                       archive=archive, size=archive.stat().st_size,
                                       sha256="0" * 64, comment=str(i),
                                       dispatcher=NoDispatcher())
                    result = "accepted"
                except QuotaExceeded:
                    result = "quota"
                finally:
                    archive.unlink(missing_ok=True)
            with lock:
                outcomes.append(result)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(UPLOADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sorted(outcomes) == ["accepted"] * PER_DAY + ["quota"] * (UPLOADS - PER_DAY)
        with factory() as db:
            stored = db.scalar(select(func.count()).select_from(Submission))
            queued = db.scalar(select(func.count()).select_from(Evaluation))
        assert stored == PER_DAY and queued == PER_DAY
        archives = list((storage.root / "submissions").iterdir())
        assert len(archives) == PER_DAY, "refused uploads must leave no archive behind"
        assert list((storage.root / "tmp").iterdir()) == []
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)
