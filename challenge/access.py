"""Who may see and do what (DESIGN section 1), in one place, used by every service.

Invisible objects answer ``NotFound`` (not ``Forbidden``) so ids of unpublished challenges, hidden
phases and other teams' submissions cannot be probed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from challenge.accounts.models import Role, User
from challenge.challenges.models import Challenge, ChallengeOrganizer
from challenge.core.errors import Forbidden, NotFound
from challenge.phases.models import Phase, Visibility
from challenge.teams.models import Team, TeamMember


def organizes(user: User | None,
              challenge_id: ColumnElement[int] | InstrumentedAttribute[int] | int,
              ) -> ColumnElement[bool]:
    """SQL: ``user`` organizes the challenge ``challenge_id`` (an id or a column); admins
    organize every challenge, anonymous callers none."""
    if user is None:
        return false()
    if user.is_admin:
        return true()
    return exists().where(ChallengeOrganizer.challenge_id == challenge_id,
                          ChallengeOrganizer.user_id == user.id)


def is_organizer(db: Session, user: User | None, challenge_id: int) -> bool:
    if user is None:
        return False
    if user.is_admin:
        return True
    return bool(db.scalar(select(organizes(user, challenge_id))))


def team_of(db: Session, user: User | None, challenge_id: int) -> Team | None:
    if user is None:
        return None
    return db.scalar(select(Team).join(TeamMember).where(
        TeamMember.challenge_id == challenge_id, TeamMember.user_id == user.id
    ))


def sees_challenge(user: User | None) -> ColumnElement[bool]:
    """SQL: the challenge rows ``user`` may see (published, or organized by ``user``), so a
    list filters in the query, before it is paginated; :func:`can_see_challenge` is the same
    rule for one loaded challenge."""
    return or_(Challenge.is_published.is_(True), organizes(user, Challenge.id))


def can_see_challenge(db: Session, user: User | None, challenge: Challenge) -> bool:
    return challenge.is_published or is_organizer(db, user, challenge.id)


def require_visible_challenge(db: Session, user: User | None, slug: str) -> Challenge:
    challenge = db.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None or not can_see_challenge(db, user, challenge):
        raise NotFound(f"no challenge {slug!r}")
    return challenge


def require_organizer(db: Session, user: User | None, challenge: Challenge) -> None:
    if not is_organizer(db, user, challenge.id):
        raise Forbidden("only this challenge's organizers can do that")


def require_may_create_challenge(user: User) -> None:
    if user.role not in (Role.admin, Role.organizer):
        raise Forbidden("only organizers and admins can create challenges")


def audience_allows(db: Session, user: User | None, challenge: Challenge,
                    visibility: Visibility) -> bool:
    """Whether ``user`` is in the audience ``visibility`` names for this challenge."""
    if is_organizer(db, user, challenge.id):
        return True
    if not challenge.is_published:
        return False
    if visibility == Visibility.public:
        return True
    if visibility == Visibility.participants:
        return team_of(db, user, challenge.id) is not None
    return False


def require_visible_phase(db: Session, user: User | None, phase_id: int) -> tuple[Phase, Challenge]:
    phase = db.get(Phase, phase_id)
    if phase is None:
        raise NotFound(f"no phase {phase_id}")
    challenge = db.get(Challenge, phase.challenge_id)
    assert challenge is not None
    require_phase_visible(db, user, phase, challenge)
    return phase, challenge


def require_phase_visible(db: Session, user: User | None, phase: Phase,
                          challenge: Challenge) -> None:
    """``NotFound`` unless ``user`` may see ``phase`` of ``challenge`` (rows already loaded,
    e.g. kept by the leaderboard cache; no query for an anonymous reader)."""
    if not audience_allows(db, user, challenge, phase.visibility):
        raise NotFound(f"no phase {phase.id}")
