"""Sign-in sessions and the CSRF check, the foundation every page of the web app stands on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.core.db import utcnow
from challenge.core.errors import NotFound
from challenge.web import csrf, sessions
from challenge.web.models import WebSession
from tests import factories
from tests.web.helpers import csrf_token, sign_in

SECRET = "k" * 40


def test_a_session_cookie_finds_its_user_and_nothing_else_does(db: Session) -> None:
    alice = factories.account(db, "alice").user
    started = sessions.start(db=db, user=alice, hours=1)
    assert sessions.lookup(db=db, cookie=started.cookie).user_id == alice.id
    public_id, _, secret = started.cookie.partition(".")
    for forged in (f"{public_id}.{secret}x", f"{public_id}.", f".{secret}", public_id, "",
                   None, "x" * 500, f"{'0' * 32}.{secret}"):
        assert sessions.lookup(db=db, cookie=forged) is None, forged
    assert started.session.secret_hash != secret and secret not in started.session.secret_hash


def test_expired_revoked_and_deactivated_sessions_are_dead(db: Session) -> None:
    alice = factories.account(db, "alice").user
    expired = sessions.start(db=db, user=alice, hours=1)
    expired.session.expires_at = utcnow() - timedelta(seconds=1)
    db.commit()
    assert sessions.lookup(db=db, cookie=expired.cookie) is None
    revoked = sessions.start(db=db, user=alice, hours=1)
    sessions.revoke(db=db, user=alice, session_id=revoked.session.id)
    assert sessions.lookup(db=db, cookie=revoked.cookie) is None
    live = sessions.start(db=db, user=alice, hours=1)
    assert [s.id for s in sessions.list_for_user(db=db, user=alice)] == [live.session.id]
    alice.is_active = False
    db.commit()
    assert sessions.lookup(db=db, cookie=live.cookie) is None


def test_nobody_revokes_another_persons_session(db: Session) -> None:
    alice = factories.account(db, "alice").user
    mallory = factories.account(db, "mallory").user
    started = sessions.start(db=db, user=alice, hours=1)
    with pytest.raises(NotFound):
        sessions.revoke(db=db, user=mallory, session_id=started.session.id)
    assert db.get(WebSession, started.session.id).revoked_at is None


def test_csrf_token_is_bound_to_the_cookie_and_the_secret() -> None:
    cookie = csrf.new_cookie()
    token = csrf.token_for(cookie, SECRET)
    assert csrf.valid(cookie, token, SECRET)
    assert not csrf.valid(csrf.new_cookie(), token, SECRET)
    assert not csrf.valid(cookie, token, SECRET + "x")
    assert not csrf.valid(cookie, cookie, SECRET)  # the cookie itself is not the token
    assert not csrf.valid(None, token, SECRET) and not csrf.valid(cookie, None, SECRET)


def test_the_layout_names_the_signed_in_person(db: Session, client: TestClient) -> None:
    alice = factories.account(db, "alice").user
    assert 'href="/signin"' in client.get("/").text
    sign_in(client, db, alice)
    html = client.get("/").text
    assert "Signed in as" in html and ">alice</a>" in html and 'href="/signin"' not in html


def test_a_malformed_page_url_is_an_html_422_not_json(db: Session, client: TestClient) -> None:
    alice = factories.account(db, "alice").user
    sign_in(client, db, alice)
    for url in ("/account/tokens/abc/revoke", "/account/sessions/99999999999/revoke"):
        answer = client.post(url, data={"csrf_token": csrf_token(client)})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"].startswith("text/html") and "<h1>" in answer.text


def test_a_refused_form_still_names_the_signed_in_person(db: Session, client: TestClient) -> None:
    alice = factories.account(db, "alice").user
    sign_in(client, db, alice)
    answer = client.post("/account/tokens", data={"name": "x"})  # no CSRF token
    assert answer.status_code == 403
    assert ">alice</a>" in answer.text and 'href="/signin"' not in answer.text
