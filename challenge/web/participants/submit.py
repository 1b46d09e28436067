"""The submit page of a phase (status, quota, the upload form, the team's submissions), the
htmx fragment of its submissions table and the no-JavaScript upload.

The no-JS upload is the upload form's ``multipart/form-data`` with the file field ``file``,
bounded by ``challenge.web.upload_forms`` (a declared length within ``max_submission_bytes``
plus the form's overhead, the file counted and hashed as it is copied to the storage's
``tmp/``), then handed to ``challenge.submissions.service.submit`` exactly as the API's upload
route does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from challenge import access
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.bodylimit import PAGE_UPLOAD
from challenge.core.deps import (
    ChallengeSlug,
    DispatcherDep,
    PhaseSlug,
    SessionDep,
    SettingsDep,
    StorageDep,
)
from challenge.core.errors import DomainError, Forbidden, InvalidInput
from challenge.core.storage import Storage
from challenge.phases import service as phases
from challenge.phases.models import Phase
from challenge.submissions import service as submissions
from challenge.web import render
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.participants.presenters import submission_rows
from challenge.web.render import PageRoute
from challenge.web.upload_forms import require_declared_length, save_upload

router = APIRouter(route_class=PageRoute)
def _phase(db: Session, user: User, slug: str, phase_slug: str) -> tuple[Phase, Challenge]:
    phase = phases.get_by_slugs(db=db, user=user, challenge_slug=slug, phase_slug=phase_slug)
    challenge = db.get(Challenge, phase.challenge_id)
    assert challenge is not None
    return phase, challenge


def _context(db: Session, user: User, phase: Phase, challenge: Challenge) -> dict[str, Any]:
    """Status, close time, quota (per 24 h and total, and when the next 24-hour slot frees:
    None while one is free) and the team's submissions, newest first."""
    spec, day, total = submissions.quota(db=db, user=user, phase_id=phase.id)
    team = access.team_of(db, user, challenge.id)
    assert team is not None  # quota() refuses a user without a team
    next_slot = (submissions.next_slot_at(db, phase.id, team.id, spec.submissions.per_day)
                 if day >= spec.submissions.per_day else None)
    rows, polling = submission_rows(db, user, phase)
    return {"title": f"Submit to {phase.title}", "challenge": challenge, "phase": phase,
            "status": phases.status(phase), "team": team, "spec": spec,
            "quota": {"day_used": day, "day_limit": spec.submissions.per_day,
                      "total_used": total, "total_limit": spec.submissions.total,
                      "day_left": max(0, spec.submissions.per_day - day),
                      "total_left": max(0, spec.submissions.total - total),
                      "next_slot": next_slot},
            "rows": rows, "polling": polling, "alert": None}


def _page(request: Request, db: Session, user: User, slug: str, phase_slug: str,
          status: int = 200, alert: str | None = None) -> HTMLResponse:
    phase, challenge = _phase(db, user, slug, phase_slug)
    if access.team_of(db, user, challenge.id) is None:
        return render.page(request, "participant/no_team.html", {
            "title": "Join a team first", "challenge": challenge, "phase": phase,
            "organizer": access.is_organizer(db, user, challenge.id)}, status=403)
    context = _context(db, user, phase, challenge)
    context["alert"] = alert
    return render.page(request, "participant/submit.html", context, status=status)


@router.get("/challenges/{slug}/phases/{phase_slug}/submit", response_class=HTMLResponse)
def submit_page(slug: ChallengeSlug, phase_slug: PhaseSlug, request: Request, db: SessionDep,
                user: SignedInUser) -> HTMLResponse:
    return _page(request, db, user, slug, phase_slug)


@router.get("/challenges/{slug}/phases/{phase_slug}/submissions", response_class=HTMLResponse)
def submissions_fragment(slug: ChallengeSlug, phase_slug: PhaseSlug, request: Request,
                         db: SessionDep, user: SignedInUser) -> HTMLResponse:
    """The submissions table alone (htmx swaps it in place); polls while a row is live."""
    phase, challenge = _phase(db, user, slug, phase_slug)
    if access.team_of(db, user, challenge.id) is None:
        raise Forbidden("join or create a team of this challenge first", code="no_team")
    rows, polling = submission_rows(db, user, phase)
    return render.page(request, "participant/_submissions.html", {
        "challenge": challenge, "phase": phase, "rows": rows, "polling": polling})


async def bounded_form(request: Request, settings: SettingsDep) -> None:
    """The archive form's declared length, checked before a byte of it is parsed."""
    require_declared_length(request, settings.max_submission_bytes)


def _submit_form(db: Session, storage: Storage, user: User, phase: Phase, archive: UploadFile,
                 max_bytes: int, dispatcher: Any) -> int:
    """The archive through ``submissions.service.submit``; the new submission's id."""
    submissions.check_can_submit(db=db, user=user, phase_id=phase.id)
    path = storage.temp_path(".upload")
    try:
        size, sha256 = save_upload(archive, path, max_bytes)
        if size == 0:
            raise InvalidInput("choose an archive file to upload", code="empty_upload")
        submission = submissions.submit(
            db=db, storage=storage, user=user, phase_id=phase.id, archive=path, size=size,
            sha256=sha256, comment="", max_submission_bytes=max_bytes, dispatcher=dispatcher)
    finally:
        path.unlink(missing_ok=True)
    return submission.id


@router.post("/challenges/{slug}/phases/{phase_slug}/submit", openapi_extra=PAGE_UPLOAD,
             dependencies=[Depends(bounded_form), CsrfChecked])
async def submit_form(slug: ChallengeSlug, phase_slug: PhaseSlug, request: Request,
                      db: SessionDep, user: SignedInUser, settings: SettingsDep,
                      storage: StorageDep, dispatcher: DispatcherDep) -> Response:
    """The no-JS upload: 303 to the new submission's page, or the submit page again with the
    service's refusal (its status: 403 no team, 409 phase not open, 422 bad archive, 429
    quota...)."""
    phase, _ = await run_in_threadpool(_phase, db, user, slug, phase_slug)
    archive = (await request.form()).get("file")
    try:
        if not isinstance(archive, UploadFile):
            raise InvalidInput("choose an archive file to upload", code="empty_upload")
        submission_id = await run_in_threadpool(
            _submit_form, db, storage, user, phase, archive, settings.max_submission_bytes,
            dispatcher)
    except DomainError as exc:
        await run_in_threadpool(db.rollback)
        return await run_in_threadpool(_page, request, db, user, slug, phase_slug,
                                       exc.status_code, exc.message)
    return RedirectResponse(f"/submissions/{submission_id}", status_code=303)
