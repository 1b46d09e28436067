from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.orm import Session

from challenge import access, visibility
from challenge.accounts.models import User
from challenge.audit import service as audit
from challenge.challenges.models import Challenge
from challenge.core import notify
from challenge.core.db import utcnow
from challenge.core.errors import Conflict, Forbidden, InvalidInput, NotFound, QuotaExceeded
from challenge.core.pagination import Key, Keyset, Paged, PageRequest, fetch
from challenge.core.storage import Storage
from challenge.evaluations import service as evaluations
from challenge.evaluations.dispatch import Dispatcher
from challenge.evaluations.models import EvalState, Evaluation
from challenge.phases import service as phases
from challenge.phases.config import PhaseConfigSpec
from challenge.phases.models import Phase
from challenge.submissions.models import Submission
from challenge.teams import membership
from challenge.teams.models import Team, TeamMember
from evaluator.sandbox.archive import ArchiveCaps, ArchiveError, inspect_archive, user_is_root
from evaluator.sandbox.archive_stream import DEFAULT_UPLOAD_LIMIT


def usage(db: Session, phase_id: int, team_id: int) -> tuple[int, int]:
    """(charged submissions in the last 24 h, charged submissions in total) that count against
    ``team_id`` in a phase: the one count every surface (upload, quota endpoint, CLI) uses.

    Quotas follow people (DESIGN section 8): a submission counts when the team made it or any
    current member submitted it, in whatever team they were then; each submission once. So a
    member moved here brings their looks along, and the team they left keeps counting them.
    """
    members = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
    own = _charged_counts(db, phase_id, Submission.team_id == team_id)
    # Two disjoint sets, each counted on its own index (one OR would scan the whole phase).
    elsewhere = _charged_counts(db, phase_id, Submission.team_id != team_id,
                                Submission.submitter_id.in_(members))
    return own[0] + elsewhere[0], own[1] + elsewhere[1]


def _charged_counts(db: Session, phase_id: int,
                    *where: ColumnElement[bool]) -> tuple[int, int]:
    since = utcnow() - timedelta(hours=24)
    day, total = db.execute(
        select(func.count().filter(Submission.created_at > since), func.count())
        .select_from(Submission)
        .where(Submission.phase_id == phase_id, Submission.charged.is_(True), *where)).one()
    return int(day or 0), int(total or 0)


def next_slot_at(db: Session, phase_id: int, team_id: int, per_day: int) -> datetime | None:
    """When the rolling 24-hour quota of ``team_id`` next has a free slot: None when one is
    free now; else the time (aware UTC) the submission whose ageing out brings the count of
    the last 24 h below ``per_day`` turns 24 h old. Counts what ``usage`` counts."""
    since = utcnow() - timedelta(hours=24)
    members = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
    counted = (Submission.phase_id == phase_id, Submission.charged.is_(True),
               Submission.created_at > since)
    times = sorted([*db.scalars(select(Submission.created_at).where(
        *counted, Submission.team_id == team_id)), *db.scalars(select(Submission.created_at).where(
        *counted, Submission.team_id != team_id, Submission.submitter_id.in_(members)))])
    if len(times) < per_day:
        return None
    return times[len(times) - per_day] + timedelta(hours=24)


def _check_quota(db: Session, spec: PhaseConfigSpec, phase: Phase, team: Team) -> None:
    day, total = usage(db, phase.id, team.id)
    also = " (its members' submissions in other teams count too)"
    if total >= spec.submissions.total:
        raise QuotaExceeded(f"your team has used all {spec.submissions.total} submissions "
                            f"of this phase{also}")
    if day >= spec.submissions.per_day:
        raise QuotaExceeded(f"your team has used its {spec.submissions.per_day} submissions "
                            f"of the last 24 hours{also}")


def check_can_submit(*, db: Session, user: User, phase_id: int) -> tuple[Phase, Team]:
    """Everything that can be refused before the archive is read (quota re-checked after)."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    team = access.team_of(db, user, challenge.id)
    if team is None:
        raise Forbidden("join or create a team of this challenge before submitting",
                        code="no_team")
    status = phases.status(phase)
    if status != "open":
        raise Conflict(f"this phase is {status}, not open for submissions", code="phase_not_open")
    if phase.parent_phase_id is not None and not _succeeded_in(db, phase.parent_phase_id, team):
        raise Forbidden("your team needs a successful submission in the previous phase first",
                        code="parent_phase_required")
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, phase).config)
    _check_quota(db, spec, phase, team)
    return phase, team


def _succeeded_in(db: Session, phase_id: int, team: Team) -> bool:
    return db.scalar(select(Evaluation.id).join(Submission).where(
        Submission.phase_id == phase_id, Submission.team_id == team.id,
        Evaluation.state == EvalState.succeeded).limit(1)) is not None


def submit(*, db: Session, storage: Storage, user: User, phase_id: int, archive: Path,
           size: int, sha256: str, comment: str, dispatcher: Dispatcher,
           max_submission_bytes: int = DEFAULT_UPLOAD_LIMIT) -> Submission:
    """Validate the uploaded archive, charge the quota atomically, store and queue it; its
    evaluation is sent to ``dispatcher`` once committed.

    The archive may inflate to ``ArchiveCaps.for_upload_limit(max_submission_bytes)``.

    The team row is locked first (an UPDATE: a row lock on PostgreSQL, the write lock on
    SQLite), so concurrent uploads of one team are counted one after the other and never
    exceed the quota. Nothing is stored when any check fails.
    """
    phase, team = check_can_submit(db=db, user=user, phase_id=phase_id)
    db.rollback()  # end the read transaction: the lock below must start a fresh one
    try:
        info = inspect_archive(archive,
                               caps=ArchiveCaps.for_upload_limit(max_submission_bytes))
    except ArchiveError as exc:
        raise InvalidInput(exc.message, code=exc.code) from exc
    config = phases.current_config(db, phase)
    spec = PhaseConfigSpec.model_validate(config.config)
    if user_is_root(info.user) and spec.sandbox.run_as_uid is None:
        raise InvalidInput("the image runs as root; set a non-root USER in its Dockerfile "
                           "(e.g. USER 1000)", code="image_runs_as_root")

    membership.lock(db, team.id)
    _check_quota(db, spec, phase, team)
    key = storage.new_key()
    submission = Submission(phase_id=phase.id, team_id=team.id, submitter_id=user.id,
                            comment=comment, archive_key=key, archive_bytes=size,
                            archive_sha256=sha256, image_digest=info.image_id,
                            image_user=info.user or "")
    db.add(submission)
    db.flush()
    config.frozen = True
    evaluation = evaluations.enqueue(db=db, submission=submission, phase_config_id=config.id,
                                     holds_charge=True)
    audit.record(db=db, actor=user, action="submission.create", object_type="submission",
                 object_id=submission.id, challenge_id=phase.challenge_id,
                 phase_id=phase.id, team_id=team.id, image_digest=info.image_id)
    final = storage.submission_path(key)
    os.rename(archive, final)
    try:
        db.commit()
    except BaseException:
        db.rollback()
        final.unlink(missing_ok=True)
        raise
    dispatcher.notify(evaluation.id)
    return submission


def _visible(db: Session, user: User, submission_id: int) -> tuple[Submission, Challenge]:
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound(f"no submission {submission_id}")
    phase = db.get(Phase, submission.phase_id)
    assert phase is not None
    challenge = db.get(Challenge, phase.challenge_id)
    assert challenge is not None
    if access.is_organizer(db, user, challenge.id):
        return submission, challenge
    team = access.team_of(db, user, challenge.id)
    if team is None or team.id != submission.team_id:
        raise NotFound(f"no submission {submission_id}")
    return submission, challenge


def get(*, db: Session, user: User, submission_id: int) -> Submission:
    return _visible(db, user, submission_id)[0]


OLDEST_FIRST = Keyset("submissions", (Key(Submission.id),))


def list_for_phase(*, db: Session, user: User, phase_id: int,
                   page: PageRequest) -> Paged[Submission]:
    """One page of a phase's submissions, oldest first: organizers see every submission,
    participants only their own team's (filtered in the query, on every page)."""
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    query = select(Submission).where(Submission.phase_id == phase.id)
    if not access.is_organizer(db, user, challenge.id):
        team = access.team_of(db, user, challenge.id)
        query = query.where(false() if team is None else Submission.team_id == team.id)
    return fetch(db, query, OLDEST_FIRST, page)


def result_view(*, db: Session, user: User, phase_id: int) -> visibility.ResultView:
    """What ``user`` may see of ``phase_id``'s results; the submissions a non-organizer is
    shown are its own team's, so a team member is the ``team`` viewer."""
    phase = db.get(Phase, phase_id)
    assert phase is not None  # a submission's phase
    return visibility.for_phase(db, user, phase, own_team=True)


def select_for_ranking(*, db: Session, user: User, submission_id: int) -> Submission:
    """Mark the team's submission that represents it when the phase counts 'selected'."""
    submission, challenge = _visible(db, user, submission_id)
    if access.team_of(db, user, challenge.id) is None:
        raise Forbidden("only team members select their team's submission")
    db.execute(update(Submission).where(Submission.phase_id == submission.phase_id,
                                        Submission.team_id == submission.team_id)
               .values(selected=False))
    submission.selected = True
    audit.record(db=db, actor=user, action="submission.select", object_type="submission",
                 object_id=submission.id, challenge_id=challenge.id)
    notify.phase_changed(db, submission.phase_id)
    db.commit()
    return submission


def quota(*, db: Session, user: User, phase_id: int) -> tuple[PhaseConfigSpec, int, int]:
    phase, challenge = access.require_visible_phase(db, user, phase_id)
    team = access.team_of(db, user, challenge.id)
    if team is None:
        raise Forbidden("you are not in a team of this challenge", code="no_team")
    spec = PhaseConfigSpec.model_validate(phases.current_config(db, phase).config)
    return (spec, *usage(db, phase.id, team.id))
