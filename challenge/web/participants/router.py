"""The participant pages under one router (``challenge.web.router`` includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from challenge.web.participants import howto, submission, submit, teams
from challenge.web.render import PageRoute

router = APIRouter(route_class=PageRoute)
for part in (teams, submit, submission, howto):
    router.include_router(part.router)
