from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from starlette.concurrency import run_in_threadpool

from challenge.core.bodylimit import UPLOAD_BODY
from challenge.core.deps import (
    CurrentUser,
    DispatcherDep,
    PhaseId,
    SessionDep,
    SettingsDep,
    StorageDep,
    SubmissionId,
    check_then_release,
)
from challenge.core.pagination import Page, PageDep
from challenge.core.text import Comment
from challenge.core.uploads import receive_upload
from challenge.submissions import presenters, service
from challenge.submissions.schemas import QuotaPublic, SubmissionPublic

router = APIRouter(tags=["submissions"])


@router.post("/phases/{phase_id}/submissions", status_code=status.HTTP_201_CREATED,
             response_model=SubmissionPublic, openapi_extra=UPLOAD_BODY)
async def create_submission(phase_id: PhaseId, request: Request, db: SessionDep, user: CurrentUser,
                            settings: SettingsDep, storage: StorageDep, dispatcher: DispatcherDep,
                            comment: Annotated[Comment, Query()] = "") -> SubmissionPublic:
    """Submit an algorithm: the raw body is a ``docker save`` archive (tar, optionally gzip)
    of one linux/amd64 image with a non-root USER. It is checked before it is queued; a
    refused upload is not charged to the team's quota."""
    await run_in_threadpool(check_then_release, db, service.check_can_submit, user=user,
                            phase_id=phase_id)
    async with receive_upload(request, storage, settings.max_submission_bytes) as upload:
        submission = await run_in_threadpool(
            service.submit, db=db, storage=storage, user=user, phase_id=phase_id,
            archive=upload.path, size=upload.size, sha256=upload.sha256, comment=comment,
            max_submission_bytes=settings.max_submission_bytes, dispatcher=dispatcher)
    view = service.result_view(db=db, user=user, phase_id=submission.phase_id)
    return presenters.submission_public(db, submission, view)


@router.get("/phases/{phase_id}/submissions", response_model=Page[SubmissionPublic])
def list_submissions(phase_id: PhaseId, db: SessionDep, user: CurrentUser,
                     page: PageDep) -> Page[SubmissionPublic]:
    """Your team's submissions (organizers: every team's), oldest first, paginated
    (``limit``, ``cursor``)."""
    submissions = service.list_for_phase(db=db, user=user, phase_id=phase_id, page=page)
    view = service.result_view(db=db, user=user, phase_id=phase_id)
    return submissions.page(lambda rows: presenters.submissions_public(db, rows, view))


@router.get("/phases/{phase_id}/quota", response_model=QuotaPublic)
def get_quota(phase_id: PhaseId, db: SessionDep, user: CurrentUser) -> QuotaPublic:
    spec, day, total = service.quota(db=db, user=user, phase_id=phase_id)
    return QuotaPublic(per_day_limit=spec.submissions.per_day, per_day_used=day,
                       total_limit=spec.submissions.total, total_used=total)


@router.get("/submissions/{submission_id}", response_model=SubmissionPublic)
def get_submission(submission_id: SubmissionId, db: SessionDep,
                   user: CurrentUser) -> SubmissionPublic:
    submission = service.get(db=db, user=user, submission_id=submission_id)
    view = service.result_view(db=db, user=user, phase_id=submission.phase_id)
    return presenters.submission_public(db, submission, view)


@router.post("/submissions/{submission_id}/select", response_model=SubmissionPublic)
def select_submission(submission_id: SubmissionId, db: SessionDep,
                      user: CurrentUser) -> SubmissionPublic:
    """Choose the submission that represents your team when the phase counts 'selected'."""
    submission = service.select_for_ranking(db=db, user=user, submission_id=submission_id)
    view = service.result_view(db=db, user=user, phase_id=submission.phase_id)
    return presenters.submission_public(db, submission, view)
