"""``/phases/{phase_id}/leaderboard`` (JSON), ``leaderboard.csv`` and ``cases.csv``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from challenge.core.deps import OptionalUser, PhaseId, SessionDep
from leaderboard import service
from leaderboard.deps import LeaderboardCacheDep
from leaderboard.schemas import LeaderboardPublic

router = APIRouter(tags=["leaderboard"])
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


def _csv(text: str | bytes, filename: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/phases/{phase_id}/leaderboard", response_model=LeaderboardPublic)
def get_leaderboard(phase_id: PhaseId, db: SessionDep, user: OptionalUser,
                    cache: LeaderboardCacheDep) -> Response:
    """The ranking, with the config hash, evaluator version and dataset checksum it comes from,
    bootstrap rank intervals and the significance map of the primary metric."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    # Serialized once per snapshot (documented by LeaderboardPublic, validated in the tests).
    return Response(service.render(board, cache, "json"), media_type="application/json")


@router.get("/phases/{phase_id}/leaderboard.csv", response_class=Response,
            responses=CSV_RESPONSE)
def get_leaderboard_csv(phase_id: PhaseId, db: SessionDep, user: OptionalUser,
                        cache: LeaderboardCacheDep) -> Response:
    """The leaderboard as CSV, one line per team, provenance on every line."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    return _csv(service.render(board, cache, "csv"), f"leaderboard-phase-{phase_id}.csv")


@router.get("/phases/{phase_id}/cases.csv", response_class=Response, responses=CSV_RESPONSE)
def get_cases_csv(phase_id: PhaseId, db: SessionDep, user: OptionalUser,
                  cache: LeaderboardCacheDep) -> Response:
    """Per-case values of every ranked submission, when the phase publishes them."""
    board = service.get(db=db, user=user, phase_id=phase_id, cache=cache)
    return _csv(service.cases_csv(db=db, board=board), f"cases-phase-{phase_id}.csv")
