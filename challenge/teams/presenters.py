"""Teams as the API shows them: to everyone (``TeamPublic``), and to their members and the
challenge's organizers (``TeamPrivate``: members and invite code)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from challenge.challenges import service as challenges
from challenge.teams import service
from challenge.teams.models import Team
from challenge.teams.schemas import TeamPrivate, TeamPublic


def _public(team: Team, challenge_slug: str, n_members: int) -> TeamPublic:
    return TeamPublic(id=team.id, name=team.name, challenge_slug=challenge_slug,
                      created_at=team.created_at, n_members=n_members)


def teams_public(db: Session, teams: Sequence[Team]) -> list[TeamPublic]:
    """``teams`` in their order; their challenges' slugs and member counts in two queries."""
    slugs = challenges.slugs_by_id(db=db, ids=(t.challenge_id for t in teams))
    counts = service.member_counts(db=db, team_ids=(t.id for t in teams))
    return [_public(t, slugs[t.challenge_id], counts[t.id]) for t in teams]


def team_public(db: Session, team: Team) -> TeamPublic:
    return teams_public(db, [team])[0]


def team_private(db: Session, team: Team) -> TeamPrivate:
    """``team`` with its members' usernames (sorted) and its invite code."""
    members = service.member_names(db, team)
    slug = challenges.slugs_by_id(db=db, ids=[team.challenge_id])[team.challenge_id]
    return TeamPrivate(**_public(team, slug, len(members)).model_dump(), members=members,
                       invite_code=team.invite_code)
