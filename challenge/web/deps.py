"""Who is looking at a page: the signed-in person behind the session cookie, or the holder
of an API token (the CLI and scripts read pages too), or nobody.

``page_user`` is the one function every page asks; it also records the viewer on
``request.state`` for the layout. ``signed_in_user`` is for pages that need someone:
nobody gets a redirect to the sign-in page (``render.PageRoute``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge.accounts.models import User
from challenge.core.deps import OptionalUser, SessionDep, token_user
from challenge.web import csrf, sessions
from challenge.web.models import WebSession
from challenge.web.render import SignInRequired


def has_session_cookie(request: Request) -> bool:
    """Whether the request carries a sign-in cookie (valid or not): such a request is never
    anonymous to a cache, whatever the cookie turns out to be worth."""
    return sessions.COOKIE in request.cookies


async def page_user(request: Request, db: SessionDep, bearer: OptionalUser) -> User | None:
    """The user behind the request's bearer token, else behind its session cookie, else
    None. A cookie-less anonymous request costs no thread and no query."""
    if bearer is None and has_session_cookie(request):
        return await run_in_threadpool(_with_cookie, request, db, None)
    return _with_cookie(request, db, bearer)


def page_user_in_thread(request: Request, db: Session) -> User | None:
    """:func:`page_user` for code already in a thread (the leaderboard page's own path)."""
    return _with_cookie(request, db, token_user(request, db))


def _with_cookie(request: Request, db: Session, bearer: User | None) -> User | None:
    """``bearer``, else the session cookie's user (a query, only with such a cookie), else
    None; recorded on ``request.state`` for the layout."""
    user, row = bearer, None
    if user is None and has_session_cookie(request):
        row = sessions.lookup(db=db, cookie=request.cookies.get(sessions.COOKIE))
        user = row.user if row is not None else None
    request.state.viewer = user
    request.state.web_session = row
    return user


PageUser = Annotated[User | None, Depends(page_user)]


async def signed_in_user(user: PageUser) -> User:
    if user is None:
        raise SignInRequired("sign in to see this page")
    return user


def current_web_session(request: Request) -> WebSession | None:
    """The session row ``page_user`` found for this request (None for a token or nobody)."""
    return getattr(request.state, "web_session", None)


SignedInUser = Annotated[User, Depends(signed_in_user)]
CsrfChecked = Depends(csrf.protect)
