from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy.orm import Session

from challenge import access
from challenge.challenges.models import Challenge
from challenge.core.deps import ChallengeSlug, CurrentUser, OptionalUser, PhaseId, SessionDep
from challenge.datasets.models import Dataset
from challenge.phases import service
from challenge.phases.models import Phase
from challenge.phases.schemas import (
    DatasetSummary,
    PhaseConfigVersion,
    PhaseCreate,
    PhasePublic,
    PhaseUpdate,
)

router = APIRouter(tags=["phases"])


def to_public(db: Session, phase: Phase, challenge: Challenge) -> PhasePublic:
    config = service.current_config(db, phase)
    dataset = db.get(Dataset, config.dataset_id) if config.dataset_id else None
    return PhasePublic(
        id=phase.id, challenge_slug=challenge.slug, slug=phase.slug, title=phase.title,
        description=phase.description, parent_phase_id=phase.parent_phase_id,
        opens_at=phase.opens_at, closes_at=phase.closes_at, status=service.status(phase),
        visibility=phase.visibility, leaderboard_visibility=phase.leaderboard_visibility,
        hide_scores_until_close=phase.hide_scores_until_close, config_version=config.version,
        config_hash=config.config_hash, config=config.config,
        dataset=DatasetSummary(id=dataset.id, name=dataset.name, checksum=dataset.checksum,
                               n_cases=dataset.n_cases, channels=dataset.channels)
        if dataset else None,
    )


@router.get("/challenges/{slug}/phases", response_model=list[PhasePublic])
def list_phases(slug: ChallengeSlug, db: SessionDep, user: OptionalUser) -> list[PhasePublic]:
    phases = service.list_visible(db=db, user=user, slug=slug)
    challenge = access.require_visible_challenge(db, user, slug)
    return [to_public(db, p, challenge) for p in phases]


@router.post("/challenges/{slug}/phases", status_code=status.HTTP_201_CREATED,
             response_model=PhasePublic)
def create_phase(slug: ChallengeSlug, body: PhaseCreate, db: SessionDep,
                 user: CurrentUser) -> PhasePublic:
    phase = service.create(db=db, user=user, slug=slug, data=body)
    return to_public(db, phase, db.get(Challenge, phase.challenge_id))  # type: ignore[arg-type]


@router.get("/phases/{phase_id}", response_model=PhasePublic)
def get_phase(phase_id: PhaseId, db: SessionDep, user: OptionalUser) -> PhasePublic:
    return to_public(db, *service.get(db=db, user=user, phase_id=phase_id))


@router.patch("/phases/{phase_id}", response_model=PhasePublic)
def update_phase(phase_id: PhaseId, body: PhaseUpdate, request: Request, db: SessionDep,
                 user: CurrentUser) -> PhasePublic:
    """Edit a phase. Changing the config of an opened phase creates a new config version; a
    change to what is scored (channels, limits, run mode, metrics, dataset) re-queues every
    submission of the phase."""
    phase, _ = service.update(db=db, user=user, phase_id=phase_id, data=body,
                              dispatcher=request.app.state.dispatcher)
    return to_public(db, phase, db.get(Challenge, phase.challenge_id))  # type: ignore[arg-type]


@router.get("/phases/{phase_id}/configs", response_model=list[PhaseConfigVersion])
def list_config_versions(phase_id: PhaseId, db: SessionDep,
                         user: CurrentUser) -> list[PhaseConfigVersion]:
    return [PhaseConfigVersion(version=c.version, config_hash=c.config_hash, frozen=c.frozen,
                               created_at=c.created_at, dataset_id=c.dataset_id, config=c.config)
            for c in service.config_versions(db=db, user=user, phase_id=phase_id)]
