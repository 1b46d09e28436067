"""Every page of the web app for people who sign in (accounts, teams, organizers), under one
router whose routes answer errors in HTML (``render.PageRoute``)."""

from __future__ import annotations

from fastapi import APIRouter

from challenge.uploads.router import router as uploads_router
from challenge.web.accounts.router import router as accounts_router
from challenge.web.admin import router as admin_router
from challenge.web.oidc_router import router as oidc_router
from challenge.web.organizers.router import router as organizer_router
from challenge.web.participants.router import router as participants_router
from challenge.web.render import PageRoute
from challenge.web.static_router import router as static_router

router = APIRouter(include_in_schema=False, route_class=PageRoute)
router.include_router(static_router)
router.include_router(uploads_router)
router.include_router(oidc_router)
router.include_router(participants_router)
router.include_router(organizer_router)
router.include_router(accounts_router)
router.include_router(admin_router)
