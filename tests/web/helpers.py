"""Signing a test client in and giving it a CSRF token without going through the forms (the
sign-in page has tests of its own), and the small world the upload tests share."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.accounts.models import Role, User
from challenge.phases.models import Phase
from challenge.teams import service as teams
from challenge.web import csrf, sessions
from tests import factories


def sign_in(client: TestClient, db: Session, user: User) -> sessions.Started:
    """Open a real session for ``user`` and give ``client`` its cookie."""
    started = sessions.start(db=db, user=user, hours=1)
    client.cookies.set(sessions.COOKIE, started.cookie)
    return started


def csrf_token(client: TestClient) -> str:
    """Give ``client`` a CSRF cookie and return the token its forms would carry."""
    cookie = client.cookies.get(csrf.COOKIE)
    if cookie is None:
        cookie = csrf.new_cookie()
        client.cookies.set(csrf.COOKIE, cookie)
    secret = client.app.state.settings.secret_key.get_secret_value()  # type: ignore[attr-defined]
    return csrf.token_for(cookie, secret)


def team_member_of_open_phase(db: Session) -> tuple[factories.Account, Phase]:
    """Challenge ``alpha`` (organizer ``org``) with an open phase ``test``, and ``member``
    in its team "Team M": the world of the upload tests. Commits."""
    admin = factories.admin_account(db)
    org = factories.account(db, "org", Role.organizer, admin.user)
    member = factories.account(db, "member")
    factories.challenge(db, org.user, "alpha")
    phase = factories.phase(db, org.user, "alpha", "test")
    teams.create(db=db, user=member.user, slug="alpha", name="Team M")
    db.commit()
    return member, phase
