"""Every ``/organize`` page, one router (the web app includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from challenge.web.organizers import audit, challenges, datasets, phases

router = APIRouter(include_in_schema=False)
for part in (challenges, phases, datasets, audit):
    router.include_router(part.router)
