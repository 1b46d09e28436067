from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from challenge.core.db import Base, utcnow


class EvalState(enum.StrEnum):
    queued = "queued"
    provisioning = "provisioning"
    running = "running"
    scoring = "scoring"
    succeeded = "succeeded"
    failed = "failed"  # the algorithm's fault: counts against the quota
    errored = "errored"  # the platform's fault after all retries: never charged
    cancelled = "cancelled"


TERMINAL_STATES = frozenset(
    {EvalState.succeeded, EvalState.failed, EvalState.errored, EvalState.cancelled}
)


class Evaluation(Base):
    """One run of a submission against its phase's dataset under one frozen config version.

    ``holds_charge``: this is the evaluation created with the upload, the one that holds the
    submission's quota charge; only it may ever refund it (``challenge.evaluations.charge``).
    Organizers' re-evaluations never hold it. ``first_scored_at``: when the first case that
    actually ran was stored (any attempt; never cleared), i.e. when the team could first look.
    """

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_state_queued", "state", "queued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    phase_config_id: Mapped[int] = mapped_column(ForeignKey("phase_configs.id"))
    state: Mapped[EvalState] = mapped_column(
        Enum(EvalState, native_enum=False, length=16), default=EvalState.queued
    )
    attempt: Mapped[int] = mapped_column(default=0)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(128))
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    cases_total: Mapped[int] = mapped_column(default=0)
    cases_done: Mapped[int] = mapped_column(default=0)
    failure_category: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)  # participant-safe
    organizer_log: Mapped[str | None] = mapped_column(Text)  # size-capped, organizers only
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    evaluator_version: Mapped[str | None] = mapped_column(String(32))
    holds_charge: Mapped[bool] = mapped_column(default=False, server_default=false())
    first_scored_at: Mapped[datetime | None]
    #: The evaluation site that ran the current attempt (``challenge.sites``), None for the
    #: platform's own workers. A plain id, not a foreign key: sites are revoked, never deleted.
    site_id: Mapped[int | None]
    #: The site worker's version that ran the current attempt (None for central workers).
    worker_version: Mapped[str | None] = mapped_column(String(32))


class CaseResult(Base):
    """Per-case outcome; (evaluation, case) is unique so a re-run never stores a case twice."""

    __tablename__ = "case_results"
    __table_args__ = (UniqueConstraint("evaluation_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # "ok" | "missing"
    category: Mapped[str | None] = mapped_column(String(64))  # why missing (sanitized)
    metrics: Mapped[dict[str, float | int | None]] = mapped_column(JSON)
    flags: Mapped[list[str]] = mapped_column(JSON)
    #: The same metrics against each rater, by rater name (null or empty: one reference).
    rater_metrics: Mapped[dict[str, dict[str, float | int | None]] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BaselineResult(Base):
    """The human baseline of one case: one rater's mask scored against the leave-one-out
    consensus of the other raters (``evaluator.raters.baseline``).

    ``scoring_key`` names what the values depend on and nothing else (the dataset checksum,
    the metrics config and the reference rule: ``challenge.evaluations.baseline.scoring_key``),
    so phases and config versions that score alike share the rows, and each is computed once.
    """

    __tablename__ = "baseline_results"
    __table_args__ = (UniqueConstraint("scoring_key", "rater", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"),
                                            index=True)
    scoring_key: Mapped[str] = mapped_column(String(64))
    rater: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, float | int | None]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
