from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from challenge.evaluations.schemas import EvaluationStatus


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
