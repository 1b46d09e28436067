"""``/submissions/{id}``: one submission of the viewer's team (a 404 for anyone else, as in
the API), its evaluations, per-case values only as ``challenge.visibility`` decides (through
``challenge.evaluations.service.case_results``, the API's own function), choosing the team's
representative submission and cancelling a live evaluation.

Container logs: the full log is for organizers (``GET /evaluations/{id}/log``); each
evaluation shows the API detail's ``log_tail`` (the end of what the container printed, no
platform line) when ``challenge.visibility`` gives it to the viewer: organizers, and the team
when the phase allows log tails. Otherwise a team sees the sanitized failure category and
message only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.deps import SessionDep, SubmissionId
from challenge.core.errors import DomainError, NotFound
from challenge.core.pagination import MAX_LIMIT, PageRequest
from challenge.evaluations import presenters as evaluation_presenters
from challenge.evaluations import service as evaluations
from challenge.evaluations.logtail import LOG_TAIL_CHARS
from challenge.evaluations.models import TERMINAL_STATES, Evaluation
from challenge.evaluations.schemas import EvaluationDetail
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Phase
from challenge.submissions import presenters, service
from challenge.web import render
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.render import PageRoute

router = APIRouter(route_class=PageRoute)
#: Per-case rows shown per evaluation at most (a phase's test set is usually far smaller).
MAX_CASES = 2000


def _cases(db: Session, user: User, evaluation_id: int) -> list[dict[str, Any]]:
    """Every page of ``evaluations.case_results`` (call only when the detail says per-case
    values are available to ``user``), up to :data:`MAX_CASES` rows."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < MAX_CASES:
        found = evaluations.case_results(db=db, user=user, evaluation_id=evaluation_id,
                                         page=PageRequest(limit=MAX_LIMIT, cursor=cursor))
        rows.extend(found.items)
        cursor = found.next_cursor
        if cursor is None:
            break
    return rows[:MAX_CASES]


def _evaluation_view(db: Session, user: User, evaluation: Evaluation,
                     organizer: bool) -> dict[str, Any]:
    """The API's detail of ``evaluation`` for ``user``, its per-case rows (empty unless
    published to ``user``) and the metric columns those rows carry, in their order."""
    detail: EvaluationDetail = evaluation_presenters.evaluation_detail(db, user, evaluation,
                                                                       organizer)
    cases = _cases(db, user, evaluation.id) if detail.per_case_available else []
    columns: list[str] = []
    for row in cases:
        columns.extend(m for m in row["metrics"] if m not in columns)
    return {"detail": detail, "cases": cases, "columns": columns,
            "live": detail.state not in TERMINAL_STATES}


def _context(db: Session, user: User, submission_id: int) -> dict[str, Any]:
    submission = service.get(db=db, user=user, submission_id=submission_id)
    phase = db.get(Phase, submission.phase_id)
    assert phase is not None
    challenge = db.get(Challenge, phase.challenge_id)
    assert challenge is not None
    organizer = access.is_organizer(db, user, challenge.id)
    view = service.result_view(db=db, user=user, phase_id=phase.id)
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, phase).config)
    runs = db.scalars(select(Evaluation).where(Evaluation.submission_id == submission.id)
                      .order_by(Evaluation.id.desc()))
    return {"title": f"Submission {submission.id}", "challenge": challenge, "phase": phase,
            "submission": presenters.submission_public(db, submission, view),
            "evaluations": [_evaluation_view(db, user, e, organizer) for e in runs],
            "precision": spec.ranking.precision, "ranked": spec.ranking.metrics,
            "may_select": spec.submissions.counts == "selected" and not organizer,
            "log_tails": view.log_tail, "log_tail_chars": LOG_TAIL_CHARS,
            "alert": None}


def _page(request: Request, db: Session, user: User, submission_id: int, status: int = 200,
          alert: str | None = None) -> HTMLResponse:
    context = _context(db, user, submission_id)
    context["alert"] = alert
    return render.page(request, "participant/submission.html", context, status=status)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse)
def submission_page(submission_id: SubmissionId, request: Request, db: SessionDep,
                    user: SignedInUser) -> HTMLResponse:
    return _page(request, db, user, submission_id)


def _back(submission_id: int) -> RedirectResponse:
    return RedirectResponse(f"/submissions/{submission_id}", status_code=303)


@router.post("/submissions/{submission_id}/select", dependencies=[CsrfChecked])
def select_submission(submission_id: SubmissionId, request: Request, db: SessionDep,
                      user: SignedInUser) -> Response:
    """``service.select_for_ranking``, as ``POST /api/v1/submissions/{id}/select``."""
    try:
        service.select_for_ranking(db=db, user=user, submission_id=submission_id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        return _page(request, db, user, submission_id, exc.status_code, exc.message)
    return _back(submission_id)


@router.post("/submissions/{submission_id}/cancel", dependencies=[CsrfChecked])
def cancel_submission(submission_id: SubmissionId, request: Request, db: SessionDep,
                      user: SignedInUser) -> Response:
    """Cancel the submission's latest evaluation: ``evaluations.service.cancel``, as
    ``POST /api/v1/evaluations/{id}/cancel``."""
    submission = service.get(db=db, user=user, submission_id=submission_id)
    latest = evaluations.latest_for_submission(db=db, submission_id=submission.id)
    if latest is None:
        raise NotFound("the submission has no evaluation to cancel", code="no_evaluation")
    try:
        evaluations.cancel(db=db, user=user, evaluation_id=latest.id)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        return _page(request, db, user, submission_id, exc.status_code, exc.message)
    return _back(submission_id)
