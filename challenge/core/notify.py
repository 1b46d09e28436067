"""Tell the server processes that what a leaderboard shows has changed (PostgreSQL NOTIFY).

Each server process keeps what it last read of a phase for a short interval
(``leaderboard.freshness``); a change announced here ends that interval early. The notice is
sent with ``pg_notify`` inside the caller's transaction, so PostgreSQL delivers it when that
transaction commits, and never when it rolls back. On SQLite there is no such channel: the
interval alone bounds how stale a board may be, and these calls do nothing.

The payload is a phase id, or :data:`EVERY_PHASE` when a change touches several phases (a
challenge was published or edited).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

CHANNEL = "segarena_leaderboard"
EVERY_PHASE = "*"


def listening(db: Session) -> bool:
    """Whether ``db``'s database carries notices (PostgreSQL)."""
    return db.get_bind().dialect.name == "postgresql"


def _send(db: Session, payload: str) -> None:
    db.execute(select(func.pg_notify(CHANNEL, payload)))


def phase_changed(db: Session, phase_id: int) -> None:
    """Announce, in ``db``'s transaction, a change to phase ``phase_id``'s results, selection,
    config or settings."""
    if listening(db):
        _send(db, str(phase_id))


def phases_changed(db: Session) -> None:
    """Announce, in ``db``'s transaction, a change that may touch every phase (a challenge's
    publication or settings)."""
    if listening(db):
        _send(db, EVERY_PHASE)


def parse(payload: str) -> int | None:
    """The phase id a notice names; None for every phase (or a payload this version does not
    know, which is safest read as "everything may have changed")."""
    return int(payload) if payload.isdigit() else None
