"""Single sign-on end to end: a real OpenID provider (``oidc-provider-mock``, a Flask app on
a werkzeug server in a thread) and a real segarena server (uvicorn in a thread) on a freshly
migrated database of each backend, driven with httpx like a browser (redirects followed by
hand, cookies kept per browser).

The mock provider signs ID tokens with its own RSA key (served as its JWKS), puts the
request's nonce in them and accepts any client id and secret; a user is picked by posting
``sub`` to its authorization endpoint, with the claims set by ``PUT /users/<sub>``. It does
not check PKCE, so a code of one sign-in attempt can be handed to another one: that is how
the nonce check is exercised.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from challenge.accounts import service as accounts
from challenge.accounts.models import Role, User
from challenge.app import create_app
from challenge.audit.models import AuditEvent
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.core.db import make_engine, session_factory
from challenge.evaluations.dispatch import NoDispatcher
from challenge.web import csrf, oidc, sessions
from challenge.web.models import OidcIdentity, WebSession
from tests.cli.helpers import free_port, serve_in_thread
from tests.conftest import BACKENDS, drop_pg_database, fresh_database

CLIENT_ID = "segarena-test"


@dataclass
class Site:
    base: str  #: our server's URL
    issuer: str  #: the provider's URL (its issuer)
    sessions: sessionmaker[Session]

    def browser(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)

    def person(self, **claims: str) -> str:
        """A new subject at the provider with ``claims``; returns its ``sub``."""
        sub = f"sub-{secrets.token_hex(6)}"
        httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=30).raise_for_status()
        return sub


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


def settings_for(url: str, root: Path, issuer: str | None) -> Settings:
    return Settings(environment="test", database_url=url, storage_root=root / "storage",
                    worker_mode="off", oidc_issuer=issuer, oidc_client_id=CLIENT_ID,
                    oidc_client_secret="test-client-secret", oidc_name="Test ID")


@pytest.fixture(scope="module", params=BACKENDS)
def site(request: pytest.FixtureRequest, issuer: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("oidc")
    url = fresh_database(request.param, root)
    migrate.upgrade(url)
    engine = make_engine(url)
    app = create_app(settings_for(url, root, issuer), dispatcher=NoDispatcher())
    with serve_in_thread(app) as base:
        yield Site(base, issuer, session_factory(engine))
    engine.dispose()
    if request.param == "postgresql":
        drop_pg_database(url)


def begin(browser: httpx.Client, next_path: str | None = None) -> str:
    """Start a sign-in; returns the provider URL our server sent the browser to."""
    answer = browser.get("/signin/oidc", params={"next": next_path} if next_path else None)
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def authorize(authorization_url: str, sub: str, action: str | None = None) -> str:
    """The person ``sub`` approves (or, with ``action="deny"``, refuses) at the provider;
    returns the callback URL the provider sends the browser back to."""
    form = {"sub": sub} | ({"action": action} if action else {})
    answer = httpx.post(authorization_url, data=form, timeout=30)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def sign_in(site: Site, browser: httpx.Client, sub: str,
            next_path: str | None = None) -> httpx.Response:
    """The whole flow; returns our server's answer to the callback."""
    return browser.get(authorize(begin(browser, next_path), sub))


def user_of(site: Site, sub: str) -> User | None:
    with site.sessions() as db:
        return db.scalar(select(User).join(OidcIdentity, OidcIdentity.user_id == User.id)
                         .where(OidcIdentity.issuer == site.issuer, OidcIdentity.subject == sub))


def test_first_sign_in_creates_a_participant_with_the_identity_and_a_working_session(
        site: Site) -> None:
    name = f"Ada Lovelace {secrets.token_hex(2)}"
    sub = site.person(preferred_username=name, email="ada@example.org")
    with site.browser() as browser:
        answer = sign_in(site, browser, sub)
        assert answer.status_code == 303 and answer.headers["location"] == "/account"
        assert browser.cookies.get(sessions.COOKIE) and browser.cookies.get(csrf.COOKIE)
        assert browser.cookies.get(oidc.FLOW_COOKIE) is None  # the attempt is used up
        home = browser.get("/")
    user = user_of(site, sub)
    assert user is not None
    assert (user.username, user.email, user.role) == (name.replace(" ", "-"),
                                                      "ada@example.org", Role.participant)
    assert user.password_hash is None
    assert f'Signed in as <a href="/account">{user.username}</a>' in home.text
    with site.sessions() as db:
        starts = db.scalars(select(AuditEvent).where(AuditEvent.actor_id == user.id,
                                                     AuditEvent.action == "session.start"))
        assert [event.detail.get("via") for event in starts] == ["oidc"]


def test_a_second_sign_in_with_the_same_subject_reuses_the_account(site: Site) -> None:
    sub = site.person(preferred_username=f"bob{secrets.token_hex(3)}")
    for _ in range(2):
        with site.browser() as browser:
            assert sign_in(site, browser, sub).status_code == 303
    user = user_of(site, sub)
    assert user is not None
    with site.sessions() as db:
        assert db.scalar(select(func.count()).select_from(OidcIdentity)
                         .where(OidcIdentity.subject == sub)) == 1
        assert db.scalar(select(func.count()).select_from(WebSession)
                         .where(WebSession.user_id == user.id)) == 2


def test_an_identity_claiming_an_existing_accounts_name_and_email_gets_a_new_account(
        site: Site) -> None:
    name = f"grace{secrets.token_hex(3)}"
    with site.sessions() as db:
        grace, _, _ = accounts.create_user(db=db, actor=None, username=name,
                                           email="grace@example.org", role=Role.participant)
        grace.password_hash = "argon2-hash-of-graces-password"
        db.commit()
    # The same name in capitals is a look-alike of hers: refused for the new account too.
    sub = site.person(preferred_username=name.upper(), email="grace@example.org")
    with site.browser() as browser:
        assert sign_in(site, browser, sub).status_code == 303
        home = browser.get("/").text
    newcomer = user_of(site, sub)
    assert newcomer is not None and newcomer.id != grace.id
    assert newcomer.username == f"{name.upper()}2"
    assert f'Signed in as <a href="/account">{name.upper()}2</a>' in home
    with site.sessions() as db:
        assert db.scalar(select(func.count()).select_from(OidcIdentity)
                         .where(OidcIdentity.user_id == grace.id)) == 0
        assert db.scalar(select(func.count()).select_from(WebSession)
                         .where(WebSession.user_id == grace.id)) == 0


@pytest.mark.parametrize(("next_path", "landing"), [
    ("/challenges/brain?phase=final", "/challenges/brain?phase=final"),
    ("//evil.example/", "/account"),
    ("/\\evil.example", "/account"),
    ("https://evil.example/", "/account"),
])
def test_the_browser_lands_on_next_only_when_it_is_a_path_of_this_site(
        site: Site, next_path: str, landing: str) -> None:
    sub = site.person(preferred_username=f"nav{secrets.token_hex(3)}")
    with site.browser() as browser:
        assert sign_in(site, browser, sub, next_path).headers["location"] == landing


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


def test_a_tampered_state_or_flow_cookie_is_refused_and_signs_nobody_in(site: Site) -> None:
    sub = site.person(preferred_username=f"eve{secrets.token_hex(3)}")
    with site.browser() as browser:
        callback = authorize(begin(browser), sub)
        answer = browser.get(_with_query(callback, state="forged-state"))
        assert answer.status_code == 400
        assert "does not belong to this sign-in" in answer.text
        assert browser.cookies.get(sessions.COOKIE) is None
    with site.browser() as browser:
        callback = authorize(begin(browser), sub)
        sealed = browser.cookies[oidc.FLOW_COOKIE]
        browser.cookies.set(oidc.FLOW_COOKIE, sealed[:-1] + ("0" if sealed[-1] != "0" else "1"))
        answer = browser.get(callback)
        assert answer.status_code == 400 and "state is not valid" in answer.text
        assert browser.cookies.get(sessions.COOKIE) is None
    assert user_of(site, sub) is None


def test_a_replayed_callback_is_refused(site: Site) -> None:
    sub = site.person(preferred_username=f"replay{secrets.token_hex(3)}")
    with site.browser() as browser:
        callback = authorize(begin(browser), sub)
        sealed = browser.cookies[oidc.FLOW_COOKIE]
        assert browser.get(callback).status_code == 303
    with site.browser() as again:  # the same answer, without the (dropped) flow cookie
        answer = again.get(callback)
        assert answer.status_code == 400 and "start again" in answer.text
    with site.browser() as thief:  # and with a copy of it: the provider's code is spent
        thief.cookies.set(oidc.FLOW_COOKIE, sealed)
        answer = thief.get(callback)
        assert answer.status_code == 400 and "already used" in answer.text
        assert thief.cookies.get(sessions.COOKIE) is None


def test_an_id_token_of_another_sign_in_attempt_is_refused_by_its_nonce(site: Site) -> None:
    sub = site.person(preferred_username=f"mallory{secrets.token_hex(3)}")
    with site.browser() as victim, site.browser() as attacker:
        victims_state = parse_qs(urlsplit(begin(victim)).query)["state"][0]
        attackers_callback = authorize(begin(attacker), sub)
        answer = victim.get(_with_query(attackers_callback, state=victims_state))
        assert answer.status_code == 400
        assert "ID token is not valid for this site" in answer.text
        assert victim.cookies.get(sessions.COOKIE) is None
    assert user_of(site, sub) is None


def test_a_refusal_at_the_provider_is_a_400_page(site: Site) -> None:
    sub = site.person(preferred_username=f"shy{secrets.token_hex(3)}")
    with site.browser() as browser:
        answer = browser.get(authorize(begin(browser), sub, action="deny"))
        assert answer.status_code == 400
        assert "did not sign you in (access_denied)" in answer.text
        assert "<h1>Bad request</h1>" in answer.text


def test_a_deactivated_account_is_refused_and_the_refusal_audited(site: Site) -> None:
    sub = site.person(preferred_username=f"gone{secrets.token_hex(3)}")
    with site.browser() as browser:
        assert sign_in(site, browser, sub).status_code == 303
    user = user_of(site, sub)
    assert user is not None
    with site.sessions() as db:
        db.get(User, user.id).is_active = False  # type: ignore[union-attr]
        db.commit()
    with site.browser() as browser:
        answer = sign_in(site, browser, sub)
        assert answer.status_code == 403 and "deactivated" in answer.text
        assert browser.cookies.get(sessions.COOKIE) is None
    with site.sessions() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.actor_id == user.id, AuditEvent.action == "oidc.refused")) == 1


def test_an_unreachable_provider_is_a_502_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'segarena.db'}"
    app = create_app(settings_for(url, tmp_path, f"http://127.0.0.1:{free_port()}"),
                     dispatcher=NoDispatcher())
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/signin/oidc", follow_redirects=False)
    assert answer.status_code == 502
    assert "could not be reached" in answer.text and "text/html" in answer.headers["content-type"]


def test_without_an_issuer_the_sign_in_routes_are_404(client: TestClient) -> None:
    for path in ("/signin/oidc", "/signin/oidc/callback?code=x&state=y"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
        assert "single sign-on is not set up" in answer.text
