"""``/phases/{phase_id}/leaderboard`` (JSON), ``leaderboard.csv`` and ``cases.csv``.

Each answers with an ETag and caching headers (``leaderboard.http_cache``), and a 304 when the
reader already holds the current bytes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from challenge.core.deps import OptionalUser, PhaseId, SessionDep, SettingsDep
from leaderboard import http_cache, service
from leaderboard.deps import LeaderboardCacheDep
from leaderboard.schemas import LeaderboardPublic

router = APIRouter(tags=["leaderboard"])
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
    304: {"description": "Not modified: the If-None-Match tag is current"}}
JSON_RESPONSE: dict[int | str, dict[str, Any]] = {304: CSV_RESPONSE[304]}


def _csv(body: bytes, filename: str) -> Response:
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/phases/{phase_id}/leaderboard", response_model=LeaderboardPublic,
            responses=JSON_RESPONSE)
def get_leaderboard(phase_id: PhaseId, request: Request, db: SessionDep, user: OptionalUser,
                    cache: LeaderboardCacheDep, settings: SettingsDep) -> Response:
    """The ranking, with the config hash, evaluator version and dataset checksum it comes from,
    bootstrap rank intervals and the significance map of the primary metric."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    # Serialized once per snapshot (documented by LeaderboardPublic, validated in the tests).
    return http_cache.respond(request, board, "json", settings, lambda _: Response(
        service.render(board, cache, "json"), media_type="application/json"))


@router.get("/phases/{phase_id}/leaderboard.csv", response_class=Response,
            responses=CSV_RESPONSE)
def get_leaderboard_csv(phase_id: PhaseId, request: Request, db: SessionDep,
                        user: OptionalUser, cache: LeaderboardCacheDep,
                        settings: SettingsDep) -> Response:
    """The leaderboard as CSV, one line per team, provenance on every line."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    return http_cache.respond(request, board, "csv", settings, lambda _: _csv(
        service.render(board, cache, "csv"), f"leaderboard-phase-{phase_id}.csv"))


@router.get("/phases/{phase_id}/cases.csv", response_class=Response, responses=CSV_RESPONSE)
def get_cases_csv(phase_id: PhaseId, request: Request, db: SessionDep, user: OptionalUser,
                  cache: LeaderboardCacheDep, settings: SettingsDep) -> Response:
    """Per-case values of every ranked submission, when the phase publishes them."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    board.view.require_per_case()  # before any 304: a reader who may not see it gets a 403
    return http_cache.respond(request, board, "cases", settings, lambda _: _csv(
        service.render(board, cache, "cases", db), f"cases-phase-{phase_id}.csv"))
