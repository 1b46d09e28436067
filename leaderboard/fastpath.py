"""The leaderboard views' two paths: the anonymous hot path on the event loop, everything else
in the thread pool.

The routes (``leaderboard.router``, ``leaderboard.pages.router``) are ``async`` and take no
database session. Before routing, ``leaderboard.front`` asks each route's fast answer, built
on :func:`from_memory`: a request with no ``Authorization``
header and no sign-in cookie (``challenge.web.deps.has_session_cookie``), for a phase whose
state, payload and rendered bytes this process holds (``service.warm_anonymous``,
``LeaderboardCache.peek_rendered``), is answered right there by ``http_cache.respond`` (304
or the kept bytes): no thread, no query, visibility decided at this request's own instant.

Anything else (a miss, a state due for its recheck, a bearer token, a session cookie, a
refusal, bytes not rendered yet) reaches the route, which goes to :func:`in_thread`: today's
synchronous code in the thread pool, on a session of its own (opened there, closed in a
``finally``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge.core.config import Settings
from challenge.web.deps import has_session_cookie
from leaderboard import http_cache
from leaderboard.cache import LeaderboardCache
from leaderboard.service import Leaderboard

T = TypeVar("T")


def anonymous(request: Request) -> bool:
    """No ``Authorization`` header and no sign-in cookie (valid or not): the only readers
    the hot path serves."""
    return "authorization" not in request.headers and not has_session_cookie(request)


def cache_of(request: Request) -> LeaderboardCache:
    return request.app.state.leaderboard_cache  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def from_memory(request: Request, board: Leaderboard, view: str, bytes_key: tuple[Any, ...],
                make: Callable[[bytes], Response], *extra: str) -> Response | None:
    """``http_cache.respond`` for ``board`` from kept bytes: a 304 when ``If-None-Match``
    names the tag, else ``make(bytes kept under bytes_key)``. None when the bytes are not
    kept (and no 304 is due): the caller takes the thread pool, which renders them.

    ``view`` and ``extra`` are ``respond``'s (they make the ETag); ``bytes_key`` must name
    the bytes rendered for the same reader class as ``board``.
    """
    body = cache_of(request).peek_rendered(bytes_key)
    if body is None and not http_cache.matches(
            request.headers.get("if-none-match"), http_cache.etag(board, view, *extra)):
        return None

    def render(_: str) -> Response:
        assert body is not None, "respond renders only when no 304 is due"
        return make(body)

    return http_cache.respond(request, board, view, settings_of(request), render, *extra)


async def in_thread(request: Request, work: Callable[[Session], T]) -> T:
    """``work(db)`` in the thread pool on a new session of the app's, closed afterwards."""

    def run() -> T:
        db: Session = request.app.state.sessionmaker()
        try:
            return work(db)
        finally:
            db.close()

    return await run_in_threadpool(run)
