from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from challenge.core.deps import ChallengeSlug, CurrentUser, OptionalUser, SessionDep, TeamId
from challenge.core.pagination import Page, PageDep
from challenge.core.text import Username as UsernameText
from challenge.teams import membership, presenters, service
from challenge.teams.schemas import (
    TeamCreate,
    TeamJoin,
    TeamMemberMove,
    TeamPrivate,
    TeamPublic,
)

router = APIRouter(tags=["teams"])
Username = Annotated[UsernameText, Path()]


@router.get("/challenges/{slug}/teams", response_model=Page[TeamPublic])
def list_teams(slug: ChallengeSlug, db: SessionDep, user: OptionalUser,
               page: PageDep) -> Page[TeamPublic]:
    """The challenge's teams by name, paginated (``limit``, ``cursor``)."""
    teams = service.list_for_challenge(db=db, user=user, slug=slug, page=page)
    return teams.page(lambda rows: presenters.teams_public(db, rows))


@router.post("/challenges/{slug}/teams", status_code=status.HTTP_201_CREATED,
             response_model=TeamPrivate)
def create_team(slug: ChallengeSlug, body: TeamCreate, db: SessionDep,
                user: CurrentUser) -> TeamPrivate:
    """Create a team; you become its first member. Share the invite code with your teammates."""
    return presenters.team_private(db, service.create(db=db, user=user, slug=slug, name=body.name))


@router.post("/challenges/{slug}/teams/join", response_model=TeamPrivate)
def join_team(slug: ChallengeSlug, body: TeamJoin, db: SessionDep,
              user: CurrentUser) -> TeamPrivate:
    """Join with a member's invite code; refused (409 ``team_has_submitted``) once the team
    has submitted: from then on only the challenge's organizers change its members."""
    team = service.join(db=db, user=user, slug=slug, invite_code=body.invite_code)
    return presenters.team_private(db, team)


@router.get("/teams/{team_id}", response_model=TeamPrivate)
def get_team(team_id: TeamId, db: SessionDep, user: CurrentUser) -> TeamPrivate:
    team = service.get_for_member_or_organizer(db=db, user=user, team_id=team_id)
    return presenters.team_private(db, team)


@router.post("/teams/{team_id}/leave", response_model=TeamPublic)
def leave_team(team_id: TeamId, db: SessionDep, user: CurrentUser) -> TeamPublic:
    """Leave your team; refused (409 ``team_has_submitted``) once it has submitted: ask the
    challenge's organizers. Your submissions keep counting against every team you are in."""
    return presenters.team_public(db, service.leave(db=db, user=user, team_id=team_id))


@router.post("/teams/{team_id}/invite-code", response_model=TeamPrivate)
def rotate_invite_code(team_id: TeamId, db: SessionDep, user: CurrentUser) -> TeamPrivate:
    """The team's captain (longest-standing member) or an organizer: replace the invite code;
    the old one stops working."""
    return presenters.team_private(db, membership.rotate_invite(db=db, user=user, team_id=team_id))


@router.delete("/teams/{team_id}/members/{username}", response_model=TeamPrivate)
def remove_team_member(team_id: TeamId, username: Username, db: SessionDep,
                       user: CurrentUser) -> TeamPrivate:
    """Remove a member: the captain before the team's first submission, organizers at any
    time (audited). It frees no quota: submissions count against every team of their
    submitter."""
    team = membership.remove_member(db=db, user=user, team_id=team_id, username=username)
    return presenters.team_private(db, team)


@router.post("/teams/{team_id}/members", response_model=TeamPrivate)
def move_team_member(team_id: TeamId, body: TeamMemberMove, db: SessionDep,
                     user: CurrentUser) -> TeamPrivate:
    """Organizers: put a user in this team, moving them out of their current team of the
    challenge (audited). Their submissions count against both teams from then on."""
    team = membership.move_member(db=db, user=user, team_id=team_id, username=body.username)
    return presenters.team_private(db, team)
