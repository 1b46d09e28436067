"""CSRF protection of the web app: a signed double-submit token.

Every browser that is shown a form gets a random ``segarena_csrf`` cookie (HttpOnly,
SameSite=Strict). The token a form or an htmx request sends back is the HMAC of that cookie
under the server's secret key, so a page of another site can neither read nor compute it.
Signing in replaces the cookie, so a token seen before sign-in is worthless after it.

``protect`` is the one check: every state-changing route of the web app depends on it, or on
``protect_unless_bearer`` for routes that also take an API token (``tests/web/test_csrf.py``
fails for a route that does neither).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from challenge.core.errors import Forbidden

COOKIE = "segarena_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"


def new_cookie() -> str:
    return secrets.token_urlsafe(32)


def token_for(cookie: str, secret_key: str) -> str:
    """The token forms carry for the browser holding ``cookie``."""
    return hmac.new(secret_key.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


def valid(cookie: str | None, sent: str | None, secret_key: str) -> bool:
    if not cookie or not sent or len(sent) > 128:
        return False
    return hmac.compare_digest(token_for(cookie, secret_key), sent)


async def protect(request: Request) -> None:
    """Refuse (403 ``csrf_failed``) a state-changing request whose token, from the
    ``X-CSRF-Token`` header or the ``csrf_token`` form field, does not match the browser's
    CSRF cookie. Safe methods pass."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else None
    secret = request.app.state.settings.secret_key.get_secret_value()
    if not valid(request.cookies.get(COOKIE), sent, secret):
        raise Forbidden("the form has expired or did not come from this site; reload the "
                        "page and try again", code="csrf_failed")


async def protect_unless_bearer(request: Request) -> None:
    """``protect``, except for a request that authenticates with an API token (the CLI's and
    scripts' uploads): a page of another site can make a browser send its cookies, never an
    ``Authorization`` header. A token that is not valid is refused by the user dependency."""
    if not request.headers.get("authorization"):
        await protect(request)
