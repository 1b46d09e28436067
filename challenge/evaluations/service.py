"""Creating and reading evaluations. The worker's state machine lives in ``evaluator.worker``."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge.evaluations.models import EvalState, Evaluation
from challenge.phases.models import Phase
from challenge.submissions.models import Submission


def enqueue(*, db: Session, submission: Submission, phase_config_id: int) -> Evaluation:
    """Queue one evaluation of ``submission`` under a config version (flushes, does not commit)."""
    evaluation = Evaluation(submission_id=submission.id, phase_config_id=phase_config_id,
                            state=EvalState.queued)
    db.add(evaluation)
    db.flush()
    return evaluation


def requeue_phase(*, db: Session, phase: Phase) -> int:
    """Queue every submission of ``phase`` again under its current config; returns the count."""
    assert phase.current_config_id is not None
    submissions = db.scalars(select(Submission).where(Submission.phase_id == phase.id))
    count = 0
    for submission in submissions:
        enqueue(db=db, submission=submission, phase_config_id=phase.current_config_id)
        count += 1
    return count


def latest_for_submission(*, db: Session, submission_id: int) -> Evaluation | None:
    return db.scalar(select(Evaluation).where(Evaluation.submission_id == submission_id)
                     .order_by(Evaluation.id.desc()).limit(1))


def queue_position(*, db: Session, evaluation: Evaluation) -> int | None:
    """1-based position among queued evaluations (oldest first); None when not queued."""
    if evaluation.state != EvalState.queued:
        return None
    ahead = db.scalar(select(func.count()).select_from(Evaluation).where(
        Evaluation.state == EvalState.queued,
        (Evaluation.queued_at < evaluation.queued_at)
        | ((Evaluation.queued_at == evaluation.queued_at) & (Evaluation.id < evaluation.id)),
    ))
    return int(ahead or 0) + 1
