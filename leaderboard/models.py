"""Computed leaderboards, stored so every server process serves the same snapshot.

A snapshot is valid for one (phase, config version, results fingerprint): any newly finished
evaluation, change of a team's selected submission or new config version changes the key, and
the next request computes a new snapshot (see ``leaderboard.service``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from challenge.core.db import Base, utcnow


class LeaderboardSnapshot(Base):
    """One computed leaderboard of a phase (unfiltered; visibility is applied when served)."""

    __tablename__ = "leaderboard_snapshots"
    __table_args__ = (UniqueConstraint("phase_id", "phase_config_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), index=True)
    phase_config_id: Mapped[int] = mapped_column(
        ForeignKey("phase_configs.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    compute_ms: Mapped[int] = mapped_column(default=0)
