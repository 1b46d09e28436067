"""The world every authorization case runs in: two challenges, two teams, one submission."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from challenge.accounts.models import ApiToken, Role
from challenge.core.storage import Storage
from challenge.datasets import service as datasets
from challenge.evaluations import service as evaluations
from challenge.phases.models import Visibility
from challenge.submissions.models import Submission
from challenge.teams import service as teams
from tests import factories as f

ROLES = ("anonymous", "member", "other_team", "organizer", "other_organizer", "admin")


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
    return World(
        tokens={"anonymous": None, "member": member.token, "other_team": other.token,
                "organizer": org.token, "other_organizer": other_org.token,
                "admin": admin.token},
        ids={"phase": phase.id, "hidden_phase": hidden.id, "team_board_phase": team_board.id,
             "team": team.id,
             "other_team": other_team.id, "invite": team.invite_code,
             "other_invite": other_team.invite_code, "dataset": dataset.id,
             "submission": submission.id, "member_token": member_token_id,
             "evaluation": evaluation.id},
    )
