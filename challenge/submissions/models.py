from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from challenge.core.db import Base, utcnow


class Submission(Base):
    """One uploaded ``docker save`` archive of a team for a phase.

    ``charged`` says whether it counts against the quota of its team and of every team its
    submitter is in: it starts true (reserved at upload) and is cleared only by the refund rule
    of ``challenge.evaluations.charge`` (a platform fault, or a cancel before any case was
    scored, of the evaluation created with the upload).
    """

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_quota", "phase_id", "team_id", "created_at"),
                      Index("ix_submissions_quota_submitter", "phase_id", "submitter_id",
                            "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    submitter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(Text, default="")
    archive_key: Mapped[str] = mapped_column(String(128), unique=True)
    archive_bytes: Mapped[int] = mapped_column(BigInteger)
    archive_sha256: Mapped[str] = mapped_column(String(64))
    image_digest: Mapped[str] = mapped_column(String(80))
    image_user: Mapped[str] = mapped_column(String(64), default="")
    charged: Mapped[bool] = mapped_column(default=True)
    selected: Mapped[bool] = mapped_column(default=False)
