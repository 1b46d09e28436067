"""HTTP caching of the leaderboard views (JSON, ``leaderboard.csv``, ``cases.csv``, the page).

:func:`respond` is the one place that decides a view's caching headers; every leaderboard
route calls it.

- **ETag** (strong): SHA-256 of the view's name, the snapshot key (phase id, config version,
  results fingerprint), the audience (``challenge.visibility``'s decision: who looks, until when
  scores are hidden, whether per-case values are shown), the application version and whatever
  else the caller says changes the bytes (the page: its rows digest, the phase status and the
  templates). Two readers who may see different things never share a tag.
- **If-None-Match** (RFC 9110 section 13.1.2): ``*`` or any listed tag equal to ours under the
  weak comparison (``W/"x"`` matches ``"x"``) answers 304 with the same caching headers,
  before anything is rendered. An unparseable header matches nothing.
- **Cache-Control**: a board an anonymous reader may see in full (no ``Authorization``, no
  sign-in cookie of the web app, the public audience, scores not hidden) is
  ``public, max-age=N, stale-while-revalidate=M`` (``SEGARENA_LEADERBOARD_MAX_AGE``,
  ``SEGARENA_LEADERBOARD_STALE_WHILE_REVALIDATE``);
  anything else (a signed-in reader, an organizer, a restricted board, scores hidden until
  close) is ``private, no-cache``: a shared cache keeps none of it and a browser asks again
  every time (cheaply, with its ETag). Every answer carries ``Vary: Authorization, Cookie``,
  so no cache hands an anonymous answer to a signed-in reader or the reverse.

A hidden-until-close board is never shared, so no shared cache can serve its scores: a
hidden answer kept past the closing instant only shows less than it may.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from importlib import metadata

from fastapi import Request, Response

from challenge.core.config import Settings
from challenge.visibility import ResultView, Viewer
from challenge.web.deps import has_session_cookie
from leaderboard.service import Leaderboard

_TAG = re.compile(r'(?:W/)?("[^"]*")')


def _app_version() -> str:
    try:
        return metadata.version("segarena")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "source"


APP_VERSION = _app_version()


def audience(view: ResultView) -> str:
    """What a reader may see, as decided by ``challenge.visibility`` (part of the ETag)."""
    hidden = view.scores_hidden_until.isoformat() if view.scores_hidden_until else "-"
    return f"{view.viewer.value}|{hidden}|{int(view.per_case)}|{','.join(view.ranked_metrics)}"


def etag(board: Leaderboard, view: str, *extra: str) -> str:
    """The strong ETag of ``view`` of ``board`` for its reader (see the module doc)."""
    phase_id, config_id, results = board.key
    text = "\n".join([APP_VERSION, view, f"{phase_id}:{config_id}:{results}",
                      audience(board.view), *extra])
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:40] + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``tag`` (``*``, or a list compared weakly)."""
    if if_none_match is None:
        return False
    value = if_none_match.strip()
    if value == "*":
        return True
    return any(found == tag for found in _TAG.findall(value))


def shared(request: Request, board: Leaderboard) -> bool:
    """Whether shared caches may keep the answer: an anonymous request for a board the public
    sees in full."""
    return ("authorization" not in request.headers and not has_session_cookie(request)
            and board.view.viewer is Viewer.public and not board.scores_hidden)


def caching_headers(request: Request, board: Leaderboard, settings: Settings,
                    tag: str) -> dict[str, str]:
    """``ETag``, ``Cache-Control`` and ``Vary`` of one answer (see the module doc)."""
    if shared(request, board):
        control = (f"public, max-age={settings.leaderboard_max_age}, "
                   f"stale-while-revalidate={settings.leaderboard_stale_while_revalidate}")
    else:
        control = "private, no-cache"
    return {"ETag": tag, "Cache-Control": control, "Vary": "Authorization, Cookie"}


def respond(request: Request, board: Leaderboard, view: str, settings: Settings,
            render: Callable[[str], Response], *extra: str) -> Response:
    """A 304 when ``If-None-Match`` names the current tag, else ``render(tag)``; either way
    with :func:`caching_headers`. ``extra``: what else changes the bytes (see :func:`etag`)."""
    tag = etag(board, view, *extra)
    headers = caching_headers(request, board, settings, tag)
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    response = render(tag)
    response.headers.update(headers)
    return response
