"""What a site worker may do, each step a transition of ``challenge.evaluations.lifecycle``.

A lease is a lifecycle claim whose worker id is ``site:<site id>:<lease id>``: the lease id is
a random secret handed to the one site worker that leased the job, and every later step finds
the job by it, in an active state, held by this site (``_held``). A lease lasts
``reaper_grace_seconds`` past its last heartbeat; leasing first returns the phase's expired
leases to the queue (``lifecycle.reap``), so a killed site worker's job is offered again, and
a step under a lost lease is a 409 ``lease_not_held``. Quota refunds follow the lifecycle
(``charge.refund`` via ``finish`` and ``platform_fault``): nothing site-specific.

Per case the platform stores metrics and sanitized categories only; reference masks, outputs
and container logs stay at the site.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from challenge.core.config import Settings
from challenge.core.db import utcnow
from challenge.core.errors import Conflict, InvalidInput
from challenge.core.storage import Storage
from challenge.datasets.models import DatasetCase
from challenge.evaluations import lifecycle
from challenge.evaluations.charge import RefundReason
from challenge.evaluations.lifecycle import ACTIVE, JobRef, SiteClaim
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.evaluations.worker import verdict
from challenge.phases.models import PhaseConfig
from challenge.sites.models import EvaluationSite
from challenge.sites.schemas import (
    CaseReport,
    FinishRequest,
    LeaseCase,
    LeaseJob,
)
from challenge.submissions.models import Submission
from evaluator.pipeline import CaseOutcome, EvaluationOutcome

LEASE_NOT_HELD = "lease_not_held"


def _worker_id(site: EvaluationSite, lease_id: str) -> str:
    return f"site:{site.id}:{lease_id}"


def _claim_of(site: EvaluationSite, worker_version: str) -> SiteClaim:
    return SiteClaim(site_id=site.id, phase_id=site.phase_id, worker_version=worker_version)


def _expiry(settings: Settings) -> datetime:
    return utcnow() + timedelta(seconds=settings.reaper_grace_seconds)


def lease(*, db: Session, site: EvaluationSite, settings: Settings,
          worker_version: str) -> LeaseJob | None:
    """Lease the oldest queued job of the site's phase (None when none waits). Expired
    leases of the phase go back to the queue first."""
    claim = _claim_of(site, worker_version)
    site.last_seen_at, site.worker_version = utcnow(), worker_version
    db.commit()
    lifecycle.reap(db, settings.reaper_grace_seconds, settings.max_platform_retries, claim)
    for evaluation_id in lifecycle.next_queued(db, claim):
        lease_id = secrets.token_urlsafe(24)
        job = lifecycle.claim(db, evaluation_id, _worker_id(site, lease_id), claim)
        if job is None:
            continue
        if not job.case_ids:
            lifecycle.platform_fault(db, job, "the phase has no dataset attached",
                                     settings.max_platform_retries)
            continue
        return _job(db, job, lease_id, settings)
    return None


def _job(db: Session, job: lifecycle.Job, lease_id: str, settings: Settings) -> LeaseJob:
    submission = db.get(Submission, job.submission_id)
    evaluation = db.get(Evaluation, job.evaluation_id)
    assert submission is not None and evaluation is not None
    config = db.get(PhaseConfig, evaluation.phase_config_id)
    assert config is not None and config.dataset_id is not None
    cases = db.scalars(select(DatasetCase).where(DatasetCase.dataset_id == config.dataset_id)
                       .order_by(DatasetCase.case_id))
    return LeaseJob(lease_id=lease_id, expires_at=_expiry(settings),
                    heartbeat_seconds=settings.heartbeat_seconds,
                    lease_seconds=settings.reaper_grace_seconds,
                    image_digest=job.image_digest, archive_sha256=submission.archive_sha256,
                    archive_bytes=submission.archive_bytes,
                    spec=job.spec.model_dump(mode="json"),
                    cases=[LeaseCase(case_id=c.case_id, input_checksums=c.input_checksums,
                                     reference_checksum=c.reference_checksum) for c in cases])


def _held(db: Session, site: EvaluationSite, lease_id: str,
          states: tuple[EvalState, ...] = ACTIVE) -> Evaluation:
    """The evaluation this site holds under ``lease_id`` in one of ``states``; a 409 for any
    other lease id (unknown, expired, another site's: all look alike)."""
    evaluation = db.scalar(select(Evaluation).where(
        Evaluation.worker_id == _worker_id(site, lease_id), Evaluation.state.in_(states)))
    if evaluation is None:
        raise Conflict("this site does not hold that lease (it expired, ended or never "
                       "existed)", code=LEASE_NOT_HELD)
    return evaluation


def _ref(evaluation: Evaluation) -> JobRef:
    assert evaluation.worker_id is not None
    return JobRef(evaluation.id, evaluation.attempt, evaluation.worker_id)


def heartbeat(*, db: Session, site: EvaluationSite, lease_id: str,
              settings: Settings) -> tuple[bool, datetime]:
    """Extend the lease; returns (cancel requested, new expiry)."""
    answer = lifecycle.heartbeat(db, _ref(_held(db, site, lease_id)))
    if answer is None:
        raise Conflict("the lease was lost", code=LEASE_NOT_HELD)
    return answer, _expiry(settings)


def archive(*, db: Session, storage: Storage, site: EvaluationSite, lease_id: str) -> Path:
    """The submission archive of a held lease (the site verifies its SHA-256)."""
    evaluation = _held(db, site, lease_id)
    submission = db.get(Submission, evaluation.submission_id)
    assert submission is not None
    path = storage.submission_path(submission.archive_key)
    db.rollback()  # the read is done: free the connection while the file streams
    return path


def start_running(*, db: Session, site: EvaluationSite, lease_id: str) -> None:
    """The site loaded the image and checked its data: provisioning -> running (again: ok)."""
    evaluation = _held(db, site, lease_id)
    if evaluation.state == EvalState.provisioning and not lifecycle.advance(
            db, _ref(evaluation), EvalState.provisioning, EvalState.running):
        raise Conflict("the lease was lost", code=LEASE_NOT_HELD)
    db.commit()


def record_case(*, db: Session, site: EvaluationSite, lease_id: str, case_id: str,
                report: CaseReport) -> bool:
    """Store one case once; True when stored now, False when this very result was stored
    before (a retried post). Another result for a stored case is a 409; a case id outside the
    job's dataset a 422."""
    evaluation = _held(db, site, lease_id, (EvalState.running, EvalState.scoring))
    config = db.get(PhaseConfig, evaluation.phase_config_id)
    assert config is not None
    known = db.scalar(select(DatasetCase.id).where(DatasetCase.dataset_id == config.dataset_id,
                                                   DatasetCase.case_id == case_id))
    if known is None:
        raise InvalidInput(f"case {case_id!r} is not in this phase's dataset",
                           code="unknown_case")
    metrics = report.stored_metrics()
    if _already(db, evaluation.id, case_id, report, metrics):
        return False
    try:
        stored = lifecycle.record_case(db, _ref(evaluation), case_id, report.status,
                                       report.category, metrics, list(report.flags))
    except IntegrityError:  # a concurrent post of the same case won
        db.rollback()
        if _already(db, evaluation.id, case_id, report, metrics):
            return False
        raise
    if not stored:
        raise Conflict("the lease was lost", code=LEASE_NOT_HELD)
    return True


def _already(db: Session, evaluation_id: int, case_id: str, report: CaseReport,
             metrics: dict[str, float | int | None]) -> bool:
    row = db.scalar(select(CaseResult).where(CaseResult.evaluation_id == evaluation_id,
                                             CaseResult.case_id == case_id))
    if row is None:
        return False
    if (row.status, row.category, row.metrics, row.flags) != (
            report.status, report.category, metrics, list(report.flags)):
        raise Conflict(f"case {case_id!r} has another result already",
                       code="case_already_recorded")
    return True


def finish(*, db: Session, site: EvaluationSite, lease_id: str, request: FinishRequest,
           settings: Settings) -> EvalState:
    """End the leased job as the site reports; returns the state it ended in (``queued``
    for a platform error that is retried). A lease lost meanwhile is a 409."""
    state = _finish(db, site, lease_id, request, settings)
    if state is None:
        raise Conflict("the lease was lost", code=LEASE_NOT_HELD)
    return state


def _finish(db: Session, site: EvaluationSite, lease_id: str, request: FinishRequest,
            settings: Settings) -> EvalState | None:
    evaluation = _held(db, site, lease_id)
    ref = _ref(evaluation)
    note = (f"evaluated at site {site.name!r} (site worker {site.worker_version}); container "
            "logs stay at the site")
    if request.outcome == "platform_error":
        return lifecycle.platform_fault(db, ref, f"{note}\nsite error: {request.message or ''}",
                                        settings.max_platform_retries)
    if request.outcome == "completed":
        return _complete(db, evaluation, ref, note, request.evaluator_version)
    state, refund = EvalState.failed, None
    category: str | None = request.code
    message: str | None = request.message
    if request.outcome == "cancelled":
        state, category, message, refund = (EvalState.cancelled, "cancelled", "cancelled",
                                            RefundReason.cancel)
    ok = lifecycle.finish(db, ref, state, category=category, message=message,
                          organizer_log=note, evaluator_version=request.evaluator_version,
                          refund_for=refund)
    return state if ok else None


def _complete(db: Session, evaluation: Evaluation, ref: JobRef, note: str,
              evaluator_version: str) -> EvalState | None:
    if evaluation.cases_done < evaluation.cases_total:
        raise Conflict(f"{evaluation.cases_total - evaluation.cases_done} case(s) not reported "
                       "yet", code="cases_missing")
    if evaluation.state == EvalState.running and not lifecycle.advance(
            db, ref, EvalState.running, EvalState.scoring):
        raise Conflict("the lease was lost", code=LEASE_NOT_HELD)
    rows = db.scalars(select(CaseResult).where(CaseResult.evaluation_id == evaluation.id)
                      .order_by(CaseResult.case_id))
    outcome = EvaluationOutcome(
        image_id="", organizer_log=note, cancelled=False,
        cases=[CaseOutcome(r.case_id, r.status, r.category,
                           (r.category or "").replace("_", " "), dict(r.metrics),
                           tuple(r.flags)) for r in rows])
    state, category, message = verdict(outcome)
    ok = lifecycle.finish(db, ref, state, category=category, message=message,
                          organizer_log=note, summary=outcome.summary(),
                          evaluator_version=evaluator_version)
    return state if ok else None
