from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts import service as accounts
from challenge.accounts.models import Role, User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge, ChallengeOrganizer
from challenge.challenges.schemas import ChallengeCreate, ChallengeUpdate
from challenge.core import notify
from challenge.core.conflicts import unique_conflicts
from challenge.core.errors import Conflict, InvalidInput
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch

NEWEST_FIRST = Keyset("challenges", (Key(Challenge.id, descending=True),))
"""The API's order of challenges: newest first (ids grow with creation)."""


def list_visible(*, db: Session, user: User | None) -> list[Challenge]:
    """Every challenge ``user`` may see, newest first (the pages' list)."""
    return list(db.scalars(select(Challenge).where(access.sees_challenge(user))
                           .order_by(Challenge.created_at.desc(), Challenge.id.desc())))


def list_organized(*, db: Session, user: User) -> list[Challenge]:
    """Every challenge ``user`` organizes (admins: all), newest first (``/organize``)."""
    return list(db.scalars(select(Challenge).where(access.organizes(user, Challenge.id))
                           .order_by(Challenge.created_at.desc(), Challenge.id.desc())))


def organizer_names(*, db: Session, challenge: Challenge) -> list[str]:
    """The user names of ``challenge``'s organizers, alphabetical (admins organize every
    challenge without being listed)."""
    return list(db.scalars(select(User.username).join(
        ChallengeOrganizer, ChallengeOrganizer.user_id == User.id)
        .where(ChallengeOrganizer.challenge_id == challenge.id).order_by(User.username)))


def page_visible(*, db: Session, user: User | None, page: PageRequest) -> Paged[Challenge]:
    """One page of the challenges ``user`` may see (published ones, plus those ``user``
    organizes), newest first."""
    return fetch(db, select(Challenge).where(access.sees_challenge(user)), NEWEST_FIRST, page)


def get(*, db: Session, user: User | None, slug: str) -> Challenge:
    return access.require_visible_challenge(db, user, slug)


def slugs_by_id(*, db: Session, ids: Iterable[int]) -> dict[int, str]:
    """The slug of each challenge id in ``ids``, in one query (none for no ids)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(db.execute(select(Challenge.id, Challenge.slug)
                           .where(Challenge.id.in_(wanted))).tuples().all())


def create(*, db: Session, user: User, data: ChallengeCreate) -> Challenge:
    access.require_may_create_challenge(user)
    if db.scalar(select(Challenge.id).where(Challenge.slug == data.slug)) is not None:
        raise Conflict(f"a challenge {data.slug!r} exists already", code="slug_taken")
    challenge = Challenge(**data.model_dump(), created_by_id=user.id)
    challenge.organizers.append(ChallengeOrganizer(user_id=user.id))
    db.add(challenge)
    with unique_conflicts(db):
        db.flush()
    audit.record(db=db, actor=user, action="challenge.create", object_type="challenge",
                 object_id=challenge.id, challenge_id=challenge.id, slug=challenge.slug)
    db.commit()
    return challenge


def update(*, db: Session, user: User, slug: str, data: ChallengeUpdate) -> Challenge:
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in changes.items():
        setattr(challenge, key, value)
    audit.record(db=db, actor=user, action="challenge.update", object_type="challenge",
                 object_id=challenge.id, challenge_id=challenge.id, changes=changes)
    notify.phases_changed(db)
    db.commit()
    return challenge


def add_organizer(*, db: Session, user: User, slug: str, username: str) -> Challenge:
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    other = accounts.get_by_username(db=db, username=username)
    if other.role not in (Role.organizer, Role.admin):
        raise InvalidInput(f"{username!r} is not an organizer account", code="not_an_organizer")
    if access.is_organizer(db, other, challenge.id) and not other.is_admin:
        raise Conflict(f"{username!r} organizes this challenge already")
    if access.team_of(db, other, challenge.id) is not None:
        raise Conflict(f"{username!r} is in a team of this challenge", code="conflict_of_interest")
    db.add(ChallengeOrganizer(challenge_id=challenge.id, user_id=other.id))
    with unique_conflicts(db):
        db.flush()
    audit.record(db=db, actor=user, action="challenge.add_organizer", object_type="challenge",
                 object_id=challenge.id, challenge_id=challenge.id, username=username)
    db.commit()
    return challenge
