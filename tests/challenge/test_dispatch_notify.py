"""Every use case that queues an evaluation sends it to the dispatcher (DESIGN section 6): the
upload, an organizer's re-evaluation and a scoring edit of a live phase, through the HTTP API
with a dispatcher that records what it is told. A forgotten notification leaves the job to
the pollers: seconds late in-process, a whole sweep late on Celery."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.accounts.models import Role
from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.models import EvalState, Evaluation
from challenge.teams import service as teams
from tests import factories as f


class RecordingDispatcher(NoDispatcher):
    def __init__(self) -> None:
        self.notified: list[int] = []

    def notify(self, evaluation_id: int) -> None:
        self.notified.append(evaluation_id)


@dataclass
class LivePhase:
    phase_id: int
    organizer: f.Account
    members: list[f.Account]
    dispatcher: RecordingDispatcher


@pytest.fixture
def live(app: FastAPI, db: Session) -> LivePhase:
    """An open phase with two teams; the app's dispatcher records its notifications."""
    admin = f.admin_account(db)
    organizer = f.account(db, "org", Role.organizer, admin.user)
    f.challenge(db, organizer.user, "alpha")
    phase = f.phase(db, organizer.user, "alpha")
    members = [f.account(db, name) for name in ("alice", "bob")]
    for member in members:
        teams.create(db=db, user=member.user, slug="alpha", name=f"Team {member.user.username}")
    app.state.dispatcher = RecordingDispatcher()
    return LivePhase(phase.id, organizer, members, app.state.dispatcher)


def _upload(client: TestClient, live: LivePhase, member: f.Account) -> int:
    """Submit as ``member``; returns the submission id."""
    r = client.post(f"/api/v1/phases/{live.phase_id}/submissions",
                    content=f.image_archive(salt=member.user.username), headers=member.headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _queued(db: Session) -> list[int]:
    return list(db.scalars(select(Evaluation.id).where(Evaluation.state == EvalState.queued)
                           .order_by(Evaluation.id)))


def test_an_upload_is_dispatched(client: TestClient, db: Session, live: LivePhase) -> None:
    _upload(client, live, live.members[0])
    assert live.dispatcher.notified == _queued(db) and len(_queued(db)) == 1


def test_an_organizers_reevaluation_is_dispatched(client: TestClient, db: Session,
                                                  live: LivePhase) -> None:
    submission_id = _upload(client, live, live.members[0])
    r = client.post(f"/api/v1/submissions/{submission_id}/reevaluate",
                    headers=live.organizer.headers)
    assert r.status_code == 200, r.text
    assert live.dispatcher.notified == _queued(db)
    assert live.dispatcher.notified[-1] == r.json()["id"]


def test_a_scoring_edit_of_a_live_phase_dispatches_every_requeued_evaluation(
        client: TestClient, db: Session, live: LivePhase) -> None:
    for member in live.members:
        _upload(client, live, member)
    uploads = list(live.dispatcher.notified)
    r = client.patch(f"/api/v1/phases/{live.phase_id}", headers=live.organizer.headers,
                     json={"config": {"metrics": "wmh"}})
    assert r.status_code == 200 and r.json()["config_version"] == 2, r.text
    requeued = [i for i in _queued(db) if i not in uploads]
    assert len(requeued) == 2
    assert live.dispatcher.notified == uploads + requeued


def test_a_ranking_only_edit_dispatches_nothing(client: TestClient, db: Session,
                                                live: LivePhase) -> None:
    _upload(client, live, live.members[0])
    before = list(live.dispatcher.notified)
    r = client.patch(f"/api/v1/phases/{live.phase_id}", headers=live.organizer.headers,
                     json={"config": {"ranking": {"metrics": ["dice"]}}})
    assert r.status_code == 200 and r.json()["config_version"] == 2, r.text
    assert live.dispatcher.notified == before == _queued(db)
