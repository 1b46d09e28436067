"""A phase with a tiny hidden dataset and one queued submission, for worker tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.evaluations import service as evaluations
from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.worker import EvaluationWorker
from challenge.submissions import service as submissions
from challenge.teams import service as teams
from tests import factories as f


@dataclass
class WorkerWorld:
    phase_id: int
    submission_id: int
    evaluation_id: int
    member: f.Account
    organizer: f.Account


def build(db: Session, storage: Storage, tmp: Path, n_cases: int = 3,
          archive: bytes | None = None, config: dict[str, Any] | None = None,
          data: f.TinyDataset | None = None, **phase_fields: Any) -> WorkerWorld:
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    tar = tmp / "dataset.tar.gz"
    tar.write_bytes((data or f.tiny_dataset(n_cases)).tar_bytes())
    dataset = datasets.create_from_archive(db=db, storage=storage, user=org.user, slug="alpha",
                                           name="hidden", archive=tar, max_bytes=10**9,
                                           max_voxels=10**8)
    phase = f.phase(db, org.user, "alpha", dataset_id=dataset.id, config=config or {},
                    **phase_fields)
    member = f.account(db, "member")
    teams.create(db=db, user=member.user, slug="alpha", name="Team M")
    upload = storage.temp_path(".tar")
    upload.write_bytes(archive if archive is not None else f.image_archive())
    submission = submissions.submit(db=db, storage=storage, user=member.user,
                                    phase_id=phase.id, archive=upload,
                                    size=upload.stat().st_size, sha256="0" * 64, comment="",
                                    dispatcher=NoDispatcher())
    evaluation = evaluations.latest_for_submission(db=db, submission_id=submission.id)
    assert evaluation is not None
    return WorkerWorld(phase.id, submission.id, evaluation.id, member, org)


def quiet(settings: Settings) -> Settings:
    """``settings`` for a worker driven by a test: the heartbeat thread would share the test's
    single connection, so it stays asleep; two platform retries."""
    return settings.model_copy(update={"heartbeat_seconds": 3600.0, "max_platform_retries": 2})


def make_worker(session_factory: sessionmaker[Session], app: FastAPI, settings: Settings,
                executor: Any) -> EvaluationWorker:
    """A worker on the test's sessions and storage, running ``executor`` (a FakeExecutor)."""
    return EvaluationWorker(session_factory, app.state.storage, settings, lambda: executor)
