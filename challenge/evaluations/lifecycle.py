"""The evaluation state machine as seen by workers (DESIGN section 6, STYLE "a job is a state
machine").

Every step is a compare-and-set ``UPDATE ... WHERE id = :id AND state IN (...) AND worker_id =
:me AND attempt = :n``: it takes the row lock (PostgreSQL) or the write lock (SQLite), checks the
state it expects and the job's owner, and acts only when both hold. A worker that lost its job
(reaped after missing heartbeats, or cancelled) learns it from a zero row count and stops; its
late writes change nothing. (evaluation, case) is unique, so a case is never stored twice.

    queued -> provisioning -> running -> scoring -> succeeded | failed
       ^           |             |          |
       +-----------+-------------+----------+  platform fault or dead worker (attempt < max)
                                                else errored (refunded); cancel -> cancelled
                                                (refunded only before a case was scored)

Where a job runs: a phase with an evaluation site (``challenge.sites``) is evaluated only by its
site's worker, which claims ("leases") over HTTP with ``site`` set; the platform's own workers
never claim such a phase's jobs (``_runs_at``). A lease is a claim like any other: the same
heartbeats, the same reaper, the same compare-and-set writes.

Refunds of the quota charge are decided by one rule, ``charge.may_refund``: only the evaluation
created with the upload holds the charge, and a cancel after a case was scored refunds nothing.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from challenge.core import notify
from challenge.core.db import utcnow
from challenge.datasets.models import Dataset, DatasetCase
from challenge.evaluations.charge import RefundReason, case_ran, refund
from challenge.evaluations.models import TERMINAL_STATES, CaseResult, EvalState, Evaluation
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import PhaseConfig
from challenge.sites.models import EvaluationSite
from challenge.submissions.models import Submission
from evaluator.spec import EvaluationSpec

ACTIVE = (EvalState.provisioning, EvalState.running, EvalState.scoring)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class JobRef:
    """Which attempt of an evaluation a worker holds: what every compare-and-set checks."""

    evaluation_id: int
    attempt: int
    worker_id: str


@dataclass(frozen=True)
class Job(JobRef):
    """A claimed evaluation: its reference and what the worker needs to run it (plain data and
    the validated spec, no ORM rows)."""

    submission_id: int
    archive_key: str
    image_digest: str
    spec: EvaluationSpec
    dataset_key: str | None
    case_ids: list[str]
    #: The dataset's raters (empty: one reference per case), its id and checksum (what the
    #: human baseline is keyed on).
    raters: tuple[str, ...] = ()
    dataset_id: int | None = None
    dataset_checksum: str | None = None


@dataclass(frozen=True)
class SiteClaim:
    """An evaluation site claiming a job of its phase (``challenge.sites.service.lease``)."""

    site_id: int
    phase_id: int
    worker_version: str


def _runs_at(site: SiteClaim | None) -> ColumnElement[bool]:
    """Which evaluations a claimer may take: a site only its phase's, the platform's own
    workers only those of phases without any site (revoked ones included: the data is there,
    not here)."""
    if site is None:
        return Evaluation.submission_id.not_in(
            select(Submission.id).where(Submission.phase_id.in_(
                select(EvaluationSite.phase_id))))
    return Evaluation.submission_id.in_(
        select(Submission.id).where(Submission.phase_id == site.phase_id))


def _cas(db: Session, job: JobRef, states: tuple[EvalState, ...], **values: Any) -> bool:
    result = db.execute(
        update(Evaluation)
        .where(Evaluation.id == job.evaluation_id, Evaluation.state.in_(states),
               Evaluation.worker_id == job.worker_id, Evaluation.attempt == job.attempt)
        .values(**values)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


def _ended(db: Session, evaluation_id: int, refund_for: RefundReason | None) -> None:
    """What every move into a terminal state does next, in the same transaction: ask
    ``charge.refund`` when ``refund_for`` is given, and announce the phase's new results to
    the servers' leaderboard caches (``notify``; delivered at commit, on PostgreSQL)."""
    if refund_for is not None:
        refund(db, evaluation_id, refund_for)
    if notify.listening(db):
        phase_id = db.scalar(select(Submission.phase_id)
                             .join(Evaluation, Evaluation.submission_id == Submission.id)
                             .where(Evaluation.id == evaluation_id))
        if phase_id is not None:
            notify.phase_changed(db, phase_id)


def claim(db: Session, evaluation_id: int, worker_id: str,
          site: SiteClaim | None = None) -> Job | None:
    """Take a queued evaluation (queued -> provisioning). None when someone else has it,
    it was cancelled, it finished already, or it runs elsewhere (``_runs_at``): running a job
    twice is a no-op."""
    now = utcnow()
    taken = db.execute(
        update(Evaluation)
        .where(Evaluation.id == evaluation_id, Evaluation.state == EvalState.queued,
               _runs_at(site))
        .values(state=EvalState.provisioning, worker_id=worker_id, started_at=now,
                heartbeat_at=now, attempt=Evaluation.attempt + 1, cases_done=0,
                failure_category=None, failure_message=None,
                site_id=site.site_id if site else None,
                worker_version=site.worker_version if site else None)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        db.rollback()
        return None
    # A previous attempt may have stored some cases before its worker died: start clean.
    db.execute(delete(CaseResult).where(CaseResult.evaluation_id == evaluation_id))
    evaluation = db.get(Evaluation, evaluation_id, populate_existing=True)
    assert evaluation is not None
    submission = db.get(Submission, evaluation.submission_id)
    config = db.get(PhaseConfig, evaluation.phase_config_id)
    assert submission is not None and config is not None
    dataset = db.get(Dataset, config.dataset_id) if config.dataset_id else None
    case_ids = [] if dataset is None else list(db.scalars(
        select(DatasetCase.case_id).where(DatasetCase.dataset_id == dataset.id)
        .order_by(DatasetCase.case_id)))
    evaluation.cases_total = len(case_ids)
    job = Job(evaluation_id=evaluation_id, attempt=evaluation.attempt, worker_id=worker_id,
              submission_id=submission.id, archive_key=submission.archive_key,
              image_digest=submission.image_digest,
              spec=PhaseConfigSpec.model_validate(config.config).evaluation(),
              dataset_key=dataset.storage_key if dataset else None, case_ids=case_ids,
              raters=tuple(dataset.raters or ()) if dataset else (),
              dataset_id=dataset.id if dataset else None,
              dataset_checksum=dataset.checksum if dataset else None)
    db.commit()
    return job


def next_queued(db: Session, site: SiteClaim | None = None) -> list[int]:
    """Ids of queued evaluations ``site`` (None: the platform's workers) may claim, oldest
    first (claiming decides who gets each)."""
    return list(db.scalars(select(Evaluation.id).where(Evaluation.state == EvalState.queued,
                                                       _runs_at(site))
                           .order_by(Evaluation.queued_at, Evaluation.id).limit(20)))


def queued_longer_than(db: Session, seconds: float) -> list[int]:
    """Ids of evaluations queued more than ``seconds`` ago, oldest first (the sweeper re-sends
    them: a broker restart may have lost their message)."""
    cutoff = utcnow() - timedelta(seconds=seconds)
    return list(db.scalars(select(Evaluation.id)
                           .where(Evaluation.state == EvalState.queued,
                                  Evaluation.queued_at < cutoff, _runs_at(None))
                           .order_by(Evaluation.queued_at, Evaluation.id)))


def advance(db: Session, job: JobRef, expected: EvalState, new: EvalState) -> bool:
    ok = _cas(db, job, (expected,), state=new, heartbeat_at=utcnow())
    db.commit()
    return ok


def heartbeat(db: Session, job: JobRef) -> bool | None:
    """Refresh the heartbeat. Returns whether cancellation was requested, or None when the job
    is no longer this worker's (reaped, cancelled, finished)."""
    ok = _cas(db, job, ACTIVE, heartbeat_at=utcnow())
    cancel = db.scalar(select(Evaluation.cancel_requested)
                       .where(Evaluation.id == job.evaluation_id)) if ok else None
    db.commit()
    return bool(cancel) if ok else None


@dataclass(frozen=True)
class CaseRecord:
    """One scored case as the worker stores it (sanitized ``category``, flat ``metrics``)."""

    case_id: str
    status: str
    category: str | None
    metrics: dict[str, float | int | None]
    flags: list[str]
    #: The same metrics against each rater, by rater name (empty for one reference).
    rater_metrics: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


def record_case(db: Session, job: JobRef, case_id: str, status: str, category: str | None,
                metrics: dict[str, float | int | None], flags: list[str],
                rater_metrics: dict[str, dict[str, float | int | None]] | None = None) -> bool:
    """Store one case's result (and its metrics against each rater, when the dataset has
    raters) and count it done, atomically; False when the job is lost (``record_cases`` with
    one record)."""
    return record_cases(db, job, [CaseRecord(case_id, status, category, metrics, flags,
                                             rater_metrics or {})])


def record_cases(db: Session, job: JobRef, records: Sequence[CaseRecord]) -> bool:
    """Store several cases' results and count them done, in one transaction (one
    compare-and-set, one insert, one commit); False when the job is lost, and then none of
    them is stored. The first case that ran stamps ``first_scored_at`` (kept across
    attempts): from then on a cancel no longer refunds the submission. A case already
    stored for this evaluation makes the insert fail (``(evaluation, case)`` is unique)."""
    if not records:
        return True
    now = utcnow()
    scored = ({"first_scored_at": func.coalesce(Evaluation.first_scored_at, now)}
              if any(case_ran(r.category) for r in records) else {})
    if not _cas(db, job, (EvalState.running, EvalState.scoring),
                cases_done=Evaluation.cases_done + len(records), heartbeat_at=now, **scored):
        db.rollback()
        return False
    db.add_all([CaseResult(evaluation_id=job.evaluation_id, case_id=r.case_id,
                           status=r.status, category=r.category, metrics=r.metrics,
                           flags=r.flags, rater_metrics=r.rater_metrics or None)
                for r in records])
    db.commit()
    return True


def finish(db: Session, job: JobRef, state: EvalState, *, category: str | None = None,
           message: str | None = None, organizer_log: str | None = None,
           summary: dict[str, Any] | None = None, evaluator_version: str | None = None,
           refund_for: RefundReason | None = None) -> bool:
    """End the job in ``state``; ``refund_for`` asks ``charge.refund`` (a cancel, say), which
    decides whether the submission is refunded."""
    assert state in TERMINAL_STATES
    ok = _cas(db, job, ACTIVE, state=state, finished_at=utcnow(), failure_category=category,
              failure_message=message, organizer_log=organizer_log, summary=summary,
              evaluator_version=evaluator_version)
    if ok:
        _ended(db, job.evaluation_id, refund_for)
    db.commit()
    return ok


def platform_fault(db: Session, job: JobRef, detail: str, max_retries: int) -> EvalState | None:
    """The platform failed (engine down, disk full...): re-queue the job, or after
    ``max_retries`` attempts end it ``errored``, which refunds the submission when this
    evaluation holds its charge (an organizer's re-evaluation never charged it)."""
    state = EvalState.queued if job.attempt < max_retries else EvalState.errored
    values: dict[str, Any] = {"state": state, "worker_id": None, "organizer_log": detail[-65536:]}
    if state == EvalState.errored:
        values.update(finished_at=utcnow(), failure_category="platform_error",
                      failure_message="the platform could not evaluate this submission; "
                                      "it is not charged to your quota")
    else:
        values.update(queued_at=utcnow())
    ok = _cas(db, job, ACTIVE, **values)
    if ok and state == EvalState.errored:
        _ended(db, job.evaluation_id, RefundReason.platform_fault)
    db.commit()
    return state if ok else None


def reap(db: Session, grace_seconds: float, max_retries: int,
         site: SiteClaim | None = None) -> list[int]:
    """Return evaluations whose worker stopped heartbeating to the queue (or end them
    ``errored`` after ``max_retries`` attempts); with ``site``, only that site's phase's (an
    expired lease). Returns the re-queued ids."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    query = (select(Evaluation.id, Evaluation.worker_id, Evaluation.attempt)
             .where(Evaluation.state.in_(ACTIVE), Evaluation.heartbeat_at < cutoff))
    stale = list(db.execute(query.where(_runs_at(site)) if site else query))
    requeued = []
    for evaluation_id, worker_id, attempt in stale:
        job = JobRef(evaluation_id, attempt, worker_id or "")
        cancel = db.scalar(select(Evaluation.cancel_requested)
                           .where(Evaluation.id == evaluation_id))
        if cancel:
            finish(db, job, EvalState.cancelled, category="cancelled",
                   message="cancelled", refund_for=RefundReason.cancel)
        elif platform_fault(db, job, "worker stopped heartbeating; re-queued by the reaper",
                            max_retries) == EvalState.queued:
            requeued.append(evaluation_id)
    return requeued


def live_attempts(db: Session) -> dict[int, int]:
    """Evaluation id -> attempt, for every evaluation a worker currently owns."""
    return dict(db.execute(select(Evaluation.id, Evaluation.attempt)  # type: ignore[arg-type]
                           .where(Evaluation.state.in_(ACTIVE))).all())


def request_cancel(db: Session, evaluation_id: int) -> Evaluation:
    """Cancel: a queued job ends at once; a running one is killed by its worker (which then
    asks for the refund). Refunds follow ``charge.may_refund``: none once a case was scored."""
    ended = db.execute(update(Evaluation).where(Evaluation.id == evaluation_id,
                                                Evaluation.state == EvalState.queued)
                       .values(state=EvalState.cancelled, finished_at=utcnow(),
                               failure_category="cancelled", failure_message="cancelled")
                       .execution_options(synchronize_session=False))
    db.execute(update(Evaluation).where(Evaluation.id == evaluation_id,
                                        Evaluation.state.in_(ACTIVE))
               .values(cancel_requested=True).execution_options(synchronize_session=False))
    evaluation = db.get(Evaluation, evaluation_id, populate_existing=True)
    assert evaluation is not None
    if ended.rowcount == 1:  # type: ignore[attr-defined]
        _ended(db, evaluation_id, RefundReason.cancel)
    return evaluation
