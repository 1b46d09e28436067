"""``/phases/{phase_id}/leaderboard`` (JSON), ``leaderboard.csv`` and ``cases.csv``.

Each answers with an ETag and caching headers (``leaderboard.http_cache``), and a 304 when the
reader already holds the current bytes. An anonymous reader of a board this process holds is
answered on the event loop, anyone else in the thread pool (``leaderboard.fastpath``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from challenge.core.deps import PhaseId, token_user
from leaderboard import fastpath, http_cache, service
from leaderboard.schemas import LeaderboardPublic

router = APIRouter(tags=["leaderboard"])
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    304: {"description": "Not modified: the If-None-Match tag is current"}}
JSON_RESPONSE: dict[int | str, dict[str, Any]] = {304: CSV_RESPONSE[304]}


def _csv(body: bytes, filename: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _fast(request: Request, phase_id: int, kind: str,
          make: Callable[[bytes], Response]) -> Response | None:
    """The anonymous answer from memory (``leaderboard.fastpath``), or None."""
    if not fastpath.anonymous(request):
        return None
    board = service.warm_anonymous(cache=fastpath.cache_of(request), phase_id=phase_id)
    if board is None or (kind == "cases" and not board.view.per_case):
        return None  # a refusal (403) is answered in the thread, like any other
    return fastpath.from_memory(request, board, kind, service.rendered_key(board, kind), make)


def _answer(request: Request, db: Session, phase_id: int, kind: str,
            make: Callable[[bytes], Response]) -> Response:
    """The thread pool's path: the reader's token checked, then the board as ``service.get``
    decides it for them (``NotFound`` / ``Forbidden`` raised as such)."""
    cache = fastpath.cache_of(request)
    board = service.get(db=db, user=token_user(request, db), phase_id=phase_id, cache=cache)
    if kind == "cases":
        board.view.require_per_case()  # before any 304: a reader who may not see it gets a 403
    return http_cache.respond(request, board, kind, fastpath.settings_of(request),
                              lambda _: make(service.render(board, cache, kind, db)))


async def _serve(request: Request, phase_id: int, kind: str,
                 make: Callable[[bytes], Response]) -> Response:
    fast = _fast(request, phase_id, kind, make)
    if fast is not None:
        return fast
    return await fastpath.in_thread(request, lambda db: _answer(request, db, phase_id, kind,
                                                                make))


@router.get("/phases/{phase_id}/leaderboard", response_model=LeaderboardPublic,
            responses=JSON_RESPONSE)
async def get_leaderboard(phase_id: PhaseId, request: Request) -> Response:
    """The ranking, with the config hash, evaluator version and dataset checksum it comes from,
    bootstrap rank intervals and the significance map of the primary metric."""
    # Serialized once per snapshot (documented by LeaderboardPublic, validated in the tests).
    return await _serve(request, phase_id, "json", _json)


@router.get("/phases/{phase_id}/leaderboard.csv", response_class=Response,
            responses=CSV_RESPONSE)
async def get_leaderboard_csv(phase_id: PhaseId, request: Request) -> Response:
    """The leaderboard as CSV, one line per team, provenance on every line."""
    return await _serve(request, phase_id, "csv",
                        lambda body: _csv(body, f"leaderboard-phase-{phase_id}.csv"))


@router.get("/phases/{phase_id}/cases.csv", response_class=Response, responses=CSV_RESPONSE)
async def get_cases_csv(phase_id: PhaseId, request: Request) -> Response:
    """Per-case values of every ranked submission, when the phase publishes them."""
    return await _serve(request, phase_id, "cases",
                        lambda body: _csv(body, f"cases-phase-{phase_id}.csv"))
