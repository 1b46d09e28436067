from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from challenge.evaluations.logtail import LOG_TAIL_CHARS
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


class EvaluationDetail(EvaluationStatus):
    summary: dict[str, Any] | None = Field(
        description="organizers: the whole summary; others: case counts and categories, plus "
                    "the means of the ranked metrics unless scores are hidden")
    evaluator_version: str | None
    per_case_available: bool = Field(
        description="whether GET /evaluations/{id}/cases answers this caller")
    log_tail: str | None = Field(
        None, description=f"the last characters (at most {LOG_TAIL_CHARS}) of what the "
                          "evaluation's container printed, sanitized, without platform lines; "
                          "null unless the caller organizes the challenge or is the "
                          "evaluation's team and the phase allows log tails")


class CaseResultPublic(BaseModel):
    case_id: str
    status: str
    category: str | None
    metrics: dict[str, float | int | None]  # counts stay integers
    raters: dict[str, dict[str, float | int | None]] = Field(
        default_factory=dict,
        description="with several raters per case: the same metrics against each rater, by "
                    "rater name, shown by the same rules as `metrics`")
    flags: list[str]
