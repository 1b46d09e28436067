from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from challenge.core.bounds import DbId, UtcDatetime
from challenge.core.text import Description, Slug, Title
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Visibility


class PhaseCreate(BaseModel):
    slug: Slug
    title: Title
    description: Description = ""
    parent_phase_slug: Slug | None = Field(
        default=None, description="teams must have a succeeded evaluation in this phase first"
    )
    opens_at: UtcDatetime
    closes_at: UtcDatetime
    visibility: Visibility = Visibility.public
    leaderboard_visibility: Visibility = Visibility.public
    hide_scores_until_close: bool = False
    dataset_id: DbId | None = None
    config: PhaseConfigSpec = Field(default_factory=PhaseConfigSpec)

    @model_validator(mode="after")
    def _ordered(self) -> PhaseCreate:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self


class PhaseUpdate(BaseModel):
    title: Title | None = None
    description: Description | None = None
    opens_at: UtcDatetime | None = None
    closes_at: UtcDatetime | None = None
    visibility: Visibility | None = None
    leaderboard_visibility: Visibility | None = None
    hide_scores_until_close: bool | None = None
    dataset_id: DbId | None = None
    config: PhaseConfigSpec | None = None


class DatasetSummary(BaseModel):
    id: int
    name: str
    checksum: str
    n_cases: int
    channels: list[str]


class PhasePublic(BaseModel):
    id: int
    challenge_slug: str
    slug: str
    title: str
    description: str
    parent_phase_id: int | None
    opens_at: datetime
    closes_at: datetime
    status: Literal["upcoming", "open", "closed"]
    visibility: Visibility
    leaderboard_visibility: Visibility
    hide_scores_until_close: bool
    config_version: int
    config_hash: str
    config: dict[str, Any]
    dataset: DatasetSummary | None


class PhaseConfigVersion(BaseModel):
    version: int
    config_hash: str
    frozen: bool
    created_at: datetime
    dataset_id: int | None
    config: dict[str, Any]
