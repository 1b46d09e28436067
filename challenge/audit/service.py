from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.audit.models import AuditEvent
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch

NEWEST_FIRST = Keyset("audit", (Key(AuditEvent.id, descending=True),))


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


def list_events(*, db: Session, page: PageRequest,
                challenge_id: int | None = None) -> Paged[AuditEvent]:
    """One page of audit events, newest first: a challenge's, or (None) all of them."""
    query = select(AuditEvent)
    if challenge_id is not None:
        query = query.where(AuditEvent.challenge_id == challenge_id)
    return fetch(db, query, NEWEST_FIRST, page)
