"""Who may refund a submission's quota charge (DESIGN section 8): one rule, every path.

A submission is charged when it is accepted: the quota is reserved under the team-row lock in
``challenge.submissions.service.submit``, and the evaluation created with it holds that charge
(``Evaluation.holds_charge``). Every path that ends an evaluation without the algorithm's
verdict calls ``refund``: a cancel (``lifecycle.request_cancel`` for a queued evaluation, the
worker ending a running one it was asked to stop, the reaper ending a dead worker's cancelled
one) and a platform fault (``lifecycle.platform_fault`` after its last retry). ``may_refund``
decides:

    evaluation         reason          the team looked   refund
    re-evaluation      any             any               never (it never charged)
    holds the charge   platform fault  any               yes   (DESIGN: platform faults)
    holds the charge   cancel          no                yes   (nothing was ever shown)
    holds the charge   cancel          yes               no

"The team looked" means some evaluation of the submission stored a case that ran (at any
attempt: a reaped attempt's cases were readable until its retry deleted them), or another
evaluation of it (an organizer's re-evaluation) is still queued or running and could still
show scores. Cases stored as ``cancelled`` never ran and do not count.
"""

from __future__ import annotations

import enum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from challenge.evaluations.models import TERMINAL_STATES, Evaluation
from challenge.submissions.models import Submission

#: Categories of stored cases that never ran the algorithm on the hidden case.
NEVER_RAN = frozenset({"cancelled"})

CANCEL_RULE = ("Cancelling refunds the submission only while none of its cases has been "
               "scored; once one has, the submission stays charged.")


class RefundReason(enum.StrEnum):
    cancel = "cancel"
    platform_fault = "platform_fault"


def case_ran(category: str | None) -> bool:
    """Whether a stored case outcome came from running the algorithm on the hidden case
    (every outcome, ``ok`` or ``missing``, except a case the cancel stopped before it ran)."""
    return category not in NEVER_RAN


def may_refund(*, holds_charge: bool, reason: RefundReason, looked: bool) -> bool:
    """The rule of the table above: only the evaluation holding the charge refunds; a platform
    fault always does; a cancel only when the team never looked."""
    if not holds_charge:
        return False
    return reason == RefundReason.platform_fault or not looked


def refund(db: Session, evaluation_id: int, reason: RefundReason) -> bool:
    """Refund the submission of ``evaluation_id`` when ``may_refund`` allows; True when it did.

    Call it in the transaction of the compare-and-set that ended the evaluation (that row is
    locked, so no case of it can be stored meanwhile); flushes, the caller commits.
    """
    evaluation = db.get(Evaluation, evaluation_id, populate_existing=True)
    if evaluation is None:
        return False
    allowed = may_refund(holds_charge=evaluation.holds_charge, reason=reason,
                         looked=reason == RefundReason.cancel and _looked(db, evaluation))
    if allowed:
        db.execute(update(Submission).where(Submission.id == evaluation.submission_id)
                   .values(charged=False).execution_options(synchronize_session=False))
    return allowed


def _looked(db: Session, evaluation: Evaluation) -> bool:
    same_submission = Evaluation.submission_id == evaluation.submission_id
    scored = select(Evaluation.id).where(same_submission, Evaluation.first_scored_at.is_not(None))
    pending = select(Evaluation.id).where(same_submission, Evaluation.id != evaluation.id,
                                          Evaluation.state.not_in(TERMINAL_STATES))
    return (db.scalar(scored.limit(1)) is not None
            or db.scalar(pending.limit(1)) is not None)
