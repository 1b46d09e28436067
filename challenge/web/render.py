"""One Jinja2 environment for every page, public or signed-in: one layout (``base.html``),
one stylesheet, the same filters; and ``PageRoute``, which turns a service's refusal into an
HTML page (or a redirect to sign in) instead of the API's JSON.

Templates are looked up in ``challenge/web/templates`` (layout, accounts, teams, organizers)
and then ``leaderboard/pages/templates`` (the public challenge and leaderboard pages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from challenge.core.errors import DomainError, InvalidInput, validation_failure
from challenge.web import cookies, csrf, sessions

WEB = Path(__file__).parent
LEADERBOARD_TEMPLATES = WEB.parents[1] / "leaderboard" / "pages" / "templates"
TEMPLATE_DIRS = (WEB / "templates", LEADERBOARD_TEMPLATES)
templates = Jinja2Templates(directory=list(TEMPLATE_DIRS))
#: What the templates are: part of cached pages' ETags, so an upgrade never matches an old tag.
TEMPLATES_DIGEST = hashlib.sha256(b"".join(
    p.read_bytes() for d in TEMPLATE_DIRS for p in sorted(d.rglob("*.html")))).hexdigest()


def when(value: datetime | str | None) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM UTC``; ``–`` for none."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M UTC")


def num(value: float | None, precision: int) -> str:
    """A score with ``precision`` decimals; ``–`` for a missing value."""
    return "–" if value is None else f"{value:.{precision}f}"


templates.env.filters["when"] = when
templates.env.filters["num"] = num

#: The ``csrf_token`` of the page being rendered, for macros imported without context
#: (``{% from "uploads.html" import upload_form %}`` sees globals, not the page's context).
_page_csrf_token: ContextVar[Callable[[], str] | None] = ContextVar("page_csrf_token",
                                                                   default=None)


def _csrf_token_global() -> str:
    current = _page_csrf_token.get()
    if current is None:
        raise RuntimeError("csrf_token() is available only while render.page renders")
    return current()


templates.env.globals["csrf_token"] = _csrf_token_global


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """Render ``name`` with ``context`` plus ``viewer`` (the signed-in user the page
    dependencies found, ``challenge.web.deps``, or None) and ``csrf_token()``.

    A template that calls ``csrf_token()`` (every form does, through the ``csrf_field``
    macro of ``forms.html``) gets the token of the browser's CSRF cookie; a browser without
    one is given a new cookie with this response. Pages without a form set no cookie, so
    public pages stay cacheable."""
    fresh: list[str] = []

    def csrf_token() -> str:
        cookie = request.cookies.get(csrf.COOKIE) or (fresh[0] if fresh else None)
        if cookie is None:
            fresh.append(cookie := csrf.new_cookie())
        return csrf.token_for(cookie, request.app.state.settings.secret_key.get_secret_value())

    context = {"viewer": getattr(request.state, "viewer", None), "csrf_token": csrf_token,
               **context}
    reset = _page_csrf_token.set(csrf_token)
    try:  # TemplateResponse renders at once
        response = templates.TemplateResponse(request, name, context, status_code=status)
    finally:
        _page_csrf_token.reset(reset)
    if fresh:
        cookies.put(response, request, csrf.COOKIE, fresh[0], same_site="strict")
    if getattr(request.state, "viewer", None) is not None or fresh:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    """The HTML answer to a service's refusal: the same status and message as the API's."""
    titles = {400: "Bad request", 401: "Sign in needed", 403: "Not allowed", 404: "Not found",
              409: "Conflict", 413: "Too large", 422: "Invalid input", 429: "Too many requests"}
    return page(request, "error.html", {"title": titles.get(exc.status_code, "Error"),
                                        "message": exc.message, "code": exc.code},
                status=exc.status_code)


class SignInRequired(DomainError):
    """A page that needs a signed-in person was asked for by nobody: ``PageRoute`` answers
    with a redirect to the sign-in page, which comes back here afterwards."""

    status_code = 401
    code = "not_signed_in"


def sign_in_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def _invalid_request(exc: RequestValidationError) -> DomainError:
    """A malformed path or query value of a page (``/account/tokens/abc/revoke``) as a 422
    with the API's code and message (``errors.validation_failure``)."""
    code, message, _ = validation_failure(exc.errors())
    return InvalidInput(message, code=code)


async def _error_answer(request: Request, exc: DomainError) -> HTMLResponse:
    """``error_page``, naming the signed-in person in the layout even when the refusal came
    before the page's dependencies looked them up (a CSRF refusal, a malformed URL)."""
    if hasattr(request.state, "viewer") or sessions.COOKIE not in request.cookies:
        return error_page(request, exc)
    return await run_in_threadpool(_error_page_as_signed_in, request, exc)


def _error_page_as_signed_in(request: Request, exc: DomainError) -> HTMLResponse:
    with request.app.state.sessionmaker() as db:
        row = sessions.lookup(db=db, cookie=request.cookies.get(sessions.COOKIE))
        request.state.viewer = row.user if row is not None else None
        return error_page(request, exc)  # rendered while the user row is attached


class PageRoute(APIRoute):
    """A route of the web app: ``SignInRequired`` becomes a 303 to ``/signin``, any other
    ``DomainError`` (from a dependency or the endpoint) and a malformed path or query value
    the HTML ``error.html`` with its status. API routes keep the JSON error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                if isinstance(exc, SignInRequired) and request.method in ("GET", "HEAD"):
                    return sign_in_redirect(request)
                return await _error_answer(request, exc)
            except RequestValidationError as exc:
                return await _error_answer(request, _invalid_request(exc))

        return html_errors
