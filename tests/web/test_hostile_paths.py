"""Every route of the web app outside ``/api/`` (pages, forms, uploads, static files) answers a
hostile path value with a 4xx, never a 500: a NUL (PostgreSQL refuses it in a query), an
overlong value, a path-traversal attempt, a number too large for the database. Walked from
the app's own routes, so a new route is covered without a new line here."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from tests import factories
from tests.web.helpers import csrf_token, sign_in

HOSTILE = ("a%00b", "x" * 2000, "..%2F..%2Fetc%2Fpasswd", "99999999999999999999", "%C0%AF")


def _routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every route outside /api/ with a path parameter."""
    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = context.path or ""
        if path.startswith("/api/") or "{" not in path:
            continue
        found.extend((method, path) for method in sorted(context.methods or ())
                     if method in ("GET", "POST", "PATCH", "DELETE"))
    return found


@pytest.mark.parametrize("value", HOSTILE)
def test_no_web_route_answers_a_hostile_path_value_with_a_500(
        db: Session, client: TestClient, value: str) -> None:
    admin = factories.admin_account(db).user
    organizer = factories.account(db, "olga", Role.organizer, admin).user
    factories.challenge(db, organizer, "alpha")
    factories.phase(db, organizer, "alpha", "test")
    sign_in(client, db, organizer)
    token = csrf_token(client)
    routes = _routes(client)
    assert len(routes) >= 20, routes  # the walk sees the web app's routes
    for method, template in routes:
        for name in re.findall(r"{(\w+)}", template):
            others = re.sub(r"{slug}", "alpha", re.sub(r"{phase_slug}", "test", template))
            path = re.sub(r"{\w+}", "1", others.replace("{" + name + "}", value))
            answer = client.request(method, path, data={"csrf_token": token},
                                    headers={"X-CSRF-Token": token, "Tus-Resumable": "1.0.0"},
                                    follow_redirects=False)
            assert answer.status_code < 500, (method, template, name, value, answer.text[:300])
