from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from challenge import access
from challenge.audit import service
from challenge.audit.models import AuditEvent
from challenge.core.deps import ChallengeSlug, CurrentUser, SessionDep
from challenge.core.errors import Forbidden
from challenge.core.pagination import Page, PageDep

router = APIRouter(tags=["audit"])


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: datetime
    actor_id: int | None
    action: str
    object_type: str
    object_id: str
    challenge_id: int | None
    detail: dict[str, Any]


def _public(events: list[AuditEvent]) -> list[AuditEventPublic]:
    return [AuditEventPublic.model_validate(e) for e in events]


@router.get("/challenges/{slug}/audit", response_model=Page[AuditEventPublic])
def challenge_audit(slug: ChallengeSlug, db: SessionDep, user: CurrentUser,
                    page: PageDep) -> Page[AuditEventPublic]:
    """The challenge's append-only audit log, newest first, paginated (``limit``, ``cursor``).
    Organizers and admins."""
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    return service.list_events(db=db, challenge_id=challenge.id, page=page).page(_public)


@router.get("/admin/audit", response_model=Page[AuditEventPublic])
def admin_audit(db: SessionDep, user: CurrentUser, page: PageDep) -> Page[AuditEventPublic]:
    """Admins: the whole audit log, newest first, paginated (``limit``, ``cursor``)."""
    if not user.is_admin:
        raise Forbidden("only an admin can read the whole audit log")
    return service.list_events(db=db, page=page).page(_public)
