"""Creating and reading evaluations. The worker's state machine lives in ``lifecycle``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from challenge import access, visibility
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.core.errors import Forbidden, NotFound
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch
from challenge.evaluations import lifecycle
from challenge.evaluations.dispatch import Dispatcher
from challenge.evaluations.models import CaseResult, EvalState, Evaluation
from challenge.phases.models import Phase, PhaseConfig
from challenge.submissions.models import Submission


def enqueue(*, db: Session, submission: Submission, phase_config_id: int,
            holds_charge: bool = False) -> Evaluation:
    """Queue one evaluation of ``submission`` under a config version (flushes, does not commit).

    ``holds_charge`` only for the evaluation created with the upload: it alone may refund the
    submission (``charge.may_refund``); re-evaluations never charge and never refund.
    """
    evaluation = Evaluation(submission_id=submission.id, phase_config_id=phase_config_id,
                            state=EvalState.queued, holds_charge=holds_charge)
    db.add(evaluation)
    db.flush()
    return evaluation


def requeue_phase(*, db: Session, phase: Phase) -> list[int]:
    """Queue every submission of ``phase`` again under its current config (flushes, does not
    commit); returns the new evaluations' ids, for the caller to dispatch once committed."""
    assert phase.current_config_id is not None
    submissions = db.scalars(select(Submission).where(Submission.phase_id == phase.id))
    return [enqueue(db=db, submission=submission, phase_config_id=phase.current_config_id).id
            for submission in submissions]


def requeue_count(*, db: Session, phase: Phase) -> int:
    """How many evaluations ``requeue_phase`` would queue for ``phase`` (one per submission)."""
    return db.scalar(select(func.count()).select_from(Submission)
                     .where(Submission.phase_id == phase.id)) or 0


def phase_counts(*, db: Session, phase_id: int) -> dict[str, int]:
    """How many evaluations of ``phase_id``'s submissions are in each state (every state
    named, 0 when none); one query. Callers check that the viewer organizes the phase."""
    rows = db.execute(select(Evaluation.state, func.count()).join(
        Submission, Submission.id == Evaluation.submission_id)
        .where(Submission.phase_id == phase_id).group_by(Evaluation.state))
    counts = {state.value: 0 for state in EvalState}
    counts.update({EvalState(state).value: int(n) for state, n in rows.tuples()})
    return counts


def phase_evaluations(*, db: Session, phase_id: int, states: Iterable[EvalState],
                      limit: int, newest_first: bool = False) -> list[Evaluation]:
    """At most ``limit`` evaluations of ``phase_id`` in ``states``: oldest queued first (the
    queue's order), or newest first. Callers check that the viewer organizes the phase."""
    order = ((Evaluation.queued_at.desc(), Evaluation.id.desc()) if newest_first
             else (Evaluation.queued_at, Evaluation.id))
    return list(db.scalars(select(Evaluation).join(
        Submission, Submission.id == Evaluation.submission_id)
        .where(Submission.phase_id == phase_id, Evaluation.state.in_(list(states)))
        .order_by(*order).limit(limit)))


def latest_for_submission(*, db: Session, submission_id: int) -> Evaluation | None:
    return latest_for_submissions(db=db, submission_ids=[submission_id]).get(submission_id)


def latest_for_submissions(*, db: Session,
                           submission_ids: Iterable[int]) -> dict[int, Evaluation]:
    """The latest evaluation (greatest id) of each submission, by submission id (absent for
    a submission without one); one query."""
    wanted = set(submission_ids)
    if not wanted:
        return {}
    latest = (select(func.max(Evaluation.id)).where(Evaluation.submission_id.in_(wanted))
              .group_by(Evaluation.submission_id))
    return {e.submission_id: e for e in db.scalars(select(Evaluation)
                                                   .where(Evaluation.id.in_(latest)))}


def queue_positions(*, db: Session, evaluations: Iterable[Evaluation]) -> dict[int, int]:
    """The 1-based queue position of each queued one of ``evaluations``, by id: its rank among
    all queued evaluations, oldest ``queued_at`` first, then lowest id. Evaluations not
    queued are absent. One query (none when none of them is queued)."""
    queued = {e.id for e in evaluations if e.state == EvalState.queued}
    if not queued:
        return {}
    position = func.row_number().over(order_by=(Evaluation.queued_at, Evaluation.id))
    ranked = (select(Evaluation.id, position.label("position"))
              .where(Evaluation.state == EvalState.queued).subquery())
    rows = db.execute(select(ranked.c.id, ranked.c.position).where(ranked.c.id.in_(queued)))
    return {evaluation_id: int(rank) for evaluation_id, rank in rows.tuples()}


def config_versions(*, db: Session, evaluations: Iterable[Evaluation]) -> dict[int, int]:
    """The version number of the phase config each of ``evaluations`` runs under, by
    evaluation id; one query."""
    by_config: dict[int, list[int]] = {}
    for e in evaluations:
        by_config.setdefault(e.phase_config_id, []).append(e.id)
    if not by_config:
        return {}
    rows = db.execute(select(PhaseConfig.id, PhaseConfig.version)
                      .where(PhaseConfig.id.in_(by_config)))
    return {evaluation_id: version for config_id, version in rows.tuples()
            for evaluation_id in by_config[config_id]}


def _context(db: Session, evaluation_id: int) -> tuple[Evaluation, Submission, int]:
    evaluation = db.get(Evaluation, evaluation_id)
    if evaluation is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    submission = db.get(Submission, evaluation.submission_id)
    phase = db.get(Phase, submission.phase_id) if submission else None
    if submission is None or phase is None:
        raise NotFound(f"no evaluation {evaluation_id}")
    return evaluation, submission, phase.challenge_id


def get_visible(*, db: Session, user: User, evaluation_id: int) -> tuple[Evaluation, bool]:
    """The evaluation and whether the caller organizes its challenge; NotFound for anyone
    who is neither an organizer nor a member of the submitting team."""
    evaluation, submission, challenge_id = _context(db, evaluation_id)
    if access.is_organizer(db, user, challenge_id):
        return evaluation, True
    team = access.team_of(db, user, challenge_id)
    if team is None or team.id != submission.team_id:
        raise NotFound(f"no evaluation {evaluation_id}")
    return evaluation, False


def organizer_log(*, db: Session, user: User, evaluation_id: int) -> str:
    evaluation, organizer = get_visible(db=db, user=user, evaluation_id=evaluation_id)
    if not organizer:
        raise Forbidden("container logs are for the challenge's organizers only",
                        code="logs_are_private")
    return evaluation.organizer_log or ""


def cancel(*, db: Session, user: User, evaluation_id: int) -> Evaluation:
    evaluation, _ = get_visible(db=db, user=user, evaluation_id=evaluation_id)
    _, _, challenge_id = _context(db, evaluation_id)
    evaluation = lifecycle.request_cancel(db, evaluation.id)
    audit.record(db=db, actor=user, action="evaluation.cancel", object_type="evaluation",
                 object_id=evaluation.id, challenge_id=challenge_id)
    db.commit()
    return evaluation


def reevaluate(*, db: Session, user: User, submission_id: int,
               dispatcher: Dispatcher) -> Evaluation:
    """Organizers: evaluate a submission again under its phase's current config; the new
    evaluation is sent to ``dispatcher`` once committed."""
    submission = db.get(Submission, submission_id)
    phase = db.get(Phase, submission.phase_id) if submission else None
    if submission is None or phase is None or not access.is_organizer(db, user,
                                                                        phase.challenge_id):
        raise NotFound(f"no submission {submission_id}")
    assert phase.current_config_id is not None
    evaluation = enqueue(db=db, submission=submission, phase_config_id=phase.current_config_id)
    audit.record(db=db, actor=user, action="submission.reevaluate", object_type="submission",
                 object_id=submission.id, challenge_id=phase.challenge_id,
                 evaluation_id=evaluation.id)
    db.commit()
    dispatcher.notify(evaluation.id)
    return evaluation


def result_view(*, db: Session, user: User, evaluation: Evaluation,
                organizer: bool | None = None) -> visibility.ResultView:
    """What ``user`` may see of ``evaluation``'s results (``challenge.visibility``): the rule
    of its phase's current config. ``organizer``: what ``get_visible`` answered for this user
    (it shows the evaluation only to organizers and the team), saving the look-up."""
    submission = db.get(Submission, evaluation.submission_id)
    phase = db.get(Phase, submission.phase_id) if submission else None
    if submission is None or phase is None:
        raise NotFound(f"no evaluation {evaluation.id}")
    viewer = None if organizer is None else (
        visibility.Viewer.organizer if organizer else visibility.Viewer.team)
    return visibility.for_phase(db, user, phase, viewer=viewer, team_id=submission.team_id)


BY_CASE = Keyset("cases", (Key(CaseResult.case_id, kind=str),))
"""Case results by case id (unique within an evaluation)."""


def case_results(*, db: Session, user: User, evaluation_id: int,
                 page: PageRequest) -> Paged[dict[str, Any]]:
    """One page of per-case results, by case id, as the caller may see them: organizers the
    full record; the team the phase's published per-case values only (``Forbidden``
    otherwise, before any row is read)."""
    evaluation, organizer = get_visible(db=db, user=user, evaluation_id=evaluation_id)
    view = result_view(db=db, user=user, evaluation=evaluation, organizer=organizer)
    view.require_per_case()
    found = fetch(db, select(CaseResult).where(CaseResult.evaluation_id == evaluation.id),
                  BY_CASE, page)
    return Paged([{"case_id": r.case_id, "status": r.status, "category": r.category,
                   "metrics": view.case_values(r.status, r.metrics or {}),
                   "raters": view.rater_values(r.status, r.rater_metrics),
                   "flags": view.case_flags(r.flags or [])} for r in found.items],
                 found.next_cursor)
