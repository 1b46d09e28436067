from __future__ import annotations

from fastapi import APIRouter, status

from challenge import access
from challenge.core.deps import (
    ChallengeSlug,
    CurrentUser,
    DispatcherDep,
    OptionalUser,
    PhaseId,
    SessionDep,
)
from challenge.phases import presenters, service
from challenge.phases.schemas import (
    PhaseConfigVersion,
    PhaseCreate,
    PhasePublic,
    PhaseUpdate,
)

router = APIRouter(tags=["phases"])


@router.get("/challenges/{slug}/phases", response_model=list[PhasePublic])
def list_phases(slug: ChallengeSlug, db: SessionDep, user: OptionalUser) -> list[PhasePublic]:
    phases = service.list_visible(db=db, user=user, slug=slug)
    challenge = access.require_visible_challenge(db, user, slug)
    return presenters.phases_public(db, phases, challenge)


@router.post("/challenges/{slug}/phases", status_code=status.HTTP_201_CREATED,
             response_model=PhasePublic)
def create_phase(slug: ChallengeSlug, body: PhaseCreate, db: SessionDep,
                 user: CurrentUser) -> PhasePublic:
    phase = service.create(db=db, user=user, slug=slug, data=body)
    return presenters.phase_public(db, phase)


@router.get("/phases/{phase_id}", response_model=PhasePublic)
def get_phase(phase_id: PhaseId, db: SessionDep, user: OptionalUser) -> PhasePublic:
    return presenters.phase_public(db, *service.get(db=db, user=user, phase_id=phase_id))


@router.patch("/phases/{phase_id}", response_model=PhasePublic)
def update_phase(phase_id: PhaseId, body: PhaseUpdate, db: SessionDep, dispatcher: DispatcherDep,
                 user: CurrentUser) -> PhasePublic:
    """Edit a phase. Changing the config of an opened phase creates a new config version; a
    change to what is scored (channels, limits, run mode, metrics, dataset) re-queues every
    submission of the phase."""
    phase, _ = service.update(db=db, user=user, phase_id=phase_id, data=body,
                              dispatcher=dispatcher)
    return presenters.phase_public(db, phase)


@router.get("/phases/{phase_id}/configs", response_model=list[PhaseConfigVersion])
def list_config_versions(phase_id: PhaseId, db: SessionDep,
                         user: CurrentUser) -> list[PhaseConfigVersion]:
    return [PhaseConfigVersion(version=c.version, config_hash=c.config_hash, frozen=c.frozen,
                               created_at=c.created_at, dataset_id=c.dataset_id, config=c.config)
            for c in service.config_versions(db=db, user=user, phase_id=phase_id)]
