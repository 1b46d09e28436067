from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from challenge.evaluations.models import EvalState


class EvaluationStatus(BaseModel):
    """What a participant may see: state, progress and a sanitized failure category."""

    id: int
    state: EvalState
    config_version: int
    queue_position: int | None
    cases_done: int
    cases_total: int
    failure_category: str | None
    failure_message: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    scores_hidden_until: datetime | None = Field(
        None, description="the phase shows no score of this evaluation before this time")


class SubmissionPublic(BaseModel):
    id: int
    phase_id: int
    team_id: int
    team_name: str
    created_at: datetime
    comment: str
    archive_bytes: int
    archive_sha256: str
    image_digest: str
    selected: bool
    charged: bool = Field(description="whether it counts against the team's quota")
    evaluation: EvaluationStatus | None


class QuotaPublic(BaseModel):
    per_day_limit: int
    per_day_used: int
    total_limit: int
    total_used: int
