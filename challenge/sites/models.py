from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from challenge.core.db import Base, utcnow


class EvaluationSite(Base):
    """A data holder's machine registered for one phase: it holds that phase's hidden cases and
    evaluates its submissions there (DESIGN section 9).

    Its token is ``sgr_<public_id>_<secret>`` like an API token, and like one only an argon2id
    hash of the secret is stored (``challenge.core.security``); it is shown once, at creation.
    A revoked site keeps its row (evaluations name it as their provenance) but its token no
    longer authenticates. ``worker_version``: what its site worker last said it runs.
    """

    __tablename__ = "evaluation_sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"),
                                          index=True)
    name: Mapped[str] = mapped_column(String(100))
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    worker_version: Mapped[str | None] = mapped_column(String(32))
