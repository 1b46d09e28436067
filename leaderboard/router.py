"""``/phases/{phase_id}/leaderboard`` (JSON), ``leaderboard.csv`` and ``cases.csv``.

Each answers with an ETag and caching headers (``leaderboard.http_cache``), and a 304 when the
reader already holds the current bytes. An anonymous reader of a board this process holds is
answered from memory before routing (``leaderboard.front``, with this module's ``_fast``),
anyone else by the routes, in the thread pool (``leaderboard.fastpath``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from challenge.core.deps import PhaseId, token_user
from leaderboard import fastpath, http_cache, service
from leaderboard.front import fast_answer
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
    """What ``leaderboard.front`` did not answer before routing (``_fast`` is its answer: a
    second try here would find the recheck it claimed and keep the old state for good)."""
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


@fast_answer(get_leaderboard)
def _leaderboard_before_routing(request: Request, params: dict[str, str]) -> Response | None:
    return _fast_by_text(request, params, "json", lambda _: _json)


@fast_answer(get_leaderboard_csv)
def _leaderboard_csv_before_routing(request: Request, params: dict[str, str]) -> Response | None:
    return _fast_by_text(request, params, "csv", lambda phase_id: lambda body: _csv(
        body, f"leaderboard-phase-{phase_id}.csv"))


@fast_answer(get_cases_csv)
def _cases_csv_before_routing(request: Request, params: dict[str, str]) -> Response | None:
    return _fast_by_text(request, params, "cases", lambda phase_id: lambda body: _csv(
        body, f"cases-phase-{phase_id}.csv"))


def _fast_by_text(request: Request, params: dict[str, str], kind: str,
                  make_for: Callable[[int], Callable[[bytes], Response]]) -> Response | None:
    """``_fast`` for a phase id still in text (``leaderboard.front``): one that is not plain
    digits is left to the route's validation."""
    text = params.get("phase_id", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    phase_id = int(text)
    return _fast(request, phase_id, kind, make_for(phase_id))
