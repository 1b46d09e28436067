"""Evaluations as the API shows them: a status to the team (no score) and a detail with the
summary ``challenge.visibility`` allows."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from challenge import visibility
from challenge.accounts.models import User
from challenge.evaluations import service
from challenge.evaluations.models import Evaluation
from challenge.evaluations.schemas import EvaluationDetail, EvaluationStatus


def _status(evaluation: Evaluation, *, config_version: int, queue_position: int | None,
            view: visibility.ResultView) -> EvaluationStatus:
    return EvaluationStatus(
        id=evaluation.id, state=evaluation.state, config_version=config_version,
        queue_position=queue_position, cases_done=evaluation.cases_done,
        cases_total=evaluation.cases_total, failure_category=evaluation.failure_category,
        failure_message=evaluation.failure_message, queued_at=evaluation.queued_at,
        started_at=evaluation.started_at, finished_at=evaluation.finished_at,
        scores_hidden_until=view.scores_hidden_until)


def evaluation_statuses(db: Session, evaluations: Collection[Evaluation],
                        view: visibility.ResultView) -> dict[int, EvaluationStatus]:
    """The status of each of ``evaluations`` as ``view`` allows (state, progress, sanitized
    failure category; no score), by id. Config versions and queue positions: two queries."""
    versions = service.config_versions(db=db, evaluations=evaluations)
    positions = service.queue_positions(db=db, evaluations=evaluations)
    return {e.id: _status(e, config_version=versions.get(e.id, 0),
                          queue_position=positions.get(e.id), view=view) for e in evaluations}


def evaluation_detail(db: Session, user: User, evaluation: Evaluation,
                      organizer: bool | None = None) -> EvaluationDetail:
    """Status, summary and log tail of ``evaluation`` as ``user`` may see them
    (``organizer``: what ``service.get_visible`` answered, when known)."""
    view = service.result_view(db=db, user=user, evaluation=evaluation, organizer=organizer)
    status = evaluation_statuses(db, [evaluation], view)[evaluation.id]
    return EvaluationDetail(**status.model_dump(), summary=view.summary(evaluation.summary),
                            evaluator_version=evaluation.evaluator_version,
                            per_case_available=view.per_case,
                            log_tail=view.tail(evaluation.organizer_log))
