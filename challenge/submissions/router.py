from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from challenge import visibility
from challenge.accounts.models import User
from challenge.core.deps import (
    CurrentUser,
    PhaseId,
    SessionDep,
    SettingsDep,
    SubmissionId,
    check_then_release,
)
from challenge.core.errors import PayloadTooLarge
from challenge.core.storage import receive_stream
from challenge.core.text import Comment
from challenge.datasets.router import UPLOAD_BODY
from challenge.evaluations import service as evaluations
from challenge.evaluations.models import Evaluation
from challenge.phases.models import Phase, PhaseConfig
from challenge.submissions import service
from challenge.submissions.models import Submission
from challenge.submissions.schemas import EvaluationStatus, QuotaPublic, SubmissionPublic
from challenge.teams.models import Team

router = APIRouter(tags=["submissions"])


def result_view(db: Session, user: User, phase_id: int) -> visibility.ResultView:
    """What ``user`` may see of ``phase_id``'s results; the submissions a non-organizer is
    shown are its own team's, so a team member is the ``team`` viewer."""
    phase = db.get(Phase, phase_id)
    assert phase is not None  # a submission's phase
    return visibility.for_phase(db, user, phase, own_team=True)


def evaluation_status(db: Session, submission: Submission, view: visibility.ResultView,
                      evaluation: Evaluation | None = None) -> EvaluationStatus | None:
    """The status of ``evaluation`` (default: the submission's latest) as ``view`` allows:
    state, progress and sanitized failure category; no score."""
    ev = evaluation or evaluations.latest_for_submission(db=db, submission_id=submission.id)
    if ev is None:
        return None
    config = db.get(PhaseConfig, ev.phase_config_id)
    return EvaluationStatus(
        id=ev.id, state=ev.state, config_version=config.version if config else 0,
        queue_position=evaluations.queue_position(db=db, evaluation=ev),
        cases_done=ev.cases_done, cases_total=ev.cases_total,
        failure_category=ev.failure_category, failure_message=ev.failure_message,
        queued_at=ev.queued_at, started_at=ev.started_at, finished_at=ev.finished_at,
        scores_hidden_until=view.scores_hidden_until)


def to_public(db: Session, submission: Submission,
              view: visibility.ResultView) -> SubmissionPublic:
    team = db.get(Team, submission.team_id)
    return SubmissionPublic(
        id=submission.id, phase_id=submission.phase_id, team_id=submission.team_id,
        team_name=team.name if team else "", created_at=submission.created_at,
        comment=submission.comment, archive_bytes=submission.archive_bytes,
        archive_sha256=submission.archive_sha256, image_digest=submission.image_digest,
        selected=submission.selected, charged=submission.charged,
        evaluation=evaluation_status(db, submission, view))


@router.post("/phases/{phase_id}/submissions", status_code=status.HTTP_201_CREATED,
             response_model=SubmissionPublic, openapi_extra=UPLOAD_BODY)
async def create_submission(phase_id: PhaseId, request: Request, db: SessionDep, user: CurrentUser,
                            settings: SettingsDep,
                            comment: Annotated[Comment, Query()] = "") -> SubmissionPublic:
    """Submit an algorithm: the raw body is a ``docker save`` archive (tar, optionally gzip)
    of one linux/amd64 image with a non-root USER. It is checked before it is queued; a
    refused upload is not charged to the team's quota."""
    await run_in_threadpool(check_then_release, db, service.check_can_submit, user=user,
                            phase_id=phase_id)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > settings.max_submission_bytes:
        raise PayloadTooLarge(f"upload exceeds the limit of {settings.max_submission_bytes} bytes")
    storage = request.app.state.storage
    tmp = storage.temp_path(".upload")
    try:
        size, sha256 = await receive_stream(request.stream(), tmp, settings.max_submission_bytes)
        submission = await run_in_threadpool(
            service.submit, db=db, storage=storage, user=user, phase_id=phase_id, archive=tmp,
            size=size, sha256=sha256, comment=comment,
            max_submission_bytes=settings.max_submission_bytes,
            dispatcher=request.app.state.dispatcher)
    finally:
        tmp.unlink(missing_ok=True)
    return to_public(db, submission, result_view(db, user, submission.phase_id))


@router.get("/phases/{phase_id}/submissions", response_model=list[SubmissionPublic])
def list_submissions(phase_id: PhaseId, db: SessionDep,
                     user: CurrentUser) -> list[SubmissionPublic]:
    submissions = service.list_for_phase(db=db, user=user, phase_id=phase_id)
    view = result_view(db, user, phase_id)
    return [to_public(db, s, view) for s in submissions]


@router.get("/phases/{phase_id}/quota", response_model=QuotaPublic)
def get_quota(phase_id: PhaseId, db: SessionDep, user: CurrentUser) -> QuotaPublic:
    spec, day, total = service.quota(db=db, user=user, phase_id=phase_id)
    return QuotaPublic(per_day_limit=spec.submissions.per_day, per_day_used=day,
                       total_limit=spec.submissions.total, total_used=total)


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic)
def get_submission(submission_id: SubmissionId, db: SessionDep,
                   user: CurrentUser) -> SubmissionPublic:
    submission = service.get(db=db, user=user, submission_id=submission_id)
    return to_public(db, submission, result_view(db, user, submission.phase_id))


@router.post("/submissions/{submission_id}/select", response_model=SubmissionPublic)
def select_submission(submission_id: SubmissionId, db: SessionDep,
                      user: CurrentUser) -> SubmissionPublic:
    """Choose the submission that represents your team when the phase counts 'selected'."""
    submission = service.select_for_ranking(db=db, user=user, submission_id=submission_id)
    return to_public(db, submission, result_view(db, user, submission.phase_id))
