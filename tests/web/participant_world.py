"""The who-sees-what world (``tests.challenge.visibility_world``) seen through the browser:
the users behind its viewers, signed in with real sessions, and evaluations added in any
state."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import User
from challenge.evaluations.models import EvalState, Evaluation
from challenge.submissions.models import Submission
from tests.challenge.visibility_world import VisWorld
from tests.web.helpers import sign_in

#: visibility_world's viewers by the user names it gives them.
USERNAMES = {"organizer": "vis-org", "member": "vis-alpha", "other": "vis-bravo"}


def user(db: Session, name: str) -> User:
    found = db.scalar(select(User).where(User.username == name))
    assert found is not None
    return found


def act_as(client: TestClient, db: Session, role: str) -> None:
    """Sign ``client`` in as ``role`` (organizer, member of Alpha, other = member of Bravo,
    outsider = a participant in no team; anonymous: no session)."""
    client.cookies.clear()
    if role == "anonymous":
        return
    if role == "outsider":
        from tests import factories as f
        existing = db.scalar(select(User).where(User.username == "vis-outsider"))
        who = existing or f.account(db, "vis-outsider").user
    else:
        who = user(db, USERNAMES[role])
    sign_in(client, db, who)


def add_run(db: Session, world: VisWorld, state: EvalState, *, done: int = 0,
            total: int = 4, salt: str = "") -> Submission:
    """A new submission of Alpha with one evaluation in ``state`` (``done`` of ``total``
    cases), written as the worker leaves it."""
    alpha = user(db, USERNAMES["member"])
    submission = Submission(phase_id=world.phase.id, team_id=world.ids["team_id"],
                            submitter_id=alpha.id, archive_key=f"run{state}{salt}".ljust(32, "r"),
                            archive_bytes=10, archive_sha256="3" * 64,
                            image_digest="sha256:" + "4" * 64, image_user="1000")
    db.add(submission)
    db.flush()
    db.add(Evaluation(submission_id=submission.id, phase_config_id=world.phase.current_config_id,
                      state=state, cases_done=done, cases_total=total))
    db.commit()
    return submission
