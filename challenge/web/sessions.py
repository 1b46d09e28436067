"""Sign-in sessions of the web app: start one, find the user behind a cookie, list and revoke.

A session cookie is ``<public_id>.<secret>``: the public id finds the row, and the SHA-256 of
the 256-bit secret is compared in constant time. A session ends at ``expires_at`` (absolute,
``Settings.web_session_hours`` after sign-in), when revoked (sign-out, or from the account
page), or when its user is deactivated. Services commit; routes set and clear the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.core.db import utcnow
from challenge.core.errors import NotFound
from challenge.web.models import WebSession

COOKIE = "segarena_session"
#: A session's last_seen_at is written at most this often (a write per page view would
#: serialize every signed-in reader on SQLite).
_SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Started:
    session: WebSession
    cookie: str  #: the cookie's value: shown to the browser once, never stored


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def start(*, db: Session, user: User, hours: int, user_agent: str = "",
          address: str = "", via: str = "password") -> Started:
    """Open a session for ``user`` lasting ``hours``; audited as ``session.start``. Commits."""
    public_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(user_id=user.id, public_id=public_id, secret_hash=_digest(secret),
                     user_agent=user_agent[:200], address=address[:64], created_at=now,
                     last_seen_at=now, expires_at=now + timedelta(hours=hours))
    db.add(row)
    db.flush()
    audit.record(db=db, actor=user, action="session.start", object_type="web_session",
                 object_id=row.id, via=via)
    db.commit()
    return Started(row, f"{public_id}.{secret}")


def _usable(row: WebSession, now: datetime) -> bool:
    return row.revoked_at is None and row.expires_at > now and row.user.is_active


def lookup(*, db: Session, cookie: str | None) -> WebSession | None:
    """The live session a cookie names, or None (no cookie, malformed, unknown, wrong secret,
    expired, revoked, or its user deactivated). Touches ``last_seen_at`` now and then."""
    if not cookie or len(cookie) > 128:
        return None
    public_id, _, secret = cookie.partition(".")
    if not public_id or not secret:
        return None
    row = db.scalar(select(WebSession).where(WebSession.public_id == public_id))
    now = utcnow()
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    if not _usable(row, now):
        return None
    if now - row.last_seen_at > _SEEN_EVERY:
        row.last_seen_at = now
        db.commit()
    return row


def list_for_user(*, db: Session, user: User) -> list[WebSession]:
    """The user's sessions that are still live, newest first."""
    now = utcnow()
    rows = db.scalars(select(WebSession).where(WebSession.user_id == user.id,
                                               WebSession.revoked_at.is_(None),
                                               WebSession.expires_at > now)
                      .order_by(WebSession.id.desc())).all()
    return list(rows)


def revoke(*, db: Session, user: User, session_id: int) -> WebSession:
    """End one of ``user``'s own sessions (sign-out, or from the account page); another
    user's session is a 404, as if it did not exist. Audited; commits."""
    row = db.get(WebSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("no such session")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(db=db, actor=user, action="session.revoke", object_type="web_session",
                     object_id=row.id)
        db.commit()
    return row
