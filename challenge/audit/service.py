from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.audit.models import AuditEvent


def record(
    *,
    db: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    challenge_id: int | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one audit event (flushes; the calling use case commits it with its own change)."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        challenge_id=challenge_id,
        detail=detail,
    )
    db.add(event)
    db.flush()
    return event


def list_events(
    *, db: Session, challenge_id: int | None = None, limit: int = 100, before_id: int | None = None
) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if challenge_id is not None:
        query = query.where(AuditEvent.challenge_id == challenge_id)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return list(db.scalars(query))
