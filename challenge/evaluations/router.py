from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.core.deps import MAX_ID, CurrentUser, SessionDep, SubmissionId
from challenge.evaluations import service
from challenge.evaluations.charge import CANCEL_RULE
from challenge.evaluations.models import Evaluation
from challenge.submissions.models import Submission
from challenge.submissions.router import evaluation_status
from challenge.submissions.schemas import EvaluationStatus

router = APIRouter(tags=["evaluations"])
EvaluationId = Annotated[int, Path(ge=1, le=MAX_ID)]


class EvaluationDetail(EvaluationStatus):
    summary: dict[str, Any] | None = Field(
        description="organizers: the whole summary; others: case counts and categories, plus "
                    "the means of the ranked metrics unless scores are hidden")
    evaluator_version: str | None
    per_case_available: bool = Field(
        description="whether GET /evaluations/{id}/cases answers this caller")


class CaseResultPublic(BaseModel):
    case_id: str
    status: str
    category: str | None
    metrics: dict[str, float | int | None]  # counts stay integers
    flags: list[str]


def _detail(db: Session, user: User, evaluation: Evaluation,
            organizer: bool | None = None) -> EvaluationDetail:
    """Status and summary of ``evaluation`` as ``user`` may see them (``organizer``: what
    ``service.get_visible`` answered, when known)."""
    submission = db.get(Submission, evaluation.submission_id)
    assert submission is not None  # an evaluation belongs to a submission
    view = service.result_view(db=db, user=user, evaluation=evaluation, organizer=organizer)
    status = evaluation_status(db, submission, view, evaluation)
    assert status is not None  # an evaluation was given
    return EvaluationDetail(**status.model_dump(), summary=view.summary(evaluation.summary),
                            evaluator_version=evaluation.evaluator_version,
                            per_case_available=view.per_case)


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationDetail)
def get_evaluation(evaluation_id: EvaluationId, db: SessionDep,
                   user: CurrentUser) -> EvaluationDetail:
    """State, queue position, cases done of N and a sanitized failure category."""
    evaluation, organizer = service.get_visible(db=db, user=user, evaluation_id=evaluation_id)
    return _detail(db, user, evaluation, organizer)


@router.get("/evaluations/{evaluation_id}/log", response_class=PlainTextResponse)
def get_evaluation_log(evaluation_id: EvaluationId, db: SessionDep, user: CurrentUser) -> str:
    """Organizers only: the size-capped container logs of the run."""
    return service.organizer_log(db=db, user=user, evaluation_id=evaluation_id)


@router.get("/evaluations/{evaluation_id}/cases", response_model=list[CaseResultPublic])
def get_case_results(evaluation_id: EvaluationId, db: SessionDep,
                     user: CurrentUser) -> list[CaseResultPublic]:
    """Per-case status, category and the metric values the phase publishes to the caller."""
    return [CaseResultPublic(**row)
            for row in service.case_results(db=db, user=user, evaluation_id=evaluation_id)]


@router.post("/evaluations/{evaluation_id}/cancel", response_model=EvaluationDetail,
             description="Cancel a queued or running evaluation (its team or an organizer). "
                         + CANCEL_RULE)
def cancel_evaluation(evaluation_id: EvaluationId, db: SessionDep,
                      user: CurrentUser) -> EvaluationDetail:
    return _detail(db, user, service.cancel(db=db, user=user, evaluation_id=evaluation_id))


@router.post("/submissions/{submission_id}/reevaluate", response_model=EvaluationDetail)
def reevaluate(submission_id: SubmissionId, request: Request, db: SessionDep,
               user: CurrentUser) -> EvaluationDetail:
    """Organizers: run the submission again under the phase's current config."""
    evaluation = service.reevaluate(db=db, user=user, submission_id=submission_id,
                                    dispatcher=request.app.state.dispatcher)
    return _detail(db, user, evaluation)
