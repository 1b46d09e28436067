"""Many queued evaluations on a one-case hidden set, inserted in one transaction."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.evaluations import service as evaluations
from challenge.evaluations.models import Evaluation
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from evaluator.sandbox.archive import inspect_archive
from tests import factories as f


def queued_evaluations(factory: sessionmaker[Session], storage: Storage, tmp: Path,
                       n: int, n_cases: int = 1, n_teams: int = 10) -> list[int]:
    """A phase on a tiny hidden set and ``n`` submissions of one (valid) archive spread over
    ``n_teams`` teams, each queued once. Returns the evaluation ids in queue order."""
    with factory() as db:
        admin = f.admin_account(db)
        org = f.account(db, "org", f.Role.organizer, admin.user)
        f.challenge(db, org.user, "alpha")
        tar = tmp / "hidden.tar.gz"
        tar.write_bytes(f.tiny_dataset(n_cases).tar_bytes())
        dataset = datasets.create_from_archive(db=db, storage=storage, user=org.user,
                                               slug="alpha", name="hidden", archive=tar,
                                               max_bytes=10**9, max_voxels=10**7)
        phase = f.phase(db, org.user, "alpha", dataset_id=dataset.id)
        members = []
        for t in range(n_teams):
            member = f.account(db, f"member{t}")
            team = teams.create(db=db, user=member.user, slug="alpha", name=f"team{t}")
            members.append((member.user.id, team.id))
        archive = f.image_archive()
        source = tmp / "image.tar"
        source.write_bytes(archive)
        digest = inspect_archive(source).image_id
        for i in range(n):
            key = storage.new_key()
            storage.submission_path(key).write_bytes(archive)
            user_id, team_id = members[i % n_teams]
            submission = Submission(phase_id=phase.id, team_id=team_id, submitter_id=user_id,
                                    archive_key=key, archive_bytes=len(archive),
                                    archive_sha256="0" * 64, image_digest=digest,
                                    image_user="1000")
            db.add(submission)
            db.flush()
            evaluations.enqueue(db=db, submission=submission,
                                phase_config_id=phase.current_config_id, holds_charge=True)
        db.commit()
        return list(db.scalars(select(Evaluation.id).order_by(Evaluation.id)))
