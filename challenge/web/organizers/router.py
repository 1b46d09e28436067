"""Every ``/organize`` page, one router (the web app includes it)."""

from __future__ import annotations

from fastapi import APIRouter

from challenge.web.organizers import challenges

router = APIRouter(include_in_schema=False)
router.include_router(challenges.router)
