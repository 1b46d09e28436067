from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from challenge import access
from challenge.audit import service
from challenge.core.deps import MAX_ID, ChallengeSlug, CurrentUser, SessionDep
from challenge.core.errors import Forbidden

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


@router.get("/challenges/{slug}/audit", response_model=list[AuditEventPublic])
def challenge_audit(slug: ChallengeSlug, db: SessionDep, user: CurrentUser,
                    limit: int = Query(100, ge=1, le=1000),
                    before_id: int | None = Query(None, ge=1, le=MAX_ID)) -> list[AuditEventPublic]:
    """The challenge's append-only audit log, newest first. Organizers and admins."""
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    return [AuditEventPublic.model_validate(e) for e in service.list_events(
        db=db, challenge_id=challenge.id, limit=limit, before_id=before_id)]


@router.get("/admin/audit", response_model=list[AuditEventPublic])
def admin_audit(db: SessionDep, user: CurrentUser, limit: int = Query(100, ge=1, le=1000),
                before_id: int | None = Query(None, ge=1, le=MAX_ID)) -> list[AuditEventPublic]:
    if not user.is_admin:
        raise Forbidden("only an admin can read the whole audit log")
    return [AuditEventPublic.model_validate(e)
            for e in service.list_events(db=db, limit=limit, before_id=before_id)]
