"""A phase's pages for organizers: the config form (with the re-evaluation confirm step),
attaching a dataset, and the phase dashboard (evaluation counts, queue, running, failed with
the organizer log; cancel and re-evaluate)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.challenges.models import Challenge
from challenge.core.deps import DispatcherDep, PhaseSlug, SessionDep, SubmissionId
from challenge.core.errors import DomainError, NotFound
from challenge.core.pagination import MAX_LIMIT, PageRequest
from challenge.datasets import service as datasets
from challenge.evaluations import service as evaluations
from challenge.evaluations.lifecycle import ACTIVE
from challenge.evaluations.models import EvalState, Evaluation
from challenge.evaluations.router import EvaluationId
from challenge.phases import presenters as phase_presenters
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Phase, Visibility
from challenge.phases.schemas import PhasePublic, PhaseUpdate
from challenge.submissions.models import Submission
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.forms import Form, errors_of, text_values
from challenge.web.organizers.deps import OrganizedChallenge
from challenge.web.organizers.forms import flat_values, model_fields, nested_values
from challenge.web.render import PageRoute, page

router = APIRouter(include_in_schema=False, route_class=PageRoute)
CONFIG_FORM = model_fields(PhaseConfigSpec, "config", "Configuration")
SCHEDULE = ("title", "description", "opens_at", "closes_at", "visibility",
            "leaderboard_visibility")
SHOWN = 50
"""Rows of each dashboard list (queue, running, failed)."""


def _phase(db: Session, user: User, challenge: Challenge, phase_slug: str) -> Phase:
    return phases.get_by_slugs(db=db, user=user, challenge_slug=challenge.slug,
                               phase_slug=phase_slug)


def _values(public: PhasePublic) -> dict[str, str]:
    """The edit form's values for the phase as it is."""
    values = {"title": public.title, "description": public.description,
              "opens_at": public.opens_at.isoformat(), "closes_at": public.closes_at.isoformat(),
              "visibility": public.visibility.value,
              "leaderboard_visibility": public.leaderboard_visibility.value,
              "hide_scores_until_close": "on" if public.hide_scores_until_close else "",
              "dataset_id": str(public.dataset.id) if public.dataset else ""}
    defaults = PhaseConfigSpec.model_validate({}).model_dump(mode="json", exclude_defaults=False)
    defaults["reference"] = {"mode": "consensus", "staple_threshold": 0.5, "staple_foreground": 1}
    return {**values, **flat_values(defaults, "config"), **flat_values(public.config, "config")}


def _update_body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: values[k] for k in SCHEDULE if k in values}
    body["hide_scores_until_close"] = bool(values.get("hide_scores_until_close"))
    body["dataset_id"] = values.get("dataset_id") or None
    body["config"] = nested_values(CONFIG_FORM, values, "config")
    return body


def _edit_page(request: Request, db: Session, user: User, challenge: Challenge, phase: Phase,
               values: dict[str, str], errors: dict[str, str], status: int = 200,
               confirm: int | None = None) -> HTMLResponse:
    found = datasets.list_for_challenge(db=db, user=user, slug=challenge.slug,
                                        page=PageRequest(limit=MAX_LIMIT))
    return page(request, "organizer/phase_edit.html", {
        "title": f"Edit {phase.title}", "challenge": challenge, "phase": phase,
        "values": values, "errors": errors, "group": CONFIG_FORM, "confirm": confirm,
        "audiences": [v.value for v in Visibility],
        "datasets": [(str(d.id), f"{d.name} ({d.n_cases} cases)") for d in found.items]},
        status=status)


@router.get("/organize/{slug}/phases/{phase_slug}/edit")
def edit_phase(request: Request, phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge) -> HTMLResponse:
    phase = _phase(db, user, challenge, phase_slug)
    public = phase_presenters.phase_public(db, phase, challenge)
    return _edit_page(request, db, user, challenge, phase, _values(public), {})


@router.post("/organize/{slug}/phases/{phase_slug}/edit", dependencies=[CsrfChecked])
def save_phase(request: Request, phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge, dispatcher: DispatcherDep, form: Form) -> Response:
    """Validate (``PhaseUpdate``: errors next to their fields, 422, values kept); a change
    that re-scores submissions first shows how many (``phases.reevaluation_count``) and
    waits for ``confirm=1``; then ``phases.update`` and 303 to the challenge dashboard."""
    phase = _phase(db, user, challenge, phase_slug)
    values = text_values(form)
    try:
        data = PhaseUpdate.model_validate(_update_body(values))
        count = phases.reevaluation_count(db=db, user=user, phase_id=phase.id, data=data)
    except ValidationError as exc:
        return _edit_page(request, db, user, challenge, phase, values, errors_of(exc), 422)
    except DomainError as exc:
        db.rollback()
        return _edit_page(request, db, user, challenge, phase, values, {"form": exc.message},
                          exc.status_code)
    if count and values.get("confirm") != "1":
        return _edit_page(request, db, user, challenge, phase, values, {}, confirm=count)
    try:
        phases.update(db=db, user=user, phase_id=phase.id, data=data, dispatcher=dispatcher)
    except DomainError as exc:
        db.rollback()
        return _edit_page(request, db, user, challenge, phase, values, {"form": exc.message},
                          exc.status_code)
    return RedirectResponse(f"/organize/{challenge.slug}", status_code=303)


@router.post("/organize/{slug}/phases/{phase_slug}/dataset", dependencies=[CsrfChecked])
def attach_dataset(phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
                   challenge: OrganizedChallenge, dispatcher: DispatcherDep,
                   form: Form) -> RedirectResponse:
    """Attach (``dataset_id``) or detach (empty) the phase's dataset through the phase
    update service; a change re-scoring an opened phase is applied at once (the edit page
    asks first)."""
    phase = _phase(db, user, challenge, phase_slug)
    raw = text_values(form).get("dataset_id", "")
    data = PhaseUpdate.model_validate({"dataset_id": raw or None})
    phases.update(db=db, user=user, phase_id=phase.id, data=data, dispatcher=dispatcher)
    return RedirectResponse(f"/organize/{challenge.slug}", status_code=303)


def _overview(db: Session, user: User, phase: Phase) -> dict[str, Any]:
    queued = evaluations.phase_evaluations(db=db, phase_id=phase.id, limit=SHOWN,
                                           states=[EvalState.queued])
    running = evaluations.phase_evaluations(db=db, phase_id=phase.id, limit=SHOWN,
                                            states=ACTIVE)
    return {"counts": evaluations.phase_counts(db=db, phase_id=phase.id), "queued": queued,
            "running": running,
            "positions": evaluations.queue_positions(db=db, evaluations=queued)}


@router.get("/organize/{slug}/phases/{phase_slug}")
def phase_dashboard(request: Request, phase_slug: PhaseSlug, db: SessionDep,
                    user: SignedInUser, challenge: OrganizedChallenge) -> HTMLResponse:
    phase = _phase(db, user, challenge, phase_slug)
    failed = evaluations.phase_evaluations(db=db, phase_id=phase.id, limit=SHOWN,
                                           states=[EvalState.failed, EvalState.errored],
                                           newest_first=True)
    logs = {e.id: evaluations.organizer_log(db=db, user=user, evaluation_id=e.id)
            for e in failed}
    return page(request, "organizer/phase_dashboard.html", {
        "title": f"{phase.title}: evaluations", "challenge": challenge, "phase": phase,
        "failed": failed, "logs": logs, **_overview(db, user, phase)})


@router.get("/organize/{slug}/phases/{phase_slug}/live")
def phase_live(request: Request, phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge) -> HTMLResponse:
    """The dashboard's counts, queue and running lists alone (htmx refreshes them)."""
    phase = _phase(db, user, challenge, phase_slug)
    return page(request, "organizer/phase_live.html", {
        "challenge": challenge, "phase": phase, **_overview(db, user, phase)})


def _in_phase(db: Session, phase: Phase, submission_id: int) -> Submission:
    submission = db.get(Submission, submission_id)
    if submission is None or submission.phase_id != phase.id:
        raise NotFound(f"no submission {submission_id} in this phase")
    return submission


@router.post("/organize/{slug}/phases/{phase_slug}/evaluations/{evaluation_id}/cancel",
             dependencies=[CsrfChecked])
def cancel(phase_slug: PhaseSlug, evaluation_id: EvaluationId, db: SessionDep,
           user: SignedInUser, challenge: OrganizedChallenge) -> RedirectResponse:
    """``evaluations.cancel`` (the API's), for an evaluation of this phase only."""
    phase = _phase(db, user, challenge, phase_slug)
    evaluation = db.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    _in_phase(db, phase, evaluation.submission_id)
    evaluations.cancel(db=db, user=user, evaluation_id=evaluation_id)
    return RedirectResponse(f"/organize/{challenge.slug}/phases/{phase.slug}", status_code=303)


@router.post("/organize/{slug}/phases/{phase_slug}/submissions/{submission_id}/reevaluate",
             dependencies=[CsrfChecked])
def reevaluate(phase_slug: PhaseSlug, submission_id: SubmissionId, db: SessionDep,
               user: SignedInUser, challenge: OrganizedChallenge,
               dispatcher: DispatcherDep) -> RedirectResponse:
    """``evaluations.reevaluate`` (the API's: organizers, audited, never charged)."""
    phase = _phase(db, user, challenge, phase_slug)
    _in_phase(db, phase, submission_id)
    evaluations.reevaluate(db=db, user=user, submission_id=submission_id, dispatcher=dispatcher)
    return RedirectResponse(f"/organize/{challenge.slug}/phases/{phase.slug}", status_code=303)
