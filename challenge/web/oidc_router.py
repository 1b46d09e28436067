"""The single sign-on pages: ``GET /signin/oidc`` (off to the provider) and ``GET
/signin/oidc/callback`` (back from it, signed in). Both are 404 while
``SEGARENA_OIDC_ISSUER`` is unset. Sync routes: the provider is called with httpx in the
thread pool. The protocol is in ``challenge.web.oidc``, the accounts in ``oidc_accounts``.

Also registers the template global ``oidc_button(request, next)`` that
``accounts/oidc_button.html`` (included by the sign-in page) calls.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from challenge.core.deps import SessionDep
from challenge.core.errors import DomainError, NotFound
from challenge.web import cookies, csrf, oidc, oidc_accounts, render, sessions
from challenge.web.next_path import safe_next
from challenge.web.render import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _provider(request: Request) -> oidc.Provider:
    settings = request.app.state.settings
    if not oidc.enabled(settings):
        raise NotFound("single sign-on is not set up on this site")
    return oidc.provider_for(request.app.state, settings)


def _redirect_uri(request: Request) -> str:
    """``<scheme>://<host>/signin/oidc/callback`` of this request (the Host header passed
    the trusted-hosts check; the scheme is the one a trusted proxy reported)."""
    return f"{request.url.scheme}://{request.url.netloc}{oidc.CALLBACK_PATH}"


def _secret(request: Request) -> str:
    return str(request.app.state.settings.secret_key.get_secret_value())


@router.get("/signin/oidc")
def begin(request: Request, next: str | None = None) -> Response:
    """303 to the provider's authorization endpoint (state, nonce, PKCE S256), with the
    attempt in a signed 10-minute cookie. ``next``: where to land afterwards (a path of
    this site; anything else means ``/account``)."""
    provider = _provider(request)
    flow = oidc.Flow.new(next)
    response = RedirectResponse(provider.authorization_url(flow, _redirect_uri(request)),
                                status_code=303)
    cookies.put(response, request, oidc.FLOW_COOKIE, oidc.seal(flow, _secret(request)),
                max_age=oidc.FLOW_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/signin/oidc/callback")
def callback(request: Request, db: SessionDep, state: str | None = None,
             code: str | None = None, error: str | None = None) -> Response:
    """Finish the sign-in: 303 to the attempt's ``next`` with a new session cookie and a new
    CSRF cookie. Every failure is an HTML error page (400, 403 or 502). The attempt's
    cookie is dropped whatever the outcome, so a callback works once."""
    provider = _provider(request)
    try:
        response = _finish(request, db, provider, state=state, code=code, error=error)
    except DomainError as exc:
        response = render.error_page(request, exc)
    cookies.drop(response, request, oidc.FLOW_COOKIE)
    response.headers["Cache-Control"] = "no-store"
    return response


def _finish(request: Request, db: SessionDep, provider: oidc.Provider, *, state: str | None,
            code: str | None, error: str | None) -> Response:
    flow = oidc.unseal(request.cookies.get(oidc.FLOW_COOKIE), _secret(request))
    if error is not None:  # signs nobody in, so it needs no state (some providers omit it)
        raise oidc.OidcError("the sign-in provider did not sign you in "
                             f"({oidc.error_word(error)})", code="oidc_refused")
    oidc.check_state(flow, state)
    if not code or len(code) > 4096:
        raise oidc.OidcError("the sign-in provider sent no code; start again",
                             code="oidc_no_code")
    token = provider.exchange(flow, code, _redirect_uri(request))
    claims = provider.identity(token, flow)
    user, _ = oidc_accounts.find_or_create(db=db, issuer=provider.issuer, claims=claims)
    settings = request.app.state.settings
    started = sessions.start(db=db, user=user, hours=settings.web_session_hours,
                             user_agent=request.headers.get("user-agent", ""),
                             address=request.client.host if request.client else "",
                             via="oidc")
    response = RedirectResponse(flow.next, status_code=303)
    cookies.put(response, request, sessions.COOKIE, started.cookie,
                max_age=settings.web_session_hours * 3600)
    cookies.put(response, request, csrf.COOKIE, csrf.new_cookie(), same_site="strict")
    return response


def oidc_button(request: Request, next: str | None = None) -> dict[str, Any] | None:
    """What the sign-in page's single sign-on link needs, or None when it is off:
    ``{"name": provider name, "href": "/signin/oidc?next=<quoted safe next>"}``."""
    settings = request.app.state.settings
    if not oidc.enabled(settings):
        return None
    target = safe_next(next if next is not None else request.query_params.get("next"))
    return {"name": settings.oidc_name, "href": f"/signin/oidc?next={quote(target, safe='')}"}


render.templates.env.globals["oidc_button"] = oidc_button
