"""The pieces of single sign-on on their own: the ID token check (tokens signed here with
test keys, so every wrong field can be forged), the signed flow cookie, ``next``, the user
names made from claims, the sign-in link template and the settings."""

from __future__ import annotations

import base64
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet, OctKey, RSAKey
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.core.config import Settings
from challenge.web import oidc, oidc_accounts
from challenge.web.models import OidcIdentity
from challenge.web.next_path import safe_next
from challenge.web.render import templates

ISSUER = "https://id.example.org"
CLIENT = "segarena"
NONCE = "nonce-of-this-attempt"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
KEYS = KeySet.import_key_set({"keys": [KEY.as_dict(private=False)]})
SECRET = "s" * 40


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    good = {"iss": ISSUER, "aud": CLIENT, "sub": "person-1", "iat": now, "exp": now + 300,
            "nonce": NONCE}
    return {k: v for k, v in (good | changes).items() if v is not None}


def signed(payload: dict[str, Any], key: Any = KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, payload, key, algorithms=[alg])


def check(token: str) -> dict[str, Any]:
    return oidc.validate_id_token(token, keys=KEYS, issuer=ISSUER, client_id=CLIENT,
                                  nonce=NONCE, algorithms=["RS256"])


def test_a_token_signed_by_the_provider_for_us_with_our_nonce_is_accepted() -> None:
    assert check(signed(claims()))["sub"] == "person-1"
    assert check(signed(claims(aud=["other-app", CLIENT], azp=CLIENT)))["sub"] == "person-1"


@pytest.mark.parametrize("forged", [
    pytest.param({"aud": "another-client"}, id="wrong audience"),
    pytest.param({"aud": ["another-client"]}, id="wrong audience list"),
    pytest.param({"aud": None}, id="no audience"),
    pytest.param({"iss": "https://evil.example.org"}, id="wrong issuer"),
    pytest.param({"nonce": "nonce-of-another-attempt"}, id="wrong nonce"),
    pytest.param({"nonce": None}, id="no nonce"),
    pytest.param({"exp": int(time.time()) - 3600}, id="expired"),
    pytest.param({"exp": None}, id="no expiry"),
    pytest.param({"sub": None}, id="no subject"),
    pytest.param({"sub": ""}, id="empty subject"),
    pytest.param({"aud": [CLIENT, "other"], "azp": "other"}, id="authorized party not us"),
])
def test_a_token_with_a_forged_claim_is_refused(forged: dict[str, Any]) -> None:
    with pytest.raises(oidc.OidcError) as refused:
        check(signed(claims(**forged)))
    assert refused.value.status_code == 400 and refused.value.code == "oidc_bad_token"


def test_a_token_signed_by_another_key_or_with_no_or_a_shared_key_algorithm_is_refused() -> None:
    impostor = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims()).encode()).rstrip(b"=")
    for token in (signed(claims(), key=impostor),
                  f"{header.decode()}.{body.decode()}.",
                  signed(claims(), key=OctKey.import_key("k" * 32), alg="HS256"),
                  "not.a.token", ""):
        with pytest.raises(oidc.OidcError):
            check(token)


def test_a_token_of_an_unknown_key_id_asks_for_the_keys_again() -> None:
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    with pytest.raises(InvalidKeyIdError):
        check(signed(claims(), key=rotated, kid="k2"))


def test_the_flow_cookie_round_trips_and_refuses_alteration_and_age() -> None:
    flow = oidc.Flow.new("/challenges/x")
    assert oidc.unseal(oidc.seal(flow, SECRET), SECRET) == flow
    sealed = oidc.seal(flow, SECRET)
    payload, _, mac = sealed.partition(".")
    other = oidc.seal(oidc.Flow("s", "n", "v", "//evil", flow.expires), SECRET)
    for bad in (None, "", f"{payload}.{mac[:-1]}0", f"{other.partition('.')[0]}.{mac}",
                oidc.seal(flow, "another-secret" * 3), "x" * 5000):
        with pytest.raises(oidc.OidcError):
            oidc.unseal(bad, SECRET)
    with pytest.raises(oidc.OidcError, match="too long"):
        oidc.unseal(sealed, SECRET, now=flow.expires + 1)
    assert oidc.unseal(oidc.seal(oidc.Flow("s", "n", "v", "//evil", flow.expires), SECRET),
                       SECRET).next == "/account"


def test_the_state_must_be_the_flows_exactly() -> None:
    flow = oidc.Flow.new(None)
    oidc.check_state(flow, flow.state)
    for wrong in (None, "", flow.state + "x", flow.state[:-1], "é" * 10):
        with pytest.raises(oidc.OidcError):
            oidc.check_state(flow, wrong)


@pytest.mark.parametrize(("value", "expected"), [
    ("/challenges/brain", "/challenges/brain"),
    ("/a?b=c&d=%2F", "/a?b=c&d=%2F"),
    (None, "/account"), ("", "/account"), ("//evil.example", "/account"),
    ("/\\evil.example", "/account"), ("/\t/evil.example", "/account"),
    ("https://evil.example", "/account"), ("javascript:alert(1)", "/account"),
    ("/a\nb", "/account"), ("/" + "a" * 1000, "/account"),
])
def test_next_is_kept_only_when_it_is_a_path_of_this_site(value: str | None,
                                                          expected: str) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize(("claimed", "name"), [
    ({"preferred_username": "ada", "email": "x@y.org", "sub": "s"}, "ada"),
    ({"preferred_username": "José Ruiz", "sub": "s"}, "Jos-Ruiz"),
    ({"preferred_username": "é", "email": "grace.h@example.org", "sub": "s"}, "grace.h"),
    ({"email": "_x@example.org", "sub": "auth0|12345"}, "auth0-12345"),
    ({"preferred_username": "..--", "sub": "7"}, "user"),
    ({"preferred_username": "a" * 300, "sub": "s"}, "a" * 56),
    ({"preferred_username": 42, "sub": "s\x00\u202etx"}, "s-tx"),
])
def test_user_names_are_made_from_the_claims_by_the_sign_up_rule(claimed: dict[str, Any],
                                                                name: str) -> None:
    assert oidc_accounts.base_username(claimed) == name
    names = oidc_accounts.candidates(name)
    assert names[:3] == [name, f"{name}2", f"{name}3"] and len(names) == 51
    assert names[-1].startswith(f"{name}-") and len(names[-1]) <= 64


def _render_button(settings: Settings, **context: Any) -> str:
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(settings=settings)),
                              query_params={})
    return templates.get_template("accounts/oidc_button.html").render(request=request,
                                                                      **context)


def test_the_sign_in_link_shows_the_provider_name_only_when_single_sign_on_is_on() -> None:
    on = Settings(oidc_issuer=ISSUER, oidc_client_id=CLIENT, oidc_name="Uni <Login>")
    html = _render_button(on, next="/challenges/x")
    assert 'href="/signin/oidc?next=%2Fchallenges%2Fx"' in html
    assert "Sign in with Uni &lt;Login&gt;</a>" in html
    assert 'href="/signin/oidc?next=%2Faccount"' in _render_button(on, next="//evil")
    assert _render_button(Settings()).strip() == ""


def test_the_settings_refuse_an_incomplete_or_odd_single_sign_on_configuration() -> None:
    assert Settings(oidc_issuer="").oidc_issuer is None
    for bad in ({"oidc_issuer": ISSUER},
                {"oidc_issuer": "ftp://id.example.org", "oidc_client_id": CLIENT},
                {"oidc_issuer": ISSUER + "?x=1", "oidc_client_id": CLIENT},
                {"oidc_issuer": ISSUER, "oidc_client_id": CLIENT, "oidc_scopes": "profile"},
                {"oidc_name": "Uni\x00"}, {"oidc_name": ""}):
        with pytest.raises(ValidationError):
            Settings(**bad)


def test_a_first_sign_in_that_loses_a_race_for_the_identity_leaves_no_usable_twin(
        db: Session) -> None:
    """Two first sign-ins of one person at once: both found no identity, one linked first.
    The loser's account (made by then) is deactivated and the winner's account is used."""
    winner = oidc_accounts.find_or_create(db=db, issuer=ISSUER,
                                          claims={"sub": "p-1", "preferred_username": "twin"})
    assert winner[1] is True and winner[0].username == "twin"
    assert oidc_accounts._create(db, ISSUER, "p-1", {"sub": "p-1",
                                                     "preferred_username": "twin"}) is None
    loser = db.scalar(select(User).where(User.username == "twin2"))
    assert loser is not None and loser.is_active is False
    assert oidc_accounts.find_or_create(db=db, issuer=ISSUER, claims={"sub": "p-1"}) == (
        winner[0], False)
    assert db.scalar(select(func.count()).select_from(OidcIdentity)) == 1
