"""An upload in progress, or finished: one row per tus upload."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from challenge.core.db import Base, utcnow

#: Bytes still arriving (or, briefly, the finished file being checked: ``checking``).
RECEIVING, CHECKING, COMPLETE, FAILED = "receiving", "checking", "complete", "failed"
UNFINISHED = (RECEIVING, CHECKING)


class Upload(Base):
    """``public_id`` is the random id in ``/uploads/<public_id>``; only ``user_id`` may use
    it. ``length`` and ``offset`` are in bytes; the bytes received so far are the file
    ``<storage root>/uploads/<public_id>.part`` while ``state`` is ``receiving``.

    ``kind`` is ``submission`` (``target``: the phase id) or ``dataset`` (``target``: the
    challenge slug; ``options``: ``name``, ``strip_identifiers``). When it ends, ``location``
    is the page of what it created, or ``error_code``/``error_message`` say why not."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default=RECEIVING)
    location: Mapped[str | None] = mapped_column(String(255))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
