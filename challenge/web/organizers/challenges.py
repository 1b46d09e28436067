"""``/organize``: the organizer's challenges, creating one (from a YAML spec or a form), and
a challenge's dashboard with its publish switch, phases (add, open, close) and datasets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from challenge import access
from challenge.accounts.models import User
from challenge.challenges import service as challenges
from challenge.challenges.models import Challenge
from challenge.challenges.schemas import ChallengeCreate, ChallengeUpdate
from challenge.challenges.spec import SpecError
from challenge.core.db import utcnow
from challenge.core.deps import DispatcherDep, PhaseSlug, SessionDep
from challenge.core.errors import DomainError
from challenge.core.pagination import MAX_LIMIT, PageRequest
from challenge.datasets import service as datasets
from challenge.evaluations.dispatch import Dispatcher
from challenge.phases import presenters as phase_presenters
from challenge.phases import service as phases
from challenge.phases.models import Visibility
from challenge.phases.schemas import PhaseCreate, PhaseUpdate
from challenge.web.deps import CsrfChecked, SignedInUser
from challenge.web.forms import Form, errors_of, text_values
from challenge.web.organizers import creating
from challenge.web.organizers.deps import OrganizedChallenge
from challenge.web.render import PageRoute, page

router = APIRouter(include_in_schema=False, route_class=PageRoute)
AUDIENCES = [v.value for v in Visibility]


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/organize")
def my_challenges(request: Request, db: SessionDep, user: SignedInUser) -> HTMLResponse:
    return page(request, "organizer/index.html", {
        "title": "Organize", "challenges": challenges.list_organized(db=db, user=user),
        "may_create": _may_create(user)})


def _may_create(user: User) -> bool:
    try:
        access.require_may_create_challenge(user)
    except DomainError:
        return False
    return True


def _new_page(request: Request, spec: str = "", problems: list[str] | None = None,
              status: int = 200, extra: dict[str, Any] | None = None) -> HTMLResponse:
    return page(request, "organizer/new.html", {
        "title": "New challenge", "spec": spec, "problems": problems or [],
        "max_kib": creating.MAX_SPEC_BYTES // 1024, **(extra or {})}, status=status)


@router.get("/organize/new")
def new_challenge(request: Request, user: SignedInUser) -> HTMLResponse:
    access.require_may_create_challenge(user)
    return _new_page(request)


@router.post("/organize/new", dependencies=[CsrfChecked])
def create_from_spec(request: Request, db: SessionDep, user: SignedInUser,
                     form: Form) -> Response:
    """Validate the pasted or uploaded spec (problems: 422, each with its line, the text
    kept), then create the challenge and its phases; 303 to its dashboard."""
    access.require_may_create_challenge(user)
    pasted = text_values(form).get("spec", "")
    upload = form.get("spec_file")
    raw = (upload.file.read(creating.MAX_SPEC_BYTES + 1)
           if isinstance(upload, UploadFile) and upload.filename else None)
    try:
        text, spec = creating.spec_from(pasted, raw)
    except SpecError as exc:
        shown = pasted if raw is None else (raw[:creating.MAX_SPEC_BYTES].decode(
            "utf-8", "replace") if b"\0" not in raw else pasted)
        return _new_page(request, shown, exc.lines(), status=422)
    try:
        created = creating.create_from_spec(db=db, user=user, spec=spec)
    except DomainError as exc:
        db.rollback()
        return _new_page(request, text, [exc.message], status=exc.status_code)
    if created.stopped:
        return _new_page(request, text, [created.stopped], status=409, extra={
            "partial": created.challenge.slug, "created_phases": created.phases})
    return see_other(f"/organize/{spec.slug}")


def _form_page(request: Request, values: dict[str, str], errors: dict[str, str],
               status: int = 200) -> HTMLResponse:
    return page(request, "organizer/new_form.html", {
        "title": "New challenge (form)", "values": values, "errors": errors}, status=status)


@router.get("/organize/new/form")
def new_challenge_form(request: Request, user: SignedInUser) -> HTMLResponse:
    access.require_may_create_challenge(user)
    return _form_page(request, {}, {})


@router.post("/organize/new/form", dependencies=[CsrfChecked])
def create_from_form(request: Request, db: SessionDep, user: SignedInUser,
                     form: Form) -> Response:
    access.require_may_create_challenge(user)
    values = text_values(form)
    try:
        data = ChallengeCreate.model_validate(
            {k: values.get(k, "") for k in ("slug", "title", "description")})
    except ValidationError as exc:
        return _form_page(request, values, errors_of(exc), status=422)
    try:
        challenges.create(db=db, user=user, data=data)
    except DomainError as exc:
        db.rollback()
        return _form_page(request, values, {"slug": exc.message}, status=exc.status_code)
    return see_other(f"/organize/{data.slug}")


def _dashboard(request: Request, db: Session, user: User, challenge: Challenge,
               phase_values: dict[str, str] | None = None,
               phase_errors: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    rows = phases.list_visible(db=db, user=user, slug=challenge.slug)
    found = datasets.list_for_challenge(db=db, user=user, slug=challenge.slug,
                                        page=PageRequest(limit=MAX_LIMIT))
    return page(request, "organizer/challenge.html", {
        "title": challenge.title, "challenge": challenge,
        "phases": phase_presenters.phases_public(db, rows, challenge),
        "datasets": found.items, "more_datasets": found.next_cursor is not None,
        "organizers": challenges.organizer_names(db=db, challenge=challenge),
        "audiences": AUDIENCES, "values": phase_values or {}, "errors": phase_errors or {}},
        status=status)


@router.get("/organize/{slug}")
def dashboard(request: Request, db: SessionDep, user: SignedInUser,
              challenge: OrganizedChallenge) -> HTMLResponse:
    return _dashboard(request, db, user, challenge)


@router.post("/organize/{slug}/publish", dependencies=[CsrfChecked])
def publish(db: SessionDep, user: SignedInUser, challenge: OrganizedChallenge) -> RedirectResponse:
    challenges.update(db=db, user=user, slug=challenge.slug,
                      data=ChallengeUpdate(is_published=True))
    return see_other(f"/organize/{challenge.slug}")


@router.post("/organize/{slug}/unpublish", dependencies=[CsrfChecked])
def unpublish(db: SessionDep, user: SignedInUser,
              challenge: OrganizedChallenge) -> RedirectResponse:
    challenges.update(db=db, user=user, slug=challenge.slug,
                      data=ChallengeUpdate(is_published=False))
    return see_other(f"/organize/{challenge.slug}")


PHASE_FIELDS = ("slug", "title", "description", "opens_at", "closes_at", "visibility",
                "leaderboard_visibility")


@router.post("/organize/{slug}/phases", dependencies=[CsrfChecked])
def add_phase(request: Request, db: SessionDep, user: SignedInUser,
              challenge: OrganizedChallenge, form: Form) -> Response:
    """The "Add a phase" form: ``PhaseCreate`` with the default config (edit it next)."""
    values = text_values(form)
    body: dict[str, str | bool] = {k: values[k] for k in PHASE_FIELDS if values.get(k)}
    body["hide_scores_until_close"] = "hide_scores_until_close" in values
    try:
        data = PhaseCreate.model_validate(body)
        phases.create(db=db, user=user, slug=challenge.slug, data=data)
    except ValidationError as exc:
        return _dashboard(request, db, user, challenge, values, errors_of(exc), status=422)
    except DomainError as exc:
        db.rollback()
        return _dashboard(request, db, user, challenge, values, {"slug": exc.message},
                          status=exc.status_code)
    return see_other(f"/organize/{challenge.slug}")


def _set_schedule(db: Session, user: User, challenge: Challenge, phase_slug: str,
                  dispatcher: Dispatcher, *, field: str) -> RedirectResponse:
    phase = phases.get_by_slugs(db=db, user=user, challenge_slug=challenge.slug,
                                phase_slug=phase_slug)
    phases.update(db=db, user=user, phase_id=phase.id, dispatcher=dispatcher,
                  data=PhaseUpdate.model_validate({field: utcnow()}))
    return see_other(f"/organize/{challenge.slug}")


@router.post("/organize/{slug}/phases/{phase_slug}/open", dependencies=[CsrfChecked])
def open_phase(phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
               challenge: OrganizedChallenge, dispatcher: DispatcherDep) -> RedirectResponse:
    """Open now: ``opens_at`` = now through the phase update service (which refuses it for
    a phase that has closed already)."""
    return _set_schedule(db, user, challenge, phase_slug, dispatcher, field="opens_at")


@router.post("/organize/{slug}/phases/{phase_slug}/close", dependencies=[CsrfChecked])
def close_phase(phase_slug: PhaseSlug, db: SessionDep, user: SignedInUser,
                challenge: OrganizedChallenge, dispatcher: DispatcherDep) -> RedirectResponse:
    """Close now: ``closes_at`` = now (refused for a phase that has not opened yet)."""
    return _set_schedule(db, user, challenge, phase_slug, dispatcher, field="closes_at")
