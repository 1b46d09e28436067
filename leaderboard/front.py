"""The warm anonymous leaderboard, answered before routing.

Most of what an anonymous hit of a warm board still cost after ``leaderboard.fastpath`` was
FastAPI's: matching the request against the routes and solving the route's dependencies and
path parameters, for an answer that needs neither. ``LeaderboardFront`` sits just outside the
router (inside every edge middleware: Host check, security headers, HEAD, body limit) and, for
a GET of one of the leaderboard routes, asks that route's own fast answer
(``FAST_ANSWERS``: ``leaderboard.router`` and ``leaderboard.pages.router`` register theirs).
An answer is sent as it is; ``None`` (a reader with a token or a sign-in cookie, a board this
process does not hold, a recheck due, bytes not rendered yet) passes the request on to the
app unchanged, where the route itself answers it.

No rule is decided here: the paths are the routes' own (taken from the app's routes, so a
renamed route cannot leave a stale pattern behind), and only values this process holds in
memory can match a warm board, so a malformed id or slug is never answered here: it reaches
the route and its validation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

#: A route endpoint -> its fast answer: (request, path parameters as strings) -> a Response,
#: or None to let the route answer.
FastAnswer = Callable[[Request, dict[str, str]], "Response | None"]
FAST_ANSWERS: dict[Callable[..., Any], FastAnswer] = {}


def fast_answer(endpoint: Callable[..., Any]) -> Callable[[FastAnswer], FastAnswer]:
    """Register the decorated function as ``endpoint``'s answer before routing."""

    def register(answer: FastAnswer) -> FastAnswer:
        FAST_ANSWERS[endpoint] = answer
        return answer

    return register


def fast_routes(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], FastAnswer]]:
    """(path regex, answer) of every GET route of ``routes`` with a registered answer."""
    found = []
    for context in iter_route_contexts(routes):
        answer = FAST_ANSWERS.get(context.endpoint)  # type: ignore[arg-type]
        if answer is not None and context.path and "GET" in (context.methods or ()):
            found.append((compile_path(context.path)[0], answer))
    return found


class LeaderboardFront:
    """ASGI middleware: see the module doc. ``routes`` is called once, at the first request
    (the app's routes are complete by then)."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self._routes_of = routes
        self._table: list[tuple[re.Pattern[str], FastAnswer]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            response = self._answer(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope) -> Response | None:
        if self._table is None:
            self._table = fast_routes(self._routes_of())
        path = scope["path"]
        for regex, answer in self._table:
            match = regex.fullmatch(path)
            if match is not None:
                return answer(Request(scope), match.groupdict())
        return None
