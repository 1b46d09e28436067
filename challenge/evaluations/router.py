from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import PlainTextResponse

from challenge.core.deps import MAX_ID, CurrentUser, DispatcherDep, SessionDep, SubmissionId
from challenge.core.pagination import Page, PageDep
from challenge.evaluations import presenters, service
from challenge.evaluations.charge import CANCEL_RULE
from challenge.evaluations.schemas import CaseResultPublic, EvaluationDetail

router = APIRouter(tags=["evaluations"])
EvaluationId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationDetail)
def get_evaluation(evaluation_id: EvaluationId, db: SessionDep,
                   user: CurrentUser) -> EvaluationDetail:
    """State, queue position, cases done of N and a sanitized failure category."""
    evaluation, organizer = service.get_visible(db=db, user=user, evaluation_id=evaluation_id)
    return presenters.evaluation_detail(db, user, evaluation, organizer)


@router.get("/evaluations/{evaluation_id}/log", response_class=PlainTextResponse)
def get_evaluation_log(evaluation_id: EvaluationId, db: SessionDep, user: CurrentUser) -> str:
    """Organizers only: the size-capped container logs of the run."""
    return service.organizer_log(db=db, user=user, evaluation_id=evaluation_id)


@router.get("/evaluations/{evaluation_id}/cases", response_model=Page[CaseResultPublic])
def get_case_results(evaluation_id: EvaluationId, db: SessionDep, user: CurrentUser,
                     page: PageDep) -> Page[CaseResultPublic]:
    """Per-case status, category and the metric values the phase publishes to the caller;
    by case id, paginated (``limit``, ``cursor``)."""
    found = service.case_results(db=db, user=user, evaluation_id=evaluation_id, page=page)
    return found.page(lambda rows: [CaseResultPublic(**row) for row in rows])


@router.post("/evaluations/{evaluation_id}/cancel", response_model=EvaluationDetail,
             description="Cancel a queued or running evaluation (its team or an organizer). "
                         + CANCEL_RULE)
def cancel_evaluation(evaluation_id: EvaluationId, db: SessionDep,
                      user: CurrentUser) -> EvaluationDetail:
    evaluation = service.cancel(db=db, user=user, evaluation_id=evaluation_id)
    return presenters.evaluation_detail(db, user, evaluation)


@router.post("/submissions/{submission_id}/reevaluate", response_model=EvaluationDetail)
def reevaluate(submission_id: SubmissionId, db: SessionDep, user: CurrentUser,
               dispatcher: DispatcherDep) -> EvaluationDetail:
    """Organizers: run the submission again under the phase's current config."""
    evaluation = service.reevaluate(db=db, user=user, submission_id=submission_id,
                                    dispatcher=dispatcher)
    return presenters.evaluation_detail(db, user, evaluation)
