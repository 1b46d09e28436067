"""``/challenges/{slug}/team``: create or join a team, then the team page (members, invite
code, rotate, remove, leave, links to the submit pages). Every action is the teams service
call the API makes (``challenge.teams.router``); a refusal is shown on the page with the
service's own message and status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.bounds import MAX_ID
from challenge.core.deps import ChallengeSlug, SessionDep
from challenge.core.errors import DomainError, NotFound
from challenge.phases import service as phases
from challenge.teams import membership, presenters, service
from challenge.teams.models import Team, TeamMember
from challenge.teams.schemas import TeamCreate, TeamJoin
from challenge.web import render
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.forms import validate
from challenge.web.render import PageRoute

router = APIRouter(route_class=PageRoute)
UserId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormText = Annotated[str, Form()]


def _members(db: Session, team: Team) -> list[dict[str, Any]]:
    """The team's members, longest-standing first: ``{"id", "username"}`` each."""
    rows = db.execute(select(User.id, User.username).join(TeamMember, TeamMember.user_id == User.id)
                      .where(TeamMember.team_id == team.id)
                      .order_by(TeamMember.joined_at, TeamMember.id)).tuples()
    return [{"id": uid, "username": name} for uid, name in rows]


def _context(db: Session, user: User, challenge: Challenge) -> dict[str, Any]:
    """What the team page shows ``user``: their team (None without one), its members, whether
    they are its captain, whether it has submitted, and the phases they may see."""
    team = access.team_of(db, user, challenge.id)
    context: dict[str, Any] = {
        "title": f"Your team in {challenge.title}", "challenge": challenge, "team": team,
        "organizer": access.is_organizer(db, user, challenge.id),
        "phases": [(p, phases.status(p)) for p in
                   phases.list_visible(db=db, user=user, slug=challenge.slug)],
        "errors": {}, "values": {}, "alert": None}
    if team is not None:
        context.update(private=presenters.team_private(db, team), members=_members(db, team),
                       captain_id=membership.captain_id(db, team.id),
                       submitted=membership.has_submitted(db, team.id))
    return context


def _page(request: Request, db: Session, user: User, slug: str, status: int = 200,
          **extra: Any) -> HTMLResponse:
    challenge = access.require_visible_challenge(db, user, slug)
    context = _context(db, user, challenge)
    context.update(extra)
    return render.page(request, "participant/team.html", context, status=status)


def _refused(request: Request, db: Session, user: User, slug: str, exc: DomainError,
             **extra: Any) -> HTMLResponse:
    """The team page again, with the service's refusal (its message, its status)."""
    db.rollback()
    return _page(request, db, user, slug, status=exc.status_code, alert=exc.message, **extra)


def _back(slug: str) -> RedirectResponse:
    return RedirectResponse(f"/challenges/{slug}/team", status_code=303)


@router.get("/challenges/{slug}/team", response_class=HTMLResponse)
def team_page(slug: ChallengeSlug, request: Request, db: SessionDep,
              user: SignedInUser) -> HTMLResponse:
    return _page(request, db, user, slug)


@router.post("/challenges/{slug}/team/create", dependencies=[CsrfChecked])
def create_team(slug: ChallengeSlug, request: Request, db: SessionDep, user: SignedInUser,
                name: FormText = "") -> Response:
    body, errors = validate(TeamCreate, {"name": name})
    if body is None:
        return _page(request, db, user, slug, status=422, errors=errors, values={"name": name})
    access.require_visible_challenge(db, user, slug)
    try:
        service.create(db=db, user=user, slug=slug, name=body.name)
    except DomainError as exc:
        return _refused(request, db, user, slug, exc, errors={"name": exc.message},
                        values={"name": name})
    return _back(slug)


@router.post("/challenges/{slug}/team/join", dependencies=[CsrfChecked])
def join_team(slug: ChallengeSlug, request: Request, db: SessionDep, user: SignedInUser,
              invite_code: FormText = "") -> Response:
    body, errors = validate(TeamJoin, {"invite_code": invite_code})
    values = {"invite_code": invite_code}
    if body is None:
        return _page(request, db, user, slug, status=422, errors=errors, values=values)
    access.require_visible_challenge(db, user, slug)
    try:
        service.join(db=db, user=user, slug=slug, invite_code=body.invite_code)
    except DomainError as exc:
        return _refused(request, db, user, slug, exc, errors={"invite_code": exc.message},
                        values=values)
    return _back(slug)


def _own_team(db: Session, user: User, slug: str) -> Team:
    """The user's team in the challenge; NotFound without one (nothing to act on)."""
    challenge = access.require_visible_challenge(db, user, slug)
    team = access.team_of(db, user, challenge.id)
    if team is None:
        raise NotFound("you are not in a team of this challenge", code="no_team")
    return team


@router.post("/challenges/{slug}/team/invite", dependencies=[CsrfChecked])
def rotate_invite(slug: ChallengeSlug, request: Request, db: SessionDep,
                  user: SignedInUser) -> Response:
    team = _own_team(db, user, slug)
    try:
        membership.rotate_invite(db=db, user=user, team_id=team.id)
    except DomainError as exc:
        return _refused(request, db, user, slug, exc)
    return _back(slug)


@router.post("/challenges/{slug}/team/members/{user_id}/remove", dependencies=[CsrfChecked])
def remove_member(slug: ChallengeSlug, user_id: UserId, request: Request, db: SessionDep,
                  user: SignedInUser) -> Response:
    team = _own_team(db, user, slug)
    username = next((m["username"] for m in _members(db, team) if m["id"] == user_id), None)
    if username is None:
        raise NotFound("the team has no such member", code="not_a_member")
    try:
        membership.remove_member(db=db, user=user, team_id=team.id, username=username)
    except DomainError as exc:
        return _refused(request, db, user, slug, exc)
    return _back(slug)


@router.post("/challenges/{slug}/team/leave", dependencies=[CsrfChecked])
def leave_team(slug: ChallengeSlug, request: Request, db: SessionDep,
               user: SignedInUser) -> Response:
    team = _own_team(db, user, slug)
    try:
        service.leave(db=db, user=user, team_id=team.id)
    except DomainError as exc:
        return _refused(request, db, user, slug, exc)
    return _back(slug)
