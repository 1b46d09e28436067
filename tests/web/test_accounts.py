"""Accounts in the browser: sign up, sign in and out, the account page (sessions, tokens),
the sign-in rate limits and what a failed sign-in may (not) tell."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.accounts import service
from challenge.accounts.models import ApiToken, Role, User
from challenge.core.ratelimit import FailureLimiter
from challenge.web import csrf, sessions
from challenge.web.models import WebSession
from tests import factories
from tests.web.helpers import csrf_token, sign_in

PASSWORD = "correct horse battery"


class Clock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _user(db: Session, name: str, password: str | None = PASSWORD) -> User:
    user = factories.account(db, name).user
    if password is not None:
        service.set_password(db=db, user=user, password=password)
    return user


def _form_token(client: TestClient, path: str) -> str:
    """The CSRF token of the form on ``path``, as a browser would post it back."""
    page = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _post_signin(client: TestClient, username: str, password: str = PASSWORD,
                 next_path: str = "") -> Any:
    return client.post("/signin", follow_redirects=False, data={
        "username": username, "password": password, "next": next_path,
        "csrf_token": _form_token(client, "/signin")})


def _signup(client: TestClient, **fields: str) -> Any:
    data = {"username": "newbie", "email": "", "password": PASSWORD,
            "password_confirm": PASSWORD, "csrf_token": _form_token(client, "/signup")} | fields
    return client.post("/signup", data=data, follow_redirects=False)


def test_sign_up_creates_a_participant_with_a_password_and_signs_it_in(
        db: Session, client: TestClient) -> None:
    form = client.get("/signup").text
    for label in ("User name", "E-mail (optional)", "Password", "Repeat the password"):
        assert f">{label}</label>" in form
    response = _signup(client, email="newbie@example.org")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    user = db.scalar(select(User).where(User.username == "newbie"))
    assert user.role == Role.participant and user.email == "newbie@example.org"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    # no API token nobody was shown: tokens are made on the account page, when wanted
    assert db.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).all() == []
    page = client.get("/account")
    assert page.status_code == 200 and "Signed in as <a href=\"/account\">newbie</a>" in page.text


def test_sign_up_of_a_taken_or_look_alike_name_says_it_is_taken(
        db: Session, client: TestClient) -> None:
    _user(db, "alice")
    for name in ("alice", "A1ice"):
        response = _signup(client, username=name)
        assert response.status_code == 409
        assert "taken" in response.text or "looks like" in response.text
        assert f'value="{name}"' in response.text
    assert db.scalar(select(func.count()).select_from(User)) == 1


def test_sign_in_with_the_right_password_starts_a_session_and_a_wrong_one_does_not(
        db: Session, client: TestClient) -> None:
    alice = _user(db, "alice")
    wrong = _post_signin(client, "alice", "not the password")
    assert wrong.status_code == 401 and "User name or password is wrong" in wrong.text
    assert sessions.COOKIE not in client.cookies
    right = _post_signin(client, "Alice")  # names match up to case, as they are unique so
    assert right.status_code == 303 and right.headers["location"] == "/account"
    rows = db.scalars(select(WebSession).where(WebSession.user_id == alice.id)).all()
    assert len(rows) == 1 and client.get("/account").status_code == 200


def test_signing_in_replaces_the_csrf_cookie(db: Session, client: TestClient) -> None:
    _user(db, "alice")
    before_token = _form_token(client, "/signin")
    before = client.cookies.get(csrf.COOKIE)
    assert _post_signin(client, "alice").status_code == 303
    assert client.cookies.get(csrf.COOKIE) not in (None, before)
    assert _form_token(client, "/account") != before_token
    stale = client.post("/account/tokens", data={"name": "x", "csrf_token": before_token})
    assert stale.status_code == 403


def _hide_name(html: str, name: str) -> str:
    return html.replace(f'value="{name}"', 'value="NAME"')


def test_every_failed_sign_in_looks_the_same_and_costs_one_argon2_verify(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _user(db, "known")
    inactive = _user(db, "gone")
    inactive.is_active = False
    db.commit()
    _user(db, "nopass", password=None)
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    answers = []
    for name, password in (("nobody", PASSWORD), ("known", "wrong password!"),
                           ("gone", PASSWORD), ("nopass", PASSWORD)):
        calls.clear()
        response = _post_signin(client, name, password)
        assert len(calls) == 1, name
        answers.append((response.status_code, _hide_name(response.text, name)))
    assert answers[0][0] == 401 and "User name or password is wrong" in answers[0][1]
    assert all(answer == answers[0] for answer in answers)


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    """Sign-in limits of 3 failures per account in 900 s and 5 per address in 60 s."""
    fake = Clock()
    app.state.signin_account_limiter = FailureLimiter(3, 900, clock=fake)
    app.state.signin_address_limiter = FailureLimiter(5, 60, clock=fake)
    yield fake


def test_failed_sign_ins_are_limited_per_account_across_addresses_then_recover(
        db: Session, app: FastAPI, clock: Clock) -> None:
    _user(db, "alice")
    browsers = [TestClient(app, client=(f"10.0.0.{i}", 5000)) for i in range(4)]
    for browser in browsers[:3]:
        assert _post_signin(browser, "alice", "guess number one").status_code == 401
    for name, password in (("alice", PASSWORD), ("ALICE", "guess number two")):
        refused = _post_signin(browsers[3], name, password)
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert _post_signin(browsers[3], "bob-unknown", "guess number two").status_code == 401
    clock.now += 901
    assert _post_signin(browsers[3], "alice").status_code == 303


def test_failed_sign_ins_are_limited_per_address_then_recover(
        db: Session, app: FastAPI, clock: Clock) -> None:
    _user(db, "alice")
    attacker = TestClient(app, client=("192.0.2.7", 5000))
    for i in range(5):
        assert _post_signin(attacker, f"user{i}", "a guessed password").status_code == 401
    unknown = _post_signin(attacker, "user9", "a guessed password")
    known = _post_signin(attacker, "alice", "a guessed password")
    right = _post_signin(attacker, "alice")
    assert unknown.status_code == known.status_code == right.status_code == 429
    assert _hide_name(unknown.text, "user9") == _hide_name(known.text, "alice")
    bystander = TestClient(app, client=("192.0.2.8", 5000))
    assert _post_signin(bystander, "alice").status_code == 303
    clock.now += 61
    assert _post_signin(attacker, "alice").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example",
                                    "/\t/evil.example", "evil.example", "/" + "a" * 3000])
def test_sign_in_never_redirects_off_site(db: Session, client: TestClient, target: str) -> None:
    _user(db, "alice")
    response = _post_signin(client, "alice", next_path=target)
    assert response.status_code == 303 and response.headers["location"] == "/account"


def test_sign_in_returns_to_a_page_of_this_site(db: Session, client: TestClient) -> None:
    _user(db, "alice")
    form = client.get("/signin?next=%2Fchallenges%2Fx%2Fteam").text
    assert 'name="next" value="/challenges/x/team"' in form
    response = _post_signin(client, "alice", next_path="/challenges/x/team")
    assert response.headers["location"] == "/challenges/x/team"


def test_a_page_that_needs_sign_in_sends_nobody_to_the_sign_in_form(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=%2Faccount"


def test_revoking_a_session_on_the_account_page_kills_that_cookie(
        db: Session, app: FastAPI, client: TestClient) -> None:
    alice = _user(db, "alice")
    sign_in(client, db, alice)
    other = TestClient(app)
    theirs = sign_in(other, db, alice)
    page = client.get("/account").text
    assert "This browser" in page and f"/account/sessions/{theirs.session.id}/revoke" in page
    response = client.post(f"/account/sessions/{theirs.session.id}/revoke",
                           data={"csrf_token": csrf_token(client)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert other.get("/account", follow_redirects=False).status_code == 303
    assert client.get("/account").status_code == 200


def test_sign_out_ends_the_session_and_drops_the_cookie(db: Session, client: TestClient) -> None:
    alice = _user(db, "alice")
    started = sign_in(client, db, alice)
    assert 'action="/signout"' in client.get("/account").text
    response = client.post("/signout", data={"csrf_token": csrf_token(client)},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert f"{sessions.COOKIE}=\"\"" in response.headers["set-cookie"] or \
        "Max-Age=0" in response.headers["set-cookie"]
    assert sessions.lookup(db=db, cookie=started.cookie) is None
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_a_new_token_is_shown_once_then_listed_without_its_secret(
        db: Session, client: TestClient) -> None:
    alice = _user(db, "alice")
    sign_in(client, db, alice)
    created = client.post("/account/tokens", data={"name": "laptop",
                                                   "csrf_token": csrf_token(client)})
    assert created.status_code == 200 and created.headers["cache-control"] == "private, no-store"
    plaintext = re.search(r'<code id="new-token">(sgr_[^<]+)</code>', created.text).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plaintext}"}).json()[
        "username"] == "alice"
    page = client.get("/account").text
    row = db.scalar(select(ApiToken).where(ApiToken.name == "laptop"))
    assert "laptop" in page and row.public_id in page and plaintext not in page
    revoked = client.post(f"/account/tokens/{row.id}/revoke",
                          data={"csrf_token": csrf_token(client)}, follow_redirects=False)
    assert revoked.status_code == 303
    db.refresh(row)
    assert row.revoked_at is not None


def test_nobody_revokes_another_persons_token_from_the_account_page(
        db: Session, client: TestClient) -> None:
    alice, bob = _user(db, "alice"), factories.account(db, "bob")
    sign_in(client, db, alice)
    bobs = db.scalar(select(ApiToken).where(ApiToken.user_id == bob.user.id))
    response = client.post(f"/account/tokens/{bobs.id}/revoke",
                           data={"csrf_token": csrf_token(client)})
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]
    db.refresh(bobs)
    assert bobs.revoked_at is None


@pytest.mark.parametrize(("username", "shown"), [
    ("ali\x00ce", 'value="alice"'), ("x" * 10000, 'value="' + "x" * 256 + '"'),
    ("", 'value=""'), ("bad name!", 'value="bad name!"')])
def test_bad_sign_up_input_is_a_422_form_with_inline_errors_keeping_the_name(
        db: Session, client: TestClient, username: str, shown: str) -> None:
    response = _signup(client, username=username, email="not an address",
                       password_confirm="something else")
    assert response.status_code == 422 and shown in response.text
    assert response.text.count('class="error"') == 3  # user name, e-mail, repeat
    assert 'aria-invalid="true"' in response.text
    assert db.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("password", ["short", "x\x00" * 10, "y" * 257])
def test_a_password_outside_the_rules_is_refused_at_sign_up(
        db: Session, client: TestClient, password: str) -> None:
    response = _signup(client, password=password, password_confirm=password)
    assert response.status_code == 422 and 'id="f-password-error"' in response.text
    assert db.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.parametrize("username", ["ali\x00ce", "x" * 10000, ""])
def test_bad_sign_in_input_is_a_422_form_with_inline_errors(
        db: Session, client: TestClient, username: str) -> None:
    response = _post_signin(client, username)
    assert response.status_code == 422 and 'id="f-username-error"' in response.text
    assert sessions.COOKIE not in client.cookies


@pytest.mark.parametrize("base_url", ["http://testserver", "https://testserver"])
def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
        db: Session, app: FastAPI, base_url: str) -> None:
    _user(db, "alice")
    browser = TestClient(app, base_url=base_url)
    response = _post_signin(browser, "alice")
    assert response.status_code == 303
    cookie = next(c for c in response.headers.get_list("set-cookie")
                  if c.startswith(sessions.COOKIE + "="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert ("secure" in flags) == base_url.startswith("https")
    assert f"max-age={168 * 3600}" in flags


def test_a_password_set_through_the_api_signs_an_organizer_in(
        db: Session, client: TestClient) -> None:
    admin = factories.admin_account(db)
    organizer = factories.account(db, "org", Role.organizer, admin=admin.user)
    assert _post_signin(client, "org").status_code == 401  # no password yet
    headers = {"Authorization": f"Bearer {organizer.token}"}
    assert client.put("/api/v1/me/password", json={"password": "short"},
                      headers=headers).status_code == 422
    answer = client.put("/api/v1/me/password", json={"password": PASSWORD}, headers=headers)
    assert answer.status_code == 200 and answer.json()["username"] == "org"
    assert _post_signin(client, "org").status_code == 303
