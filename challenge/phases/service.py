from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge import access
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge
from challenge.core import notify
from challenge.core.conflicts import unique_conflicts
from challenge.core.db import utcnow
from challenge.core.errors import Conflict, InvalidInput, NotFound
from challenge.datasets.models import Dataset, DatasetCase
from challenge.evaluations import service as evaluations
from challenge.evaluations.dispatch import Dispatcher
from challenge.phases.config import PhaseConfigSpec, config_hash, needs_reevaluation
from challenge.phases.models import Phase, PhaseConfig
from challenge.phases.schemas import PhaseCreate, PhaseUpdate
from challenge.sites import service as sites
from challenge.submissions.models import Submission
from evaluator.consensus import rule_mismatch


def status(phase: Phase, now: datetime | None = None) -> Literal["upcoming", "open", "closed"]:
    now = now or utcnow()
    if now < phase.opens_at:
        return "upcoming"
    return "open" if now < phase.closes_at else "closed"


def list_visible(*, db: Session, user: User | None, slug: str) -> list[Phase]:
    challenge = access.require_visible_challenge(db, user, slug)
    phases = db.scalars(select(Phase).where(Phase.challenge_id == challenge.id)
                        .order_by(Phase.opens_at, Phase.id))
    return [p for p in phases if access.audience_allows(db, user, challenge, p.visibility)]


def get(*, db: Session, user: User | None, phase_id: int) -> tuple[Phase, Challenge]:
    return access.require_visible_phase(db, user, phase_id)


def current_config(db: Session, phase: Phase) -> PhaseConfig:
    config = db.get(PhaseConfig, phase.current_config_id)
    assert config is not None, "every phase has a config version"
    return config


class CurrentConfig(NamedTuple):
    """A phase's current config version and the dataset it names (None: no dataset yet)."""

    config: PhaseConfig
    dataset: Dataset | None


def current_configs(db: Session, phases: Sequence[Phase]) -> dict[int, CurrentConfig]:
    """``CurrentConfig`` of each of ``phases`` by phase id, in one query."""
    config_ids = [p.current_config_id for p in phases]
    if not config_ids:
        return {}
    rows = db.execute(select(PhaseConfig, Dataset)
                      .outerjoin(Dataset, Dataset.id == PhaseConfig.dataset_id)
                      .where(PhaseConfig.id.in_(config_ids)))
    by_id = {config.id: CurrentConfig(config, dataset) for config, dataset in rows.tuples()}
    current = {}
    for phase in phases:
        assert phase.current_config_id is not None, "every phase has a config version"
        current[phase.id] = by_id[phase.current_config_id]
    return current


def _dataset_for(db: Session, challenge: Challenge, dataset_id: int | None,
                 phase: Phase | None = None) -> Dataset | None:
    """The dataset a phase (None: one being created) is to score against. A manifest-only
    dataset has no files here, so only a phase with an evaluation site may use it."""
    if dataset_id is None:
        return None
    dataset = db.get(Dataset, dataset_id)
    if dataset is None or dataset.challenge_id != challenge.id:
        raise InvalidInput(f"dataset {dataset_id} does not belong to this challenge",
                           code="unknown_dataset")
    if dataset.manifest_only and (phase is None or not sites.has_site(db, phase.id)):
        raise InvalidInput(f"dataset {dataset_id} is registered by manifest only: register an "
                           "evaluation site for the phase first", code="manifest_needs_site")
    return dataset


def _check_channels(dataset: Dataset | None, spec: PhaseConfigSpec) -> None:
    if dataset is not None and set(spec.channels) - set(dataset.channels):
        raise InvalidInput(f"the phase asks for channels {spec.channels} but the dataset has "
                           f"{dataset.channels}", code="channel_mismatch")


def _check_reference(db: Session, dataset: Dataset | None, spec: PhaseConfigSpec) -> None:
    """The phase's reference rule must fit the dataset (``evaluator.consensus.rule_mismatch``)."""
    if dataset is None:
        return
    lacking = db.scalar(select(DatasetCase.case_id).where(
        DatasetCase.dataset_id == dataset.id, DatasetCase.reference_checksum == "")
        .order_by(DatasetCase.case_id).limit(1)) if dataset.raters else None
    mismatch = rule_mismatch(spec.reference.mode, has_raters=bool(dataset.raters),
                             case_without_consensus=lacking)
    if mismatch is not None:
        code, reason = mismatch
        raise InvalidInput(f"dataset {dataset.name!r}: {reason}", code=code)


def _new_version(db: Session, phase: Phase, spec: PhaseConfigSpec, dataset: Dataset | None,
                 user: User, version: int) -> PhaseConfig:
    data = spec.model_dump(mode="json")
    row = PhaseConfig(phase_id=phase.id, version=version, config=data,
                      dataset_id=dataset.id if dataset else None,
                      config_hash=config_hash(data, dataset.checksum if dataset else None),
                      created_by_id=user.id)
    db.add(row)
    with unique_conflicts(db):  # a concurrent edit took this version number: 409
        db.flush()
    phase.current_config_id = row.id
    return row


def create(*, db: Session, user: User, slug: str, data: PhaseCreate) -> Phase:
    challenge = access.require_visible_challenge(db, user, slug)
    access.require_organizer(db, user, challenge)
    if db.scalar(select(Phase.id).where(Phase.challenge_id == challenge.id,
                                        Phase.slug == data.slug)) is not None:
        raise Conflict(f"this challenge has a phase {data.slug!r} already", code="slug_taken")
    parent_id = None
    if data.parent_phase_slug is not None:
        parent_id = db.scalar(select(Phase.id).where(Phase.challenge_id == challenge.id,
                                                     Phase.slug == data.parent_phase_slug))
        if parent_id is None:
            raise InvalidInput(f"no phase {data.parent_phase_slug!r} in this challenge",
                               code="unknown_parent_phase")
    dataset = _dataset_for(db, challenge, data.dataset_id)
    _check_channels(dataset, data.config)
    _check_reference(db, dataset, data.config)
    phase = Phase(challenge_id=challenge.id, slug=data.slug, title=data.title,
                  description=data.description, parent_phase_id=parent_id,
                  opens_at=data.opens_at, closes_at=data.closes_at, visibility=data.visibility,
                  leaderboard_visibility=data.leaderboard_visibility,
                  hide_scores_until_close=data.hide_scores_until_close)
    db.add(phase)
    with unique_conflicts(db):
        db.flush()
    config = _new_version(db, phase, data.config, dataset, user, version=1)
    audit.record(db=db, actor=user, action="phase.create", object_type="phase",
                 object_id=phase.id, challenge_id=challenge.id, config_hash=config.config_hash,
                 sandbox=data.config.sandbox.model_dump())
    db.commit()
    return phase


def is_frozen(db: Session, phase: Phase, config: PhaseConfig,
              opens_at: datetime | None = None) -> bool:
    """A config is frozen once the phase has opened (``opens_at``: the opening to judge by,
    default the phase's) or has received a submission."""
    if config.frozen or utcnow() >= (opens_at or phase.opens_at):
        return True
    return bool(db.scalar(select(func.count()).select_from(Submission)
                          .where(Submission.phase_id == phase.id)))


class ConfigChange(NamedTuple):
    """What an edit does to a phase's config (``plan_config``): the spec and dataset it
    leaves, their hash, whether it makes a new (frozen-config) version and whether that
    version re-scores every submission of the phase."""

    old: PhaseConfig
    spec: PhaseConfigSpec
    dataset: Dataset | None
    new_hash: str
    new_version: bool
    reevaluate: bool


def plan_config(db: Session, challenge: Challenge, phase: Phase, data: PhaseUpdate,
                opens_at: datetime) -> ConfigChange:
    """Check ``data``'s config and dataset against the phase (``InvalidInput`` when they do
    not fit) and decide what saving them does; writes nothing. ``opens_at``: the phase's
    opening once the edit is applied. The one place deciding re-evaluation: ``update``
    applies it, ``reevaluation_count`` reports it."""
    old = current_config(db, phase)
    old_spec = PhaseConfigSpec.model_validate(old.config)
    spec = data.config or old_spec
    dataset_id = data.dataset_id if "dataset_id" in data.model_fields_set else old.dataset_id
    dataset = _dataset_for(db, challenge, dataset_id, phase)
    _check_channels(dataset, spec)
    _check_reference(db, dataset, spec)
    new_hash = config_hash(spec.model_dump(mode="json"), dataset.checksum if dataset else None)
    new_version = new_hash != old.config_hash and is_frozen(db, phase, old, opens_at)
    reevaluate = new_version and (needs_reevaluation(old_spec, spec)
                                  or old.dataset_id != dataset_id)
    return ConfigChange(old, spec, dataset, new_hash, new_version, reevaluate)


def reevaluation_count(*, db: Session, user: User, phase_id: int, data: PhaseUpdate) -> int:
    """How many evaluations ``update`` with ``data`` would queue again (every submission of
    the phase when the change re-scores a frozen config; else 0). Same checks and refusals
    as ``update``; changes nothing."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    access.require_organizer(db, user, challenge)
    plan = plan_config(db, challenge, phase, data, data.opens_at or phase.opens_at)
    return evaluations.requeue_count(db=db, phase=phase) if plan.reevaluate else 0


def update(*, db: Session, user: User, phase_id: int, data: PhaseUpdate,
           dispatcher: Dispatcher) -> tuple[Phase, bool]:
    """Apply an edit. Returns (phase, reevaluate): True when a frozen config got a new version
    whose scoring part changed, so every submission of the phase was queued again (and each
    new evaluation sent to ``dispatcher`` once committed)."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    access.require_organizer(db, user, challenge)
    changes = data.model_dump(exclude_unset=True, exclude={"config", "dataset_id"}, mode="json")
    for key in ("title", "description", "opens_at", "closes_at", "visibility",
                "leaderboard_visibility", "hide_scores_until_close"):
        value = getattr(data, key)
        if value is not None:
            setattr(phase, key, value)
    if phase.closes_at <= phase.opens_at:
        raise InvalidInput("closes_at must be after opens_at", code="invalid_schedule")

    plan = plan_config(db, challenge, phase, data, phase.opens_at)
    old, spec, dataset = plan.old, plan.spec, plan.dataset
    if plan.new_hash != old.config_hash:
        if plan.new_version:
            old.frozen = True
            new = _new_version(db, phase, spec, dataset, user, version=old.version + 1)
        else:
            old.config, old.config_hash = spec.model_dump(mode="json"), plan.new_hash
            old.dataset_id = dataset.id if dataset else None
            new = old
        changes.update(config_version=new.version, config_hash=new.config_hash,
                       sandbox=spec.sandbox.model_dump())
    requeued = evaluations.requeue_phase(db=db, phase=phase) if plan.reevaluate else []
    audit.record(db=db, actor=user, action="phase.update", object_type="phase",
                 object_id=phase.id, challenge_id=challenge.id, changes=changes,
                 reevaluated_submissions=len(requeued))
    notify.phase_changed(db, phase.id)
    db.commit()
    for evaluation_id in requeued:
        dispatcher.notify(evaluation_id)
    return phase, plan.reevaluate


def config_versions(*, db: Session, user: User, phase_id: int) -> list[PhaseConfig]:
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    access.require_organizer(db, user, challenge)
    return list(db.scalars(select(PhaseConfig).where(PhaseConfig.phase_id == phase.id)
                           .order_by(PhaseConfig.version)))


def get_by_slugs(*, db: Session, user: User | None, challenge_slug: str, phase_slug: str) -> Phase:
    challenge = access.require_visible_challenge(db, user, challenge_slug)
    phase_id = db.scalar(select(Phase.id).where(Phase.challenge_id == challenge.id,
                                                Phase.slug == phase_slug))
    if phase_id is None:
        raise NotFound(f"no phase {phase_slug!r}")
    return access.require_visible_phase(db, user, phase_id)[0]
