"""Who gets what from each participant page: one table of every page route of
``challenge.web.participants`` x {anonymous, outsider, member, other-team member, organizer}.
A route without a row fails the coverage test, so a new page cannot skip this table.

GET pages: anonymous readers are sent to sign in (303), except the public how-to page.
POST actions are tried only by people who must not act on Team Alpha's objects (with a valid
CSRF token); each must answer the status below and change nothing."""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.app import create_app
from challenge.submissions.models import Submission
from challenge.teams.models import Team, TeamMember
from tests.challenge import visibility_world
from tests.web.helpers import csrf_token
from tests.web.participant_world import USERNAMES, act_as, user

ROLES = ("anonymous", "outsider", "member", "other", "organizer")
P = "/challenges/{slug}/phases/{phase_slug}"

GET_TABLE: dict[str, dict[str, int]] = {
    "/challenges/{slug}/team":
        {"anonymous": 303, "outsider": 200, "member": 200, "other": 200, "organizer": 200},
    P + "/submit":
        {"anonymous": 303, "outsider": 403, "member": 200, "other": 200, "organizer": 403},
    P + "/submissions":
        {"anonymous": 303, "outsider": 403, "member": 200, "other": 200, "organizer": 403},
    P + "/how-to":
        {"anonymous": 200, "outsider": 200, "member": 200, "other": 200, "organizer": 200},
    "/submissions/{submission_id}":
        {"anonymous": 303, "outsider": 404, "member": 200, "other": 404, "organizer": 200},
}

# POST route -> (form fields, role -> status); Alpha's submission and member as targets.
POST_TABLE: dict[str, tuple[dict[str, str], dict[str, int]]] = {
    "/challenges/{slug}/team/create":
        ({"name": "Intruders"}, {"anonymous": 401, "member": 409, "organizer": 403}),
    "/challenges/{slug}/team/join":
        ({"invite_code": "wrong-code"}, {"anonymous": 401, "outsider": 404, "other": 404}),
    "/challenges/{slug}/team/invite": ({}, {"anonymous": 401, "outsider": 404}),
    "/challenges/{slug}/team/members/{user_id}/remove":
        ({}, {"anonymous": 401, "outsider": 404, "other": 404, "organizer": 404}),
    "/challenges/{slug}/team/leave": ({}, {"anonymous": 401, "outsider": 404}),
    P + "/submit": ({}, {"anonymous": 401, "outsider": 403, "organizer": 403}),
    "/submissions/{submission_id}/select": ({}, {"anonymous": 401, "outsider": 404,
                                                 "other": 404}),
    "/submissions/{submission_id}/cancel": ({}, {"anonymous": 401, "outsider": 404,
                                                 "other": 404}),
}


def _participant_routes() -> set[tuple[str, str]]:
    app = create_app()
    return {(method, context.path) for context in iter_route_contexts(app.routes)
            if getattr(context.endpoint, "__module__", "").startswith(
                "challenge.web.participants") for method in context.methods or ()}


def test_every_participant_page_route_has_a_row() -> None:
    covered = {("GET", path) for path in GET_TABLE} | {("POST", path) for path in POST_TABLE}
    routes = _participant_routes()
    assert routes - covered == set(), "participant page routes without an authz row"
    assert covered - routes == set(), "rows for routes that do not exist"


def _url(template: str, world: visibility_world.VisWorld, db: Session) -> str:
    return template.format(slug=world.ids["slug"], phase_slug=world.ids["phase_slug"],
                           submission_id=world.ids["submission_id"],
                           user_id=user(db, USERNAMES["member"]).id)


@pytest.mark.parametrize("role", ROLES)
def test_each_page_answers_each_role_as_the_table_says(client: TestClient, db: Session,
                                                       role: str) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    act_as(client, db, role)
    got = {path: client.get(_url(path, world, db), follow_redirects=False).status_code
           for path in GET_TABLE}
    assert got == {path: row[role] for path, row in GET_TABLE.items()}


def _state(db: Session) -> tuple[int, int, int, list[str], list[bool]]:
    db.expire_all()
    return (db.scalar(select(func.count()).select_from(Team)) or 0,
            db.scalar(select(func.count()).select_from(TeamMember)) or 0,
            db.scalar(select(func.count()).select_from(Submission)) or 0,
            list(db.scalars(select(Team.invite_code).order_by(Team.id))),
            list(db.scalars(select(Submission.selected).order_by(Submission.id))))


@pytest.mark.parametrize("role", ROLES)
def test_no_one_acts_on_another_teams_objects(client: TestClient, db: Session,
                                              role: str) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    act_as(client, db, role)
    before = _state(db)
    for path, (fields, expected) in POST_TABLE.items():
        if role not in expected:
            continue
        answer = client.post(_url(path, world, db),
                             data={**fields, "csrf_token": csrf_token(client)},
                             follow_redirects=False)
        assert answer.status_code == expected[role], (path, answer.text[-400:])
    assert _state(db) == before
