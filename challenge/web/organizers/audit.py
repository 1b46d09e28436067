"""A challenge's audit log for organizers, filtered (GET form) and keyset-paginated: the
API's ``audit.list_events``, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from challenge.accounts.models import User
from challenge.audit import service
from challenge.audit.models import AuditEvent
from challenge.challenges.models import Challenge
from challenge.core.bounds import UtcDatetime
from challenge.core.deps import SessionDep
from challenge.core.pagination import PageDep
from challenge.core.text import Text, Username
from challenge.web.deps import SignedInUser
from challenge.web.forms import errors_of
from challenge.web.organizers.deps import OrganizedChallenge
from challenge.web.render import PageRoute, page

router = APIRouter(include_in_schema=False, route_class=PageRoute)
Word = Annotated[str, Text(max_length=64, min_length=1)]


class AuditQuery(BaseModel):
    """The filter form: every field optional and bounded; times ISO 8601 with a zone."""

    action: Word | None = None
    actor: Username | None = None
    object_type: Word | None = None
    since: UtcDatetime | None = None
    until: UtcDatetime | None = None


@router.get("/organize/{slug}/audit")
def audit_page(request: Request, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge, page_request: PageDep,
               action: Annotated[str, Query(max_length=64)] = "",
               actor: Annotated[str, Query(max_length=64)] = "",
               object_type: Annotated[str, Query(max_length=64)] = "",
               since: Annotated[str, Query(max_length=40)] = "",
               until: Annotated[str, Query(max_length=40)] = "") -> HTMLResponse:
    """Invalid filters: 422 with the form and a message per field (no rows)."""
    values = {"action": action, "actor": actor, "object_type": object_type, "since": since,
              "until": until}
    try:
        query = AuditQuery.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        return _render(request, challenge, values, errors_of(exc), [], None, {}, 422)
    actor_id: int | None = None
    if query.actor is not None:
        actor_id = db.scalar(select(User.id).where(User.username == query.actor)) or 0
    found = service.list_events(db=db, challenge_id=challenge.id, page=page_request,
                                where=service.EventFilter(
                                    action=query.action, actor_id=actor_id,
                                    object_type=query.object_type, since=query.since,
                                    until=query.until))
    ids = {e.actor_id for e in found.items if e.actor_id is not None}
    names = dict(db.execute(select(User.id, User.username).where(User.id.in_(ids))).tuples()
                 .all()) if ids else {}
    return _render(request, challenge, values, {}, found.items, found.next_cursor, names)


def _render(request: Request, challenge: Challenge, values: dict[str, str],
            errors: dict[str, str], events: Sequence[AuditEvent], next_cursor: str | None,
            names: dict[int, str], status: int = 200) -> HTMLResponse:
    """The page; ``query``: the filters as a query string, kept by the next-page link."""
    return page(request, "organizer/audit.html", {
        "title": "Audit log", "challenge": challenge, "values": values, "errors": errors,
        "events": events, "next_cursor": next_cursor, "names": names,
        "query": urlencode({k: v for k, v in values.items() if v})}, status=status)
