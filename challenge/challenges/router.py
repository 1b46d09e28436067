from __future__ import annotations

from fastapi import APIRouter, status

from challenge.challenges import service
from challenge.challenges.schemas import (
    ChallengeCreate,
    ChallengePublic,
    ChallengeUpdate,
    OrganizerAdd,
)
from challenge.core.deps import ChallengeSlug, CurrentUser, OptionalUser, SessionDep
from challenge.core.pagination import Page, PageDep

router = APIRouter(tags=["challenges"])


@router.get("/challenges", response_model=Page[ChallengePublic])
def list_challenges(db: SessionDep, user: OptionalUser, page: PageDep) -> Page[ChallengePublic]:
    """Published challenges, plus unpublished ones the caller organizes; newest first,
    paginated (``limit``, ``cursor``)."""
    found = service.page_visible(db=db, user=user, page=page)
    return found.page(lambda rows: [ChallengePublic.model_validate(c) for c in rows])


@router.post("/challenges", status_code=status.HTTP_201_CREATED, response_model=ChallengePublic)
def create_challenge(body: ChallengeCreate, db: SessionDep, user: CurrentUser) -> ChallengePublic:
    return ChallengePublic.model_validate(service.create(db=db, user=user, data=body))


@router.get("/challenges/{slug}", response_model=ChallengePublic)
def get_challenge(slug: ChallengeSlug, db: SessionDep, user: OptionalUser) -> ChallengePublic:
    return ChallengePublic.model_validate(service.get(db=db, user=user, slug=slug))


@router.patch("/challenges/{slug}", response_model=ChallengePublic)
def update_challenge(slug: ChallengeSlug, body: ChallengeUpdate, db: SessionDep,
                     user: CurrentUser) -> ChallengePublic:
    return ChallengePublic.model_validate(service.update(db=db, user=user, slug=slug, data=body))


@router.post("/challenges/{slug}/organizers", response_model=ChallengePublic)
def add_organizer(slug: ChallengeSlug, body: OrganizerAdd, db: SessionDep,
                  user: CurrentUser) -> ChallengePublic:
    return ChallengePublic.model_validate(
        service.add_organizer(db=db, user=user, slug=slug, username=body.username))
