from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class CasePublic(BaseModel):
    """Checksums only: the platform never serves the bytes of a hidden case."""

    case_id: str
    shape: list[int]
    input_checksums: dict[str, str]
    reference_checksum: str


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


class DatasetDetail(DatasetPublic):
    cases: list[CasePublic]
