"""Submissions as the API shows them to their team and to organizers: the archive's
metadata and the status of the latest evaluation (no score)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from challenge import visibility
from challenge.evaluations import service as evaluations
from challenge.evaluations.presenters import evaluation_statuses
from challenge.evaluations.schemas import EvaluationStatus
from challenge.submissions.models import Submission
from challenge.submissions.schemas import SubmissionPublic
from challenge.teams import service as teams


def _public(submission: Submission, team_name: str,
            evaluation: EvaluationStatus | None) -> SubmissionPublic:
    return SubmissionPublic(
        id=submission.id, phase_id=submission.phase_id, team_id=submission.team_id,
        team_name=team_name, created_at=submission.created_at,
        comment=submission.comment, archive_bytes=submission.archive_bytes,
        archive_sha256=submission.archive_sha256, image_digest=submission.image_digest,
        selected=submission.selected, charged=submission.charged, evaluation=evaluation)


def submissions_public(db: Session, submissions: Sequence[Submission],
                       view: visibility.ResultView) -> list[SubmissionPublic]:
    """``submissions`` in their order, each with its latest evaluation's status as ``view``
    allows (None before it has one). A constant number of queries, whatever their count:
    latest evaluations, their config versions and queue positions, team names."""
    latest = evaluations.latest_for_submissions(db=db, submission_ids=(s.id for s in submissions))
    statuses = evaluation_statuses(db, list(latest.values()), view)
    names = teams.names_by_id(db=db, ids=(s.team_id for s in submissions))
    return [_public(s, names.get(s.team_id, ""),
                    statuses[latest[s.id].id] if s.id in latest else None) for s in submissions]


def submission_public(db: Session, submission: Submission,
                      view: visibility.ResultView) -> SubmissionPublic:
    return submissions_public(db, [submission], view)[0]
