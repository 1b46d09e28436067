from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from challenge.core import skeleton
from challenge.core.db import Base, utcnow


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),
                      Index("ix_teams_challenge_id_name_skeleton", "challenge_id",
                            "name_skeleton", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    # skeleton(name), kept by _set_name_skeleton: look-alike names of one challenge collide.
    name_skeleton: Mapped[str] = mapped_column(String(skeleton.MAX_LENGTH))
    invite_code: Mapped[str] = mapped_column(String(64), unique=True)
    # Bumped under the quota check: the UPDATE takes the row lock (PostgreSQL) or the write lock
    # (SQLite) before submissions are counted, so concurrent uploads serialise per team.
    lock_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[TeamMember]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )

    @validates("name")
    def _set_name_skeleton(self, _: str, name: str) -> str:
        self.name_skeleton = skeleton.skeleton(name)
        return name


class TeamMember(Base):
    """Membership; a user belongs to at most one team per challenge."""

    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("challenge_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship(back_populates="members")
