from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from challenge.challenges.models import Challenge
from challenge.core.deps import ChallengeSlug, CurrentUser, OptionalUser, SessionDep, TeamId
from challenge.teams import service
from challenge.teams.models import Team
from challenge.teams.schemas import TeamCreate, TeamJoin, TeamPrivate, TeamPublic

router = APIRouter(tags=["teams"])


def _slug(db: Session, team: Team) -> str:
    challenge = db.get(Challenge, team.challenge_id)
    assert challenge is not None
    return challenge.slug


def _public(db: Session, team: Team) -> TeamPublic:
    return TeamPublic(id=team.id, name=team.name, challenge_slug=_slug(db, team),
                      created_at=team.created_at, n_members=len(team.members))


def _private(db: Session, team: Team) -> TeamPrivate:
    return TeamPrivate(**_public(db, team).model_dump(), members=service.member_names(db, team),
                       invite_code=team.invite_code)


@router.get("/challenges/{slug}/teams", response_model=list[TeamPublic])
def list_teams(slug: ChallengeSlug, db: SessionDep, user: OptionalUser) -> list[TeamPublic]:
    return [_public(db, t) for t in service.list_for_challenge(db=db, user=user, slug=slug)]


@router.post("/challenges/{slug}/teams", status_code=status.HTTP_201_CREATED,
             response_model=TeamPrivate)
def create_team(slug: ChallengeSlug, body: TeamCreate, db: SessionDep,
                user: CurrentUser) -> TeamPrivate:
    """Create a team; you become its first member. Share the invite code with your teammates."""
    return _private(db, service.create(db=db, user=user, slug=slug, name=body.name))


@router.post("/challenges/{slug}/teams/join", response_model=TeamPrivate)
def join_team(slug: ChallengeSlug, body: TeamJoin, db: SessionDep,
              user: CurrentUser) -> TeamPrivate:
    return _private(db, service.join(db=db, user=user, slug=slug, invite_code=body.invite_code))


@router.get("/teams/{team_id}", response_model=TeamPrivate)
def get_team(team_id: TeamId, db: SessionDep, user: CurrentUser) -> TeamPrivate:
    return _private(db, service.get_for_member_or_organizer(db=db, user=user, team_id=team_id))


@router.post("/teams/{team_id}/leave", response_model=TeamPublic)
def leave_team(team_id: TeamId, db: SessionDep, user: CurrentUser) -> TeamPublic:
    return _public(db, service.leave(db=db, user=user, team_id=team_id))
