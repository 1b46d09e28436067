"""Every state-changing route of the web app checks the CSRF token (``csrf.protect``), and a
form posted without the browser's own token is refused and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.accounts import service
from challenge.accounts.models import ApiToken
from challenge.app import create_app
from challenge.core.config import Settings
from challenge.web import csrf
from challenge.web.models import WebSession
from tests import factories
from tests.web.helpers import sign_in

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PASSWORD = "correct horse battery"


def _calls(dependant: Dependant) -> set[Any]:
    """Every dependency callable of ``dependant``, recursively."""
    found = set()
    for sub in dependant.dependencies:
        found.add(sub.call)
        found |= _calls(sub)
    return found


def _unprotected_writes(app: FastAPI) -> tuple[set[str], set[str]]:
    """(every state-changing route outside /api/, those depending on neither csrf.protect nor
    csrf.protect_unless_bearer)."""
    writes, unprotected = set(), set()
    for route in iter_route_contexts(app.routes):
        path, methods = route.path or "", route.methods or set()
        if path.startswith("/api/") or not methods & WRITES:
            continue
        name = f"{','.join(sorted(methods & WRITES))} {path}"
        writes.add(name)
        dependant = getattr(route, "dependant", None)
        if dependant is None or not {csrf.protect, csrf.protect_unless_bearer} & _calls(dependant):
            unprotected.add(name)
    return writes, unprotected


def test_every_state_changing_page_route_depends_on_the_csrf_check(tmp_path: Any) -> None:
    app = create_app(Settings(environment="test", database_url=f"sqlite:///{tmp_path}/a.db",
                              storage_root=tmp_path / "storage", worker_mode="off"))
    writes, unprotected = _unprotected_writes(app)
    assert {"POST /signin", "POST /signup", "POST /signout", "POST /account/tokens",
            "PATCH /uploads/{public_id}", "POST /challenges/{slug}/team/create",
            "POST /organize/new"} <= writes
    assert unprotected == set()


def test_the_route_walk_finds_a_write_route_without_the_check() -> None:
    app = FastAPI()

    @app.post("/unguarded")
    def unguarded() -> None: ...

    assert _unprotected_writes(app)[1] == {"POST /unguarded"}


def _foreign_token(app: FastAPI) -> str:
    """A valid token of another browser (its own CSRF cookie)."""
    other = TestClient(app)
    page = other.get("/signin").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _tokens(app: FastAPI, client: TestClient) -> dict[str, dict[str, str]]:
    client.get("/signin")  # the browser gets its own CSRF cookie
    return {"no token": {}, "wrong token": {"csrf_token": "0" * 64},
            "another browser's token": {"csrf_token": _foreign_token(app)}}


@pytest.mark.parametrize("case", ["no token", "wrong token", "another browser's token"])
def test_a_sign_in_without_the_browsers_own_token_is_refused(
        db: Session, app: FastAPI, client: TestClient, case: str) -> None:
    alice = factories.account(db, "alice").user
    service.set_password(db=db, user=alice, password=PASSWORD)
    extra = _tokens(app, client)[case]
    response = client.post("/signin", data={"username": "alice", "password": PASSWORD,
                                            **extra}, follow_redirects=False)
    assert response.status_code == 403 and "text/html" in response.headers["content-type"]
    assert db.scalar(select(func.count()).select_from(WebSession)) == 0


@pytest.mark.parametrize("case", ["no token", "wrong token", "another browser's token"])
def test_a_token_creation_without_the_browsers_own_token_is_refused(
        db: Session, app: FastAPI, client: TestClient, case: str) -> None:
    alice = factories.account(db, "alice").user
    sign_in(client, db, alice)
    extra = _tokens(app, client)[case]
    before = db.scalar(select(func.count()).select_from(ApiToken))
    response = client.post("/account/tokens", data={"name": "stolen", **extra})
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(ApiToken)) == before
