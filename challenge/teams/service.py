from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge
from challenge.core.conflicts import unique_conflicts
from challenge.core.errors import Conflict, NotFound
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch
from challenge.core.security import new_invite_code
from challenge.teams import membership
from challenge.teams.models import Team, TeamMember


def _require_participant(db: Session, user: User, challenge: Challenge) -> None:
    membership.require_may_compete(db, user, challenge.id)
    if access.team_of(db, user, challenge.id) is not None:
        raise Conflict("you are in a team of this challenge already; leave it first",
                       code="already_in_team")


def create(*, db: Session, user: User, slug: str, name: str) -> Team:
    challenge = access.require_visible_challenge(db, user, slug)
    _require_participant(db, user, challenge)
    team = Team(challenge_id=challenge.id, name=name, invite_code=new_invite_code())
    existing = db.scalar(select(Team.name).where(Team.challenge_id == challenge.id,
                                                 Team.name_skeleton == team.name_skeleton))
    if existing is not None:
        raise Conflict(f"a team {name!r} exists in this challenge" if existing == name else
                       f"the name {name!r} looks like the existing team {existing!r}",
                       code="team_name_taken")
    team.members.append(TeamMember(challenge_id=challenge.id, user_id=user.id))
    db.add(team)
    with unique_conflicts(db):
        db.flush()
    audit.record(db=db, actor=user, action="team.create", object_type="team", object_id=team.id,
                 challenge_id=challenge.id, name=name)
    db.commit()
    return team


def join(*, db: Session, user: User, slug: str, invite_code: str) -> Team:
    """Join with the invite code, only while the team has not submitted (``membership``)."""
    challenge = access.require_visible_challenge(db, user, slug)
    team = db.scalar(select(Team).where(Team.challenge_id == challenge.id,
                                        Team.invite_code == invite_code))
    if team is None:
        raise NotFound("no team of this challenge has that invite code", code="bad_invite_code")
    _require_participant(db, user, challenge)
    membership.lock(db, team.id)
    membership.require_open_membership(db, team)
    team.members.append(TeamMember(challenge_id=challenge.id, user_id=user.id))
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        raise Conflict("you are in a team of this challenge already",
                       code="already_in_team") from exc
    audit.record(db=db, actor=user, action="team.join", object_type="team", object_id=team.id,
                 challenge_id=challenge.id)
    db.commit()
    return team


def get_for_member_or_organizer(*, db: Session, user: User, team_id: int) -> Team:
    return membership.team_for(db, user, team_id)[0]


def leave(*, db: Session, user: User, team_id: int) -> Team:
    """Leave, only while the team has not submitted; then an organizer decides (``membership``)."""
    team = db.get(Team, team_id)
    member = None if team is None else next(
        (m for m in team.members if m.user_id == user.id), None)
    if team is None or member is None:
        raise NotFound("you are not a member of that team")
    membership.lock(db, team.id)
    membership.require_open_membership(db, team)
    team.members.remove(member)
    audit.record(db=db, actor=user, action="team.leave", object_type="team", object_id=team.id,
                 challenge_id=team.challenge_id)
    db.commit()
    return team


BY_NAME = Keyset("teams", (Key(Team.name, kind=str), Key(Team.id)))
"""Teams in name order (the database's collation), the id breaking any tie."""


def list_for_challenge(*, db: Session, user: User | None, slug: str,
                       page: PageRequest) -> Paged[Team]:
    """One page of the teams of a challenge ``user`` may see, by name."""
    challenge = access.require_visible_challenge(db, user, slug)
    return fetch(db, select(Team).where(Team.challenge_id == challenge.id), BY_NAME, page)


def names_by_id(*, db: Session, ids: Iterable[int]) -> dict[int, str]:
    """The name of each team in ``ids`` (absent when no such team), in one query."""
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(db.execute(select(Team.id, Team.name).where(Team.id.in_(wanted))).tuples().all())


def member_counts(*, db: Session, team_ids: Iterable[int]) -> dict[int, int]:
    """The number of members of each team in ``team_ids`` (0 for none), in one query."""
    wanted = set(team_ids)
    counts = dict.fromkeys(wanted, 0)
    if wanted:
        counts.update(db.execute(select(TeamMember.team_id, func.count())
                                 .where(TeamMember.team_id.in_(wanted))
                                 .group_by(TeamMember.team_id)).tuples().all())
    return counts


def member_names(db: Session, team: Team) -> list[str]:
    ids = [m.user_id for m in team.members]
    return list(db.scalars(select(User.username).where(User.id.in_(ids)).order_by(User.username)))


def of_user(*, db: Session, user: User) -> list[tuple[Team, Challenge]]:
    """The teams ``user`` belongs to (at most one per challenge), each with its challenge,
    by challenge title. A member sees their own team whatever the challenge's state."""
    rows = db.execute(select(Team, Challenge)
                      .join(TeamMember, TeamMember.team_id == Team.id)
                      .join(Challenge, Challenge.id == Team.challenge_id)
                      .where(TeamMember.user_id == user.id)
                      .order_by(Challenge.title, Team.id)).tuples().all()
    return list(rows)
