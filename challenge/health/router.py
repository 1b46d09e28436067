"""``/healthz``: is this server process up (for a reverse proxy, a supervisor, a benchmark).

It answers without touching the database or any other shared part, so it is also the floor a
load benchmark compares the other routes with (``benchmarks/load_leaderboard.py``): the cost of
the HTTP stack and the middleware alone. ``process`` names the server process that answered
(``segarena serve --workers N`` runs N): a random token drawn once per operating-system process,
never its PID or anything else about the host. Never cached by a proxy (``no-store``).
"""

from __future__ import annotations

import os
import secrets

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["health"])
_TOKENS: dict[int, str] = {}


class Health(BaseModel):
    status: str
    process: str


def process_token() -> str:
    """16 hex characters, the same for every call in this OS process (a forked child, whose
    PID differs, draws its own)."""
    return _TOKENS.setdefault(os.getpid(), secrets.token_hex(8))


@router.get("/healthz", response_model=Health)
async def healthz() -> JSONResponse:
    """``{"status": "ok", "process": "<token of the answering server process>"}``."""
    return JSONResponse({"status": "ok", "process": process_token()},
                        headers={"Cache-Control": "no-store"})
