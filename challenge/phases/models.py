from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from challenge.core.db import Base, utcnow


class Visibility(enum.StrEnum):
    public = "public"
    participants = "participants"
    organizers = "organizers"


class Phase(Base):
    """A stage of a challenge with its own schedule, hidden dataset and frozen scoring config."""

    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("challenge_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge_id: Mapped[int] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_phase_id: Mapped[int | None] = mapped_column(ForeignKey("phases.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    visibility: Mapped[Visibility] = mapped_column(Enum(Visibility, native_enum=False, length=16))
    leaderboard_visibility: Mapped[Visibility] = mapped_column(
        Enum(Visibility, native_enum=False, length=16)
    )
    hide_scores_until_close: Mapped[bool] = mapped_column(default=False)
    current_config_id: Mapped[int | None] = mapped_column(
        ForeignKey("phase_configs.id", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    current_config: Mapped[PhaseConfig | None] = relationship(
        foreign_keys=[current_config_id], post_update=True
    )


class PhaseConfig(Base):
    """One version of a phase's configuration; frozen (never edited) once the phase is open."""

    __tablename__ = "phase_configs"
    __table_args__ = (UniqueConstraint("phase_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"))
    frozen: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
