"""Phases as the API shows them (``PhasePublic``), built from loaded rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from challenge.challenges.models import Challenge
from challenge.phases import service
from challenge.phases.models import Phase
from challenge.phases.schemas import DatasetSummary, PhasePublic


def _public(phase: Phase, challenge_slug: str, current: service.CurrentConfig) -> PhasePublic:
    config, dataset = current
    return PhasePublic(
        id=phase.id, challenge_slug=challenge_slug, slug=phase.slug, title=phase.title,
        description=phase.description, parent_phase_id=phase.parent_phase_id,
        opens_at=phase.opens_at, closes_at=phase.closes_at, status=service.status(phase),
        visibility=phase.visibility, leaderboard_visibility=phase.leaderboard_visibility,
        hide_scores_until_close=phase.hide_scores_until_close, config_version=config.version,
        config_hash=config.config_hash, config=config.config,
        dataset=DatasetSummary(id=dataset.id, name=dataset.name, checksum=dataset.checksum,
                               n_cases=dataset.n_cases, channels=dataset.channels)
        if dataset else None,
    )


def phases_public(db: Session, phases: Sequence[Phase], challenge: Challenge) -> list[PhasePublic]:
    """``phases`` (all of ``challenge``), in their order; their configs in one query."""
    current = service.current_configs(db, phases)
    return [_public(p, challenge.slug, current[p.id]) for p in phases]


def phase_public(db: Session, phase: Phase, challenge: Challenge | None = None) -> PhasePublic:
    """One phase; its ``challenge`` is looked up when not given."""
    challenge = challenge or db.get(Challenge, phase.challenge_id)
    assert challenge is not None  # a phase belongs to a challenge
    return phases_public(db, [phase], challenge)[0]
