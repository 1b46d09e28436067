"""The world every authorization case runs in: two challenges, two teams, one submission."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken, Role
from challenge.core.config import Settings
from challenge.core.storage import Storage, sha256_file
from challenge.datasets import service as datasets
from challenge.datasets.manifest import ManifestDataset
from challenge.evaluations import service as evaluations
from challenge.evaluations.dispatch import NoDispatcher
from challenge.phases import service as phases
from challenge.phases.models import Visibility
from challenge.phases.schemas import PhaseUpdate
from challenge.sites import leases
from challenge.sites import service as sites
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from tests import factories as f

#: ``site``: the token of an evaluation site registered for the phase ``onsite``.
ROLES = ("anonymous", "member", "other_team", "organizer", "other_organizer", "admin", "site")


@dataclass
class World:
    tokens: dict[str, str | None]
    ids: dict[str, object]

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens[role]
        return f.auth(token) if token else {}


def build(db: Session, storage: Storage, tmp_archive_dir) -> World:
    admin = f.admin_account(db)
    org = f.account(db, "org", Role.organizer, admin.user)
    other_org = f.account(db, "other-org", Role.organizer, admin.user)
    f.account(db, "org2", Role.organizer, admin.user)  # to be added as co-organizer
    member = f.account(db, "member")
    other = f.account(db, "other")

    f.challenge(db, org.user, "alpha")
    f.challenge(db, other_org.user, "beta", published=False)
    archive = tmp_archive_dir / "dataset.tar.gz"
    archive.write_bytes(f.tiny_dataset(2).tar_bytes())
    dataset = datasets.create_from_archive(db=db, storage=storage, user=org.user, slug="alpha",
                                           name="hidden", archive=archive, max_bytes=10**9,
                                           max_voxels=10**7)
    phase = f.phase(db, org.user, "alpha", "test", dataset_id=dataset.id)
    hidden = f.phase(db, org.user, "alpha", "secret", visibility=Visibility.organizers)
    team_board = f.phase(db, org.user, "alpha", "teams-only", dataset_id=dataset.id,
                         leaderboard_visibility=Visibility.participants)
    team = teams.create(db=db, user=member.user, slug="alpha", name="Team M")
    other_team = teams.create(db=db, user=other.user, slug="alpha", name="Team O")

    submission = Submission(phase_id=phase.id, team_id=team.id, submitter_id=member.user.id,
                            archive_key="k" * 32, archive_bytes=10, archive_sha256="0" * 64,
                            image_digest="sha256:" + "1" * 64, image_user="1000")
    db.add(submission)
    db.flush()
    evaluation = evaluations.enqueue(db=db, submission=submission,
                                     phase_config_id=phase.current_config_id, holds_charge=True)
    db.commit()
    member_token_id = db.query(ApiToken.id).filter(ApiToken.user_id == member.user.id).scalar()
    site_ids, site_token = _site_world(db, storage, tmp_archive_dir, org.user, team.id,
                                       member.user.id)
    return World(
        tokens={"anonymous": None, "member": member.token, "other_team": other.token,
                "organizer": org.token, "other_organizer": other_org.token,
                "admin": admin.token, "site": site_token},
        ids={"phase": phase.id, "hidden_phase": hidden.id, "team_board_phase": team_board.id,
             "team": team.id,
             "other_team": other_team.id, "invite": team.invite_code,
             "other_invite": other_team.invite_code, "dataset": dataset.id,
             "submission": submission.id, "member_token": member_token_id,
             "evaluation": evaluation.id, **site_ids},
    )


def _site_world(db: Session, storage: Storage, tmp_dir, org, team_id: int,
                member_id: int) -> tuple[dict[str, object], str]:
    """Phase ``onsite`` with a site, a manifest-only dataset and a submission whose
    evaluation the site has leased (running)."""
    onsite = f.phase(db, org, "alpha", "onsite")
    site, token = sites.create(db=db, user=org, phase_id=onsite.id, name="Hospital A")
    manifest = f.manifest_of(f.tiny_dataset(2).write_dir(tmp_dir / "site-data"), "held")
    held = datasets.create_from_manifest(db=db, user=org, slug="alpha",
                                         manifest=ManifestDataset.model_validate(manifest),
                                         max_voxels=10**7)
    phases.update(db=db, user=org, phase_id=onsite.id,
                  data=PhaseUpdate(dataset_id=held.id), dispatcher=NoDispatcher())
    archive = storage.submission_path("s" * 32)
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(f.image_archive())
    submission = Submission(phase_id=onsite.id, team_id=team_id, submitter_id=member_id,
                            archive_key="s" * 32, archive_bytes=archive.stat().st_size,
                            archive_sha256=sha256_file(archive),
                            image_digest="sha256:" + "2" * 64, image_user="1000")
    db.add(submission)
    db.flush()
    evaluations.enqueue(db=db, submission=submission, phase_config_id=onsite.current_config_id,
                        holds_charge=True)
    db.commit()
    settings = Settings(environment="test", database_url="sqlite://",
                        storage_root=storage.root)
    job = leases.lease(db=db, site=site, settings=settings, worker_version="0.1.0")
    assert job is not None
    leases.start_running(db=db, site=site, lease_id=job.lease_id)
    manifest_body = {**manifest, "name": "held-more"}
    return ({"site_phase": onsite.id, "site": site.id, "lease": job.lease_id,
             "site_case": job.cases[0].case_id, "manifest": manifest_body}, token)
