from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CasePublic(BaseModel):
    """Checksums only: the platform never serves the bytes of a hidden case."""

    case_id: str
    shape: list[int]
    input_checksums: dict[str, str]
    reference_checksum: str = Field(description="empty when a case with raters has no given "
                                                "consensus")
    rater_checksums: dict[str, str] = Field(default_factory=dict,
                                            description="each rater's mask, by rater name")


class DatasetPublic(BaseModel):
    id: int
    name: str
    challenge_slug: str
    channels: list[str]
    checksum: str
    n_cases: int
    size_bytes: int
    created_at: datetime
    manifest_only: bool = False
    raters: list[str] = Field(default_factory=list,
                              description="rater names; empty for one reference per case")


class DatasetDetail(DatasetPublic):
    cases: list[CasePublic]
