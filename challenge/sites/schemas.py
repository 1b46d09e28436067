"""Bodies of the site routes: organizers manage sites; a site worker leases and reports.

A site reports per-case metrics and sanitized categories only (DESIGN section 9): no
free-text per case, metric names from the evaluator's fixed set, finite numbers or null (the
NaN rule: an undefined value is null), counts as non-negative integers, flags from a fixed set.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from challenge.core.text import CaseCategory, ErrorCode, SiteMessage, SiteName, Version
from evaluator.metrics import FLAT_KEYS
from evaluator.sandbox import FailureCategory

#: Lesion counts: integers; every other metric is a float (mm-based volumes in mL, ratios).
COUNT_KEYS = frozenset({"n_ref", "n_pred", "tp", "fp", "fn"})
CASE_FLAGS = ("empty_reference", "empty_prediction")
MetricName = Literal[FLAT_KEYS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteCreate(_Strict):
    name: SiteName


class SitePublic(BaseModel):
    id: int
    phase_id: int
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    worker_version: str | None


class SiteCreated(SitePublic):
    token: str = Field(description="the site token; shown once, only its hash is stored")


class LeaseRequest(_Strict):
    worker_version: Version = Field(description="the site worker's version (provenance)")


class LeaseCase(BaseModel):
    """A case to evaluate and the checksums its local files must have."""

    case_id: str
    input_checksums: dict[str, str]
    reference_checksum: str


class LeaseJob(BaseModel):
    """A leased job. The lease lasts ``lease_seconds`` past each heartbeat; send one every
    ``heartbeat_seconds``. ``spec`` is the phase's run-and-score spec
    (``evaluator.spec.EvaluationSpec`` as JSON)."""

    lease_id: str
    expires_at: datetime
    heartbeat_seconds: float
    lease_seconds: float
    image_digest: str
    archive_sha256: str
    archive_bytes: int
    spec: dict[str, Any]
    cases: list[LeaseCase]


class LeaseAnswer(BaseModel):
    job: LeaseJob | None = Field(description="null when no job of the phase is waiting")


class HeartbeatAnswer(BaseModel):
    cancel: bool
    expires_at: datetime


class CaseReport(_Strict):
    """One case's outcome: ``ok`` with every metric, or ``missing`` with a category and no
    metric (scored by the phase's missing-case policy)."""

    status: Literal["ok", "missing"]
    category: CaseCategory | None = None
    metrics: dict[MetricName, float | None] = Field(default_factory=dict)
    flags: list[Literal["empty_reference", "empty_prediction"]] = Field(default_factory=list,
                                                                      max_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> CaseReport:
        if self.status == "ok" and (self.category is not None
                                    or set(self.metrics) != set(FLAT_KEYS)):
            raise ValueError("an ok case has no category and every metric: "
                             f"{', '.join(FLAT_KEYS)}")
        if self.status == "missing" and (self.category is None or self.metrics or self.flags):
            raise ValueError("a missing case has a category and neither metrics nor flags")
        if self.category is not None:
            kind = self.category.split(":", 1)[0]
            if kind not in set(FailureCategory):
                raise ValueError(f"unknown category {kind!r}")
        for key, value in self.metrics.items():
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{key}: finite numbers or null only")
            if key in COUNT_KEYS and (value is None or value < 0 or value != int(value)):
                raise ValueError(f"{key}: a count, a non-negative integer")
        if len(set(self.flags)) != len(self.flags):
            raise ValueError("flags must not repeat")
        return self

    def stored_metrics(self) -> dict[str, float | int | None]:
        """The metrics as the central worker stores them: counts as ``int``."""
        return {k: (int(v) if k in COUNT_KEYS and v is not None else v)
                for k, v in self.metrics.items()}


class CaseRecorded(BaseModel):
    case_id: str
    recorded: bool = Field(description="false when this very result was recorded before")


class FinishRequest(_Strict):
    """How the run ended: ``completed`` (every case reported), ``algorithm_error`` (the
    image was refused: ``code``, ``message`` shown to the team), ``cancelled`` (asked by a
    heartbeat), ``platform_error`` (the site failed: the job is offered again)."""

    outcome: Literal["completed", "algorithm_error", "cancelled", "platform_error"]
    evaluator_version: Version
    code: ErrorCode | None = None
    message: SiteMessage | None = None

    @model_validator(mode="after")
    def _explained(self) -> FinishRequest:
        if self.outcome == "algorithm_error" and (self.code is None or self.message is None):
            raise ValueError("an algorithm_error needs a code and a message")
        return self


class FinishAnswer(BaseModel):
    state: str
