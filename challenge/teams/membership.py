"""Who may change a team's members, and when (DESIGN section 8, "looks at the test set are
counted").

Quotas follow people (``challenge.submissions.service.usage`` counts a member's submissions
made in any team), and once a team has submitted, its membership is an organizer's decision:

    change                       before the team's first submission   after it
    join with the invite code    the joining participant              nobody (organizers move)
    leave                        the member                           nobody (organizers remove)
    remove a member              the team's captain, organizers       organizers
    move a user into the team    organizers                           organizers
    rotate the invite code       the team's captain, organizers       the same

"Has submitted" means any submission of the team, charged or not. The captain is the
longest-standing member (the creator while they stay; a member moved in counts from the move).
A user an organizer removed may create a team, or join one that has not submitted: their own
submissions still count against it. Every change is audited and first takes the row lock of
each team involved (``lock``), so it is serialised with that team's uploads, whose quota check
counts the current members.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from challenge import access
from challenge.accounts.models import Role, User
from challenge.audit import service as audit
from challenge.core.db import utcnow
from challenge.core.errors import Conflict, Forbidden, NotFound
from challenge.core.security import new_invite_code
from challenge.submissions.models import Submission
from challenge.teams.models import Team, TeamMember


def lock(db: Session, team_id: int) -> None:
    """Hold the team's row lock (PostgreSQL) or the write lock (SQLite) until commit: uploads
    of the team and changes of its members then happen one after the other."""
    db.execute(update(Team).where(Team.id == team_id)
               .values(lock_version=Team.lock_version + 1)
               .execution_options(synchronize_session=False))


def has_submitted(db: Session, team_id: int) -> bool:
    return db.scalar(select(Submission.id).where(Submission.team_id == team_id)
                     .limit(1)) is not None


def require_open_membership(db: Session, team: Team) -> None:
    """Participants' own changes (join, leave, a captain's removal) stop at the team's first
    submission: 409 ``team_has_submitted``. Call it after ``lock``."""
    if has_submitted(db, team.id):
        raise Conflict(f"team {team.name!r} has submitted already; since then only the "
                       "challenge's organizers can change its members", code="team_has_submitted")


def require_may_compete(db: Session, user: User, challenge_id: int) -> None:
    """Admins and the challenge's organizers are never team members (403
    ``conflict_of_interest``), whether they join themselves or are moved in."""
    if user.role == Role.admin or access.is_organizer(db, user, challenge_id):
        raise Forbidden("organizers of a challenge cannot compete in it",
                        code="conflict_of_interest")


def captain_id(db: Session, team_id: int) -> int | None:
    """The longest-standing member's user id; None for a team without members."""
    return db.scalar(select(TeamMember.user_id).where(TeamMember.team_id == team_id)
                     .order_by(TeamMember.joined_at, TeamMember.id).limit(1))


def team_for(db: Session, user: User, team_id: int) -> tuple[Team, bool]:
    """The team and whether ``user`` organizes its challenge; NotFound unless a member or an
    organizer (ids of other teams cannot be probed)."""
    team = db.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    if access.is_organizer(db, user, team.challenge_id):
        return team, True
    if not any(m.user_id == user.id for m in team.members):
        raise NotFound(f"no team {team_id}")
    return team, False


def _require_captain(db: Session, user: User, team: Team) -> None:
    if captain_id(db, team.id) != user.id:
        raise Forbidden("only the team's captain (its longest-standing member) or the "
                        "challenge's organizers can do that", code="not_team_captain")


def rotate_invite(*, db: Session, user: User, team_id: int) -> Team:
    """A new invite code for the team (captain or organizer); the old one stops working."""
    team, organizer = team_for(db, user, team_id)
    if not organizer:
        _require_captain(db, user, team)
    lock(db, team.id)
    team.invite_code = new_invite_code()
    audit.record(db=db, actor=user, action="team.rotate_invite", object_type="team",
                 object_id=team.id, challenge_id=team.challenge_id, by_organizer=organizer)
    db.commit()
    return team


def remove_member(*, db: Session, user: User, team_id: int, username: str) -> Team:
    """Remove ``username`` from the team: organizers at any time, the captain only before the
    team's first submission. It never frees quota: the team keeps counting the removed
    member's submissions (they are the team's), and so does any team the member enters."""
    team, organizer = team_for(db, user, team_id)
    if not organizer:
        _require_captain(db, user, team)
    lock(db, team.id)
    if not organizer:
        require_open_membership(db, team)
    target_id = db.scalar(select(User.id).where(User.username == username))
    membership = next((m for m in team.members if m.user_id == target_id), None)
    if target_id is None or membership is None:
        raise NotFound(f"the team has no member {username!r}", code="not_a_member")
    team.members.remove(membership)
    audit.record(db=db, actor=user, action="team.remove_member", object_type="team",
                 object_id=team.id, challenge_id=team.challenge_id,
                 user_id=membership.user_id, username=username, by_organizer=organizer)
    db.commit()
    return team


def move_member(*, db: Session, user: User, team_id: int, username: str) -> Team:
    """Organizers: put ``username`` in this team, out of their current team of the challenge
    if any, at any time. The user's submissions count against both teams from then on."""
    team, organizer = team_for(db, user, team_id)
    if not organizer:
        raise Forbidden("only the challenge's organizers can move members between teams",
                        code="organizers_only")
    target = db.scalar(select(User).where(User.username == username))
    if target is None:
        raise NotFound(f"no user {username!r}", code="unknown_user")
    require_may_compete(db, target, team.challenge_id)
    current = db.scalar(select(TeamMember).where(TeamMember.challenge_id == team.challenge_id,
                                                 TeamMember.user_id == target.id))
    if current is not None and current.team_id == team.id:
        raise Conflict(f"{username!r} is in this team already", code="already_in_team")
    from_team_id = current.team_id if current is not None else None
    involved = {team.id} | ({from_team_id} if from_team_id is not None else set())
    for locked in sorted(involved):  # always the same order: no deadlock between two moves
        lock(db, locked)
    if current is None:
        db.add(TeamMember(team_id=team.id, challenge_id=team.challenge_id, user_id=target.id))
    else:
        current.team_id, current.joined_at = team.id, utcnow()
    try:
        db.flush()
    except (IntegrityError, StaleDataError) as exc:  # the user joined or left meanwhile
        db.rollback()
        raise Conflict(f"the membership of {username!r} changed meanwhile; try again",
                       code="membership_changed") from exc
    for changed in filter(None, (db.get(Team, i) for i in involved)):
        db.expire(changed, ["members"])
    audit.record(db=db, actor=user, action="team.move_member", object_type="team",
                 object_id=team.id, challenge_id=team.challenge_id, user_id=target.id,
                 username=username, from_team_id=from_team_id)
    db.commit()
    return team
