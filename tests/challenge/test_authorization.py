"""Every endpoint called as every role (DESIGN section 1), with the answer each must get.

The table must cover every route under ``/api/v1`` and ``/healthz``: a new endpoint without a
row fails ``test_every_endpoint_is_in_the_matrix``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from evaluator.metrics import FLAT_KEYS
from tests import factories as f
from tests.challenge.authz_world import ROLES, World, build


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route template, as FastAPI declares it
    path: Callable[[dict[str, Any]], str]
    expect: dict[str, int]
    body: Callable[[dict[str, Any]], Any] | None = None
    raw: Callable[[], bytes] | None = None
    label: str = ""


def codes(anonymous: int, member: int, other: int, organizer: int, other_org: int,
          admin: int, site: int = 401) -> dict[str, int]:
    """Expected status per role. A site token authenticates no user route: 401 by default."""
    return dict(zip(ROLES, (anonymous, member, other, organizer, other_org, admin, site),
                    strict=True))


def _case_body(_: dict[str, Any]) -> dict[str, Any]:
    metrics = {key: 0.5 for key in FLAT_KEYS} | {"n_ref": 1, "n_pred": 1, "tp": 1, "fp": 0,
                                                 "fn": 0}
    return {"status": "ok", "metrics": metrics, "flags": []}


SITE_ONLY = codes(401, 401, 401, 401, 401, 401, site=200)


def _phase_body(_: dict[str, Any]) -> dict[str, Any]:
    return {"slug": "extra", "title": "Extra", "opens_at": "2020-01-01T00:00:00Z",
            "closes_at": "2099-01-01T00:00:00Z"}


CASES = [
    Case("POST", "/api/v1/users", lambda i: "/api/v1/users", codes(201, 201, 201, 201, 201, 201),
         body=lambda i: {"username": "newcomer"}),
    Case("POST", "/api/v1/admin/users", lambda i: "/api/v1/admin/users",
         codes(401, 403, 403, 403, 403, 201), body=lambda i: {"username": "neworg"}),
    Case("GET", "/api/v1/admin/users", lambda i: "/api/v1/admin/users",
         codes(401, 403, 403, 403, 403, 200)),
    Case("GET", "/api/v1/me", lambda i: "/api/v1/me", codes(401, 200, 200, 200, 200, 200)),
    Case("PUT", "/api/v1/me/password", lambda i: "/api/v1/me/password",
         codes(401, 200, 200, 200, 200, 200), body=lambda i: {"password": "a long password"}),
    Case("GET", "/api/v1/me/tokens", lambda i: "/api/v1/me/tokens",
         codes(401, 200, 200, 200, 200, 200)),
    Case("POST", "/api/v1/me/tokens", lambda i: "/api/v1/me/tokens",
         codes(401, 201, 201, 201, 201, 201), body=lambda i: {"name": "ci"}),
    Case("DELETE", "/api/v1/me/tokens/{token_id}",
         lambda i: f"/api/v1/me/tokens/{i['member_token']}", codes(401, 200, 404, 404, 404, 200)),
    Case("GET", "/api/v1/challenges", lambda i: "/api/v1/challenges",
         codes(200, 200, 200, 200, 200, 200)),
    Case("POST", "/api/v1/challenges", lambda i: "/api/v1/challenges",
         codes(401, 403, 403, 201, 201, 201), body=lambda i: {"slug": "gamma", "title": "G"}),
    Case("GET", "/api/v1/challenges/{slug}", lambda i: "/api/v1/challenges/alpha",
         codes(200, 200, 200, 200, 200, 200), label="published"),
    Case("GET", "/api/v1/challenges/{slug}", lambda i: "/api/v1/challenges/beta",
         codes(404, 404, 404, 404, 200, 200), label="unpublished"),
    Case("PATCH", "/api/v1/challenges/{slug}", lambda i: "/api/v1/challenges/alpha",
         codes(401, 403, 403, 200, 403, 200), body=lambda i: {"title": "Alpha!"}),
    Case("POST", "/api/v1/challenges/{slug}/organizers",
         lambda i: "/api/v1/challenges/alpha/organizers", codes(401, 403, 403, 200, 403, 200),
         body=lambda i: {"username": "org2"}),
    Case("GET", "/api/v1/challenges/{slug}/phases", lambda i: "/api/v1/challenges/alpha/phases",
         codes(200, 200, 200, 200, 200, 200)),
    Case("POST", "/api/v1/challenges/{slug}/phases",
         lambda i: "/api/v1/challenges/alpha/phases", codes(401, 403, 403, 201, 403, 201),
         body=_phase_body),
    Case("GET", "/api/v1/phases/{phase_id}", lambda i: f"/api/v1/phases/{i['phase']}",
         codes(200, 200, 200, 200, 200, 200), label="public"),
    Case("GET", "/api/v1/phases/{phase_id}", lambda i: f"/api/v1/phases/{i['hidden_phase']}",
         codes(404, 404, 404, 200, 404, 200), label="organizers-only"),
    Case("PATCH", "/api/v1/phases/{phase_id}", lambda i: f"/api/v1/phases/{i['phase']}",
         codes(401, 403, 403, 200, 403, 200), body=lambda i: {"title": "Renamed"}),
    Case("GET", "/api/v1/phases/{phase_id}/configs",
         lambda i: f"/api/v1/phases/{i['phase']}/configs", codes(401, 403, 403, 200, 403, 200)),
    Case("GET", "/api/v1/challenges/{slug}/teams", lambda i: "/api/v1/challenges/alpha/teams",
         codes(200, 200, 200, 200, 200, 200)),
    Case("POST", "/api/v1/challenges/{slug}/teams", lambda i: "/api/v1/challenges/alpha/teams",
         codes(401, 409, 409, 403, 201, 403), body=lambda i: {"name": "Newbies"}),
    Case("POST", "/api/v1/challenges/{slug}/teams/join",
         lambda i: "/api/v1/challenges/alpha/teams/join", codes(401, 409, 409, 403, 409, 403),
         body=lambda i: {"invite_code": i["invite"]}, label="team that submitted"),
    Case("POST", "/api/v1/challenges/{slug}/teams/join",
         lambda i: "/api/v1/challenges/alpha/teams/join", codes(401, 409, 409, 403, 200, 403),
         body=lambda i: {"invite_code": i["other_invite"]}, label="team without submissions"),
    Case("GET", "/api/v1/teams/{team_id}", lambda i: f"/api/v1/teams/{i['team']}",
         codes(401, 200, 404, 200, 404, 200)),
    Case("POST", "/api/v1/teams/{team_id}/leave", lambda i: f"/api/v1/teams/{i['team']}/leave",
         codes(401, 409, 404, 404, 404, 404), label="team that submitted"),
    Case("POST", "/api/v1/teams/{team_id}/leave",
         lambda i: f"/api/v1/teams/{i['other_team']}/leave",
         codes(401, 404, 200, 404, 404, 404), label="team without submissions"),
    Case("POST", "/api/v1/teams/{team_id}/invite-code",
         lambda i: f"/api/v1/teams/{i['team']}/invite-code", codes(401, 200, 404, 200, 404, 200)),
    Case("DELETE", "/api/v1/teams/{team_id}/members/{username}",
         lambda i: f"/api/v1/teams/{i['team']}/members/member",
         codes(401, 409, 404, 200, 404, 200), label="team that submitted"),
    Case("DELETE", "/api/v1/teams/{team_id}/members/{username}",
         lambda i: f"/api/v1/teams/{i['other_team']}/members/other",
         codes(401, 404, 200, 200, 404, 200), label="team without submissions"),
    Case("POST", "/api/v1/teams/{team_id}/members",
         lambda i: f"/api/v1/teams/{i['team']}/members", codes(401, 403, 404, 200, 404, 200),
         body=lambda i: {"username": "other"}),
    Case("POST", "/api/v1/challenges/{slug}/datasets",
         lambda i: "/api/v1/challenges/alpha/datasets?name=more",
         codes(401, 403, 403, 201, 403, 201), raw=lambda: f.tiny_dataset(1).tar_bytes()),
    Case("GET", "/api/v1/challenges/{slug}/datasets",
         lambda i: "/api/v1/challenges/alpha/datasets", codes(401, 403, 403, 200, 403, 200)),
    Case("GET", "/api/v1/datasets/{dataset_id}", lambda i: f"/api/v1/datasets/{i['dataset']}",
         codes(401, 404, 404, 200, 404, 200)),
    Case("POST", "/api/v1/phases/{phase_id}/submissions",
         lambda i: f"/api/v1/phases/{i['phase']}/submissions",
         codes(401, 201, 201, 403, 403, 403), raw=lambda: f.image_archive()),
    Case("GET", "/api/v1/phases/{phase_id}/submissions",
         lambda i: f"/api/v1/phases/{i['phase']}/submissions",
         codes(401, 200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/phases/{phase_id}/quota",
         lambda i: f"/api/v1/phases/{i['phase']}/quota", codes(401, 200, 200, 403, 403, 403)),
    Case("GET", "/api/v1/submissions/{submission_id}",
         lambda i: f"/api/v1/submissions/{i['submission']}", codes(401, 200, 404, 200, 404, 200)),
    Case("POST", "/api/v1/submissions/{submission_id}/select",
         lambda i: f"/api/v1/submissions/{i['submission']}/select",
         codes(401, 200, 404, 403, 404, 403)),
    Case("GET", "/api/v1/evaluations/{evaluation_id}",
         lambda i: f"/api/v1/evaluations/{i['evaluation']}", codes(401, 200, 404, 200, 404, 200)),
    Case("GET", "/api/v1/evaluations/{evaluation_id}/log",
         lambda i: f"/api/v1/evaluations/{i['evaluation']}/log",
         codes(401, 403, 404, 200, 404, 200)),
    Case("GET", "/api/v1/evaluations/{evaluation_id}/cases",
         lambda i: f"/api/v1/evaluations/{i['evaluation']}/cases",
         codes(401, 403, 404, 200, 404, 200)),
    Case("POST", "/api/v1/evaluations/{evaluation_id}/cancel",
         lambda i: f"/api/v1/evaluations/{i['evaluation']}/cancel",
         codes(401, 200, 404, 200, 404, 200)),
    Case("POST", "/api/v1/submissions/{submission_id}/reevaluate",
         lambda i: f"/api/v1/submissions/{i['submission']}/reevaluate",
         codes(401, 404, 404, 200, 404, 200)),
    Case("GET", "/api/v1/phases/{phase_id}/leaderboard",
         lambda i: f"/api/v1/phases/{i['phase']}/leaderboard",
         codes(200, 200, 200, 200, 200, 200), label="public"),
    Case("GET", "/api/v1/phases/{phase_id}/leaderboard",
         lambda i: f"/api/v1/phases/{i['team_board_phase']}/leaderboard",
         codes(403, 200, 200, 200, 403, 200), label="participants"),
    Case("GET", "/api/v1/phases/{phase_id}/leaderboard",
         lambda i: f"/api/v1/phases/{i['hidden_phase']}/leaderboard",
         codes(404, 404, 404, 200, 404, 200), label="organizers-only phase"),
    Case("GET", "/api/v1/phases/{phase_id}/leaderboard.csv",
         lambda i: f"/api/v1/phases/{i['phase']}/leaderboard.csv",
         codes(200, 200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/phases/{phase_id}/cases.csv",
         lambda i: f"/api/v1/phases/{i['phase']}/cases.csv",
         codes(403, 403, 403, 200, 403, 200), label="per-case scores not published"),
    Case("GET", "/api/v1/challenges/{slug}/audit", lambda i: "/api/v1/challenges/alpha/audit",
         codes(401, 403, 403, 200, 403, 200)),
    Case("GET", "/api/v1/admin/audit", lambda i: "/api/v1/admin/audit",
         codes(401, 403, 403, 403, 403, 200)),
    # Evaluation sites: organizers manage them; a site token reaches its own routes only.
    Case("POST", "/api/v1/phases/{phase_id}/sites",
         lambda i: f"/api/v1/phases/{i['site_phase']}/sites",
         codes(401, 403, 403, 201, 403, 201), body=lambda i: {"name": "Clinic B"}),
    Case("GET", "/api/v1/phases/{phase_id}/sites",
         lambda i: f"/api/v1/phases/{i['site_phase']}/sites",
         codes(401, 403, 403, 200, 403, 200)),
    Case("DELETE", "/api/v1/sites/{site_id}", lambda i: f"/api/v1/sites/{i['site']}",
         codes(401, 404, 404, 200, 404, 200)),
    Case("POST", "/api/v1/challenges/{slug}/datasets/manifest",
         lambda i: "/api/v1/challenges/alpha/datasets/manifest",
         codes(401, 403, 403, 201, 403, 201), body=lambda i: i["manifest"]),
    Case("POST", "/api/v1/site/lease", lambda i: "/api/v1/site/lease", SITE_ONLY,
         body=lambda i: {"worker_version": "0.1.0"}),
    Case("POST", "/api/v1/site/leases/{lease_id}/heartbeat",
         lambda i: f"/api/v1/site/leases/{i['lease']}/heartbeat", SITE_ONLY),
    Case("GET", "/api/v1/site/leases/{lease_id}/archive",
         lambda i: f"/api/v1/site/leases/{i['lease']}/archive", SITE_ONLY),
    Case("POST", "/api/v1/site/leases/{lease_id}/running",
         lambda i: f"/api/v1/site/leases/{i['lease']}/running",
         codes(401, 401, 401, 401, 401, 401, site=204)),
    Case("PUT", "/api/v1/site/leases/{lease_id}/cases/{case_id}",
         lambda i: f"/api/v1/site/leases/{i['lease']}/cases/{i['site_case']}", SITE_ONLY,
         body=_case_body),
    Case("POST", "/api/v1/site/leases/{lease_id}/finish",
         lambda i: f"/api/v1/site/leases/{i['lease']}/finish", SITE_ONLY,
         body=lambda i: {"outcome": "cancelled", "evaluator_version": "0.1.0"}),
    Case("GET", "/healthz", lambda i: "/healthz",
         codes(200, 200, 200, 200, 200, 200, site=200)),
]
#: The routes the matrix must cover (the pages and /docs have tests of their own).
MATRIX_ROUTES = ("/api/", "/healthz")


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path) -> World:
    return build(db, app.state.storage, tmp_path)


def _call(client: TestClient, world: World, case: Case, role: str) -> Any:
    kwargs: dict[str, Any] = {"headers": world.headers(role)}
    if case.body is not None:
        kwargs["json"] = case.body(world.ids)
    if case.raw is not None:
        kwargs["content"] = case.raw()
    return client.request(case.method, case.path(world.ids), **kwargs)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.route} {c.label}".strip())
def test_endpoint_answers_each_role(client: TestClient, world: World, case: Case,
                                    role: str) -> None:
    response = _call(client, world, case, role)
    assert response.status_code == case.expect[role], response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message"]


def test_every_endpoint_is_in_the_matrix(app: FastAPI) -> None:
    declared = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
                if path.startswith(MATRIX_ROUTES) for method in ops}
    covered = {(c.method, c.route) for c in CASES}
    assert declared - covered == set(), "add these endpoints to the authorization matrix"
    assert covered - declared == set(), "the matrix names endpoints that no longer exist"


def test_other_team_never_sees_the_members_submission(client: TestClient, world: World) -> None:
    path = f"/api/v1/phases/{world.ids['phase']}/submissions"
    mine = client.get(path, headers=world.headers("member")).json()["items"]
    theirs = client.get(path, headers=world.headers("other_team")).json()["items"]
    assert [s["id"] for s in mine] == [world.ids["submission"]]
    assert theirs == []
