"""Single sign-on with an OpenID Connect provider (authorization code flow, PKCE S256).

On while ``SEGARENA_OIDC_ISSUER`` is set (``Settings.oidc_*``). The flow:

Authlib builds the authorization URL and the PKCE challenge and checks the ID token's
claims (``CodeIDToken``); joserfc checks its signature; the two HTTP calls are plain httpx
with a timeout.

1. ``begin``: a random state, nonce and PKCE verifier (with the page to return to) go into
   a signed, HttpOnly, 10-minute cookie (:data:`FLOW_COOKIE`); the browser is sent to the
   provider's authorization endpoint.
2. ``finish``: the provider sends the browser back with ``code`` and ``state``. The state
   must equal the signed cookie's; the code is exchanged (client secret, PKCE verifier) at
   the token endpoint; the ID token's signature is checked against the provider's JWKS and
   its ``iss``, ``aud``, ``exp``, ``iat`` and ``nonce`` against what we expect.
3. The person is found by ``OidcIdentity(issuer, subject)`` only. A first sign-in creates a
   participant (``accounts.service.create_user``) named after the token's claims; an
   existing account is never linked by matching e-mail or user name (that would hand any
   account to whoever controls an identity with that e-mail at the provider).

Everything that goes wrong is an :class:`OidcError` (400, a page that says to start again)
or a :class:`ProviderUnavailable` (502: the provider is down or answered nonsense).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from challenge.core.config import Settings
from challenge.core.errors import DomainError
from challenge.web.next_path import safe_next

#: The cookie holding one sign-in attempt's state, nonce, verifier and return page.
FLOW_COOKIE = "segarena_oidc"
#: How long a sign-in at the provider may take, in seconds.
FLOW_SECONDS = 600
#: Timeout of every HTTP call to the provider, in seconds.
HTTP_TIMEOUT = 10.0
#: How long discovery metadata and the JWKS are trusted before being read again, in seconds.
METADATA_SECONDS = 3600.0
#: Clock skew allowed on ``exp``/``iat``/``nbf``, in seconds.
LEEWAY = 60
CALLBACK_PATH = "/signin/oidc/callback"


class OidcError(DomainError):
    """The sign-in cannot go on (bad or expired state, refused code, invalid ID token)."""

    status_code = 400
    code = "oidc_failed"


class ProviderUnavailable(DomainError):
    """The provider could not be reached or answered something unusable."""

    status_code = 502
    code = "oidc_provider_unavailable"


def enabled(settings: Settings) -> bool:
    return settings.oidc_issuer is not None


# --- the signed flow cookie -------------------------------------------------------------

@dataclass(frozen=True)
class Flow:
    """One sign-in attempt: what the callback must see again. ``expires`` in Unix seconds."""

    state: str
    nonce: str
    verifier: str
    next: str
    expires: int

    @classmethod
    def new(cls, next_path: str | None) -> Flow:
        return cls(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                   verifier=secrets.token_urlsafe(64), next=safe_next(next_path),
                   expires=int(time.time()) + FLOW_SECONDS)


def _mac(payload: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"oidc-flow:" + payload.encode(),
                    hashlib.sha256).hexdigest()


def seal(flow: Flow, secret_key: str) -> str:
    """The cookie value: base64url(JSON) + "." + hex HMAC-SHA256 under the secret key."""
    body = json.dumps([flow.state, flow.nonce, flow.verifier, flow.next, flow.expires],
                      separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(payload, secret_key)}"


def unseal(cookie: str | None, secret_key: str, now: float | None = None) -> Flow:
    """The flow a cookie holds; OidcError when it is missing, altered, malformed or expired."""
    if not cookie or len(cookie) > 4000:
        raise OidcError("this sign-in was not started here or has already been used; "
                        "start again", code="oidc_no_flow")
    payload, _, mac = cookie.partition(".")
    if not hmac.compare_digest(_mac(payload, secret_key), mac):
        raise OidcError("this sign-in's state is not valid; start again", code="oidc_bad_state")
    try:
        state, nonce, verifier, next_path, expires = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        flow = Flow(str(state), str(nonce), str(verifier), safe_next(next_path), int(expires))
    except (ValueError, TypeError) as exc:
        raise OidcError("this sign-in's state is not valid; start again",
                        code="oidc_bad_state") from exc
    if flow.expires < (time.time() if now is None else now):
        raise OidcError("this sign-in took too long (10 minutes); start again",
                        code="oidc_expired")
    return flow


def check_state(flow: Flow, state: str | None) -> None:
    if not state or not hmac.compare_digest(flow.state.encode(), state.encode()[:200]):
        raise OidcError("the provider's answer does not belong to this sign-in; start again",
                        code="oidc_bad_state")


# --- the provider -----------------------------------------------------------------------

class Provider:
    """The configured provider: its discovery metadata and JWKS (cached for
    :data:`METADATA_SECONDS`), the authorization URL, the code exchange. One per app
    (``app.state.oidc_provider``); thread-safe enough: a concurrent refresh reads twice."""

    def __init__(self, settings: Settings) -> None:
        assert settings.oidc_issuer is not None
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.oidc_client_secret.get_secret_value()
        self.scopes = settings.oidc_scopes
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._jwks: KeySet | None = None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            answer = httpx.get(url, timeout=HTTP_TIMEOUT, follow_redirects=False)
            answer.raise_for_status()
            data = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the sign-in provider could not be reached "
                                      f"({type(exc).__name__}); try again later") from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable("the sign-in provider answered something unusable")
        return data

    def metadata(self) -> dict[str, Any]:
        """The discovery document; its ``issuer`` must be the configured one, exactly."""
        if self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_SECONDS:
            return self._metadata[1]
        data = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if data.get("issuer") != self.issuer or not all(
                isinstance(data.get(key), str) for key in needed):
            raise ProviderUnavailable("the sign-in provider's configuration does not match "
                                      "SEGARENA_OIDC_ISSUER")
        self._metadata = (time.monotonic(), data)
        return data

    def keys(self, *, refresh: bool = False) -> KeySet:
        if self._jwks is None or refresh:
            try:
                jwks: Any = self._get_json(self.metadata()["jwks_uri"])
                self._jwks = KeySet.import_key_set(jwks)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise ProviderUnavailable("the sign-in provider's keys are unusable") from exc
        return self._jwks

    def authorization_url(self, flow: Flow, redirect_uri: str) -> str:
        """The provider's authorization endpoint with response_type=code, our client id,
        redirect URI, scopes, state, nonce and the S256 challenge of the flow's verifier."""
        return str(prepare_grant_uri(
            self.metadata()["authorization_endpoint"], self.client_id, "code",
            redirect_uri=redirect_uri, scope=self.scopes, state=flow.state, nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.verifier),
            code_challenge_method="S256"))

    def exchange(self, flow: Flow, code: str, redirect_uri: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (client_secret_basic, PKCE verifier).
        A refused code (used, expired, not ours: ``invalid_grant``) is an OidcError; any
        other refusal, an unreachable provider or a malformed answer a ProviderUnavailable."""
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": flow.verifier}
        try:
            answer = httpx.post(self.metadata()["token_endpoint"], data=form,
                                auth=(self.client_id, self.client_secret),
                                headers={"Accept": "application/json"},
                                timeout=HTTP_TIMEOUT, follow_redirects=False)
            token = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"the sign-in provider could not be reached "
                                      f"({type(exc).__name__}); try again later") from exc
        if not isinstance(token, dict):
            raise ProviderUnavailable("the sign-in provider answered something unusable")
        if answer.status_code != 200 or "error" in token:
            if token.get("error") == "invalid_grant":
                raise OidcError("this sign-in was already used or has expired; start again",
                                code="oidc_code_refused")
            raise ProviderUnavailable("the sign-in provider refused this site "
                                      f"({error_word(token.get('error'))})")
        return token

    def identity(self, token: dict[str, Any], flow: Flow) -> dict[str, Any]:
        """The validated claims of the token answer's ID token (signature by the JWKS,
        read again once for an unknown key id)."""
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("the sign-in provider sent no ID token", code="oidc_bad_token")
        algorithms = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        try:
            return validate_id_token(id_token, keys=self.keys(), issuer=self.issuer,
                                     client_id=self.client_id, nonce=flow.nonce,
                                     access_token=token.get("access_token"),
                                     algorithms=algorithms)
        except InvalidKeyIdError:
            return validate_id_token(id_token, keys=self.keys(refresh=True), issuer=self.issuer,
                                     client_id=self.client_id, nonce=flow.nonce,
                                     access_token=token.get("access_token"),
                                     algorithms=algorithms)


def error_word(value: object) -> str:
    """A provider's error code, shown only when it is a plain word (it is not our text)."""
    return value if isinstance(value, str) and re.fullmatch(r"[a-z_]{1,64}", value) else "error"


def validate_id_token(id_token: str, *, keys: KeySet, issuer: str, client_id: str, nonce: str,
                      access_token: str | None = None, algorithms: list[str] | None = None,
                      now: int | None = None) -> dict[str, Any]:
    """The claims of ``id_token`` once its signature (one of ``algorithms``, never ``none``
    or HMAC: the keys are the provider's public ones), ``iss`` (== issuer), ``aud`` (holds
    client_id), ``azp``, ``exp``/``iat``/``nbf`` (``now`` Unix seconds, :data:`LEEWAY`),
    ``nonce`` (== ours), ``at_hash`` and a non-empty ``sub`` are checked. OidcError
    otherwise (InvalidKeyIdError passes through, so the caller can read the keys again)."""
    allowed = [a for a in (algorithms or ["RS256"]) if a != "none" and not a.startswith("HS")]
    try:
        decoded = jwt.decode(id_token, key=keys,
                             registry=JWSRegistry(algorithms=allowed, strict_check_header=False))
        claims = CodeIDToken(decoded.claims, decoded.header, {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True},
        }, {"nonce": nonce, "client_id": client_id, "access_token": access_token})
        claims.validate(now=now, leeway=LEEWAY)
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcError(f"the sign-in provider's ID token is not valid for this site "
                        f"({type(exc).__name__}); start again", code="oidc_bad_token") from exc
    if not isinstance(claims.get("sub"), str) or not 1 <= len(claims["sub"]) <= 255:
        raise OidcError("the ID token names no usable subject", code="oidc_bad_token")
    return dict(claims)


def provider_for(app_state: Any, settings: Settings) -> Provider:
    """The app's Provider, made on first use."""
    provider = getattr(app_state, "oidc_provider", None)
    if provider is None:
        provider = app_state.oidc_provider = Provider(settings)
    return provider
