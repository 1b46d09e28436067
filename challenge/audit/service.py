from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class EventFilter:
    """Which events to list: each field set narrows the list (None: any). ``since`` is
    inclusive and ``until`` exclusive (UTC); ``action`` and ``object_type`` match exactly."""

    action: str | None = None
    actor_id: int | None = None
    object_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def list_events(*, db: Session, page: PageRequest, challenge_id: int | None = None,
                where: EventFilter = EventFilter()) -> Paged[AuditEvent]:
    """One page of audit events, newest first: a challenge's, or (None) all of them,
    narrowed by ``where``."""
    query = select(AuditEvent)
    if challenge_id is not None:
        query = query.where(AuditEvent.challenge_id == challenge_id)
    if where.action is not None:
        query = query.where(AuditEvent.action == where.action)
    if where.actor_id is not None:
        query = query.where(AuditEvent.actor_id == where.actor_id)
    if where.object_type is not None:
        query = query.where(AuditEvent.object_type == where.object_type)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return fetch(db, query, NEWEST_FIRST, page)
