"""What the participant pages show of submissions and evaluations: the API's presenters'
output (``challenge.submissions.presenters``, ``challenge.evaluations.presenters``), never
a second reading of the rows, so a page shows a team exactly what the API gives it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.core.pagination import MAX_LIMIT, PageRequest
from challenge.evaluations.models import TERMINAL_STATES
from challenge.phases.models import Phase
from challenge.submissions import presenters, service
from challenge.submissions.schemas import SubmissionPublic

#: At most this many submissions are listed on a page (a phase's quota is usually far less).
MAX_ROWS = 1000


def _all_submissions(db: Session, user: User, phase: Phase) -> list[Any]:
    """The submissions ``service.list_for_phase`` lets ``user`` list, oldest first, following
    its cursor up to :data:`MAX_ROWS` rows."""
    rows: list[Any] = []
    cursor: str | None = None
    while len(rows) < MAX_ROWS:
        found = service.list_for_phase(db=db, user=user, phase_id=phase.id,
                                       page=PageRequest(limit=MAX_LIMIT, cursor=cursor))
        rows.extend(found.items)
        cursor = found.next_cursor
        if cursor is None:
            break
    return rows[:MAX_ROWS]


def is_live(submission: SubmissionPublic) -> bool:
    """Whether its latest evaluation may still change (none yet, or not terminal)."""
    evaluation = submission.evaluation
    return evaluation is None or evaluation.state not in TERMINAL_STATES


def submission_rows(db: Session, user: User,
                    phase: Phase) -> tuple[list[SubmissionPublic], bool]:
    """The submissions of ``phase`` the API lists to ``user`` (a team member: the team's),
    newest first, as the API presents them; and whether any is still live (the table then
    polls for changes)."""
    found = _all_submissions(db, user, phase)
    view = service.result_view(db=db, user=user, phase_id=phase.id)
    shown = presenters.submissions_public(db, found, view)[::-1]
    return shown, any(is_live(s) for s in shown)
