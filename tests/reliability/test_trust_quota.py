"""Looks at the hidden test set are counted (DESIGN section 8; issue 10, items 4-6).

Each attack goes through the HTTP API (``client``) and, where an evaluation runs, through the
real state machine and worker, with the fake executor standing in for Docker. Both databases.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from challenge.core.config import Settings
from challenge.core.db import utcnow
from challenge.datasets import service as datasets
from challenge.evaluations import lifecycle
from challenge.evaluations.models import EvalState, Evaluation
from evaluator.sandbox import PlatformError, RunResult, RunSpec
from tests import factories as f
from tests.evaluator.fake_executor import FakeExecutor
from tests.evaluator.worker_world import make_worker, quiet

TOTAL = 2  # submissions per team (and per person) in the phase
PLAYERS = ("alice", "bob", "carol")


@dataclass
class Arena:
    client: TestClient
    phase_id: int
    organizer: f.Account
    players: dict[str, f.Account]

    def post(self, who: str, path: str, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", headers=self._headers(who), **kwargs)

    def get(self, who: str, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self._headers(who))

    def delete(self, who: str, path: str) -> Any:
        return self.client.delete(f"/api/v1{path}", headers=self._headers(who))

    def _headers(self, who: str) -> dict[str, str]:
        return self.organizer.headers if who == "org" else self.players[who].headers

    def create_team(self, who: str, name: str) -> dict[str, Any]:
        response = self.post(who, "/challenges/alpha/teams", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()

    def submit(self, who: str, salt: str) -> Any:
        return self.post(who, f"/phases/{self.phase_id}/submissions",
                         content=f.image_archive(salt=salt))

    def submitted(self, who: str, salt: str) -> dict[str, Any]:
        response = self.submit(who, salt)
        assert response.status_code == 201, response.text
        return response.json()

    def used(self, who: str) -> int:
        quota = self.get(who, f"/phases/{self.phase_id}/quota")
        assert quota.status_code == 200, quota.text
        return int(quota.json()["total_used"])


@pytest.fixture
def arena(db: Session, app: FastAPI, client: TestClient, tmp_path: Path) -> Arena:
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    tar = tmp_path / "dataset.tar.gz"
    tar.write_bytes(f.tiny_dataset(3).tar_bytes())
    dataset = datasets.create_from_archive(db=db, storage=app.state.storage, user=org.user,
                                           slug="alpha", name="hidden", archive=tar,
                                           max_bytes=10**9, max_voxels=10**8)
    phase = f.phase(db, org.user, "alpha", dataset_id=dataset.id, config={
        "show_per_case_scores": True, "submissions": {"per_day": TOTAL, "total": TOTAL}})
    players = {name: f.account(db, name) for name in PLAYERS}
    return Arena(client, phase.id, org, players)


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    return quiet(settings)


@pytest.fixture
def stored(monkeypatch) -> threading.Event:
    """Set each time the worker's recorder thread has committed scored cases (the worker
    stores cases from a thread of its own, after the executor has gone on)."""
    event = threading.Event()
    original = lifecycle.record_cases

    def record_cases(*args, **kwargs):
        written = original(*args, **kwargs)
        event.set()
        return written

    monkeypatch.setattr(lifecycle, "record_cases", record_cases)
    return event


class ActsAfterFirstCase(FakeExecutor):
    """Runs the cases like ``FakeExecutor``; once the first one is stored (``stored`` is
    set), ``act`` runs (the team reading it and cancelling) and the run is told to stop, as
    the worker's heartbeat thread does when it sees the cancel request."""

    def __init__(self, act: Callable[[], None], stored: threading.Event) -> None:
        super().__init__()
        self.act = act
        self.stored = stored

    def run(self, spec: RunSpec, *, on_case_done=None,
            cancel_event: threading.Event | None = None) -> RunResult:
        self.stored.clear()

        def done(case):
            if on_case_done is not None:
                on_case_done(case)
            if cancel_event is not None and not cancel_event.is_set():
                assert self.stored.wait(30), "the first case was never stored"
                self.act()
                cancel_event.set()

        return super().run(spec, on_case_done=done, cancel_event=cancel_event)


def _peek_then_cancel(arena: Arena, who: str, evaluation_id: int) -> Callable[[], None]:
    def act() -> None:
        cases = arena.get(who, f"/evaluations/{evaluation_id}/cases")
        assert cases.status_code == 200, cases.text
        # one hidden case scored, seen
        assert [c["status"] for c in cases.json()["items"]] == ["ok"]
        assert arena.post(who, f"/evaluations/{evaluation_id}/cancel").status_code == 200

    return act


def test_item4_cancel_after_a_scored_case_refunds_nothing(
        arena, session_factory, app, worker_settings, stored) -> None:
    """Read the scored cases, cancel, resubmit: the quota is spent, the next upload is a 429."""
    arena.create_team("alice", "Peekers")
    for i in range(TOTAL):
        submission = arena.submitted("alice", f"peek{i}")
        evaluation_id = submission["evaluation"]["id"]
        executor = ActsAfterFirstCase(_peek_then_cancel(arena, "alice", evaluation_id), stored)
        assert make_worker(session_factory, app, worker_settings,
                      executor).run(evaluation_id) == EvalState.cancelled
        assert arena.get("alice", f"/submissions/{submission['id']}").json()["charged"]
        assert arena.used("alice") == i + 1
    refused = arena.submit("alice", "one-more")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"


def test_item4_cancel_of_a_requeued_job_that_scored_before_refunds_nothing(
        arena, session_factory) -> None:
    """Cancel a re-queued job whose reaped attempt had stored a case: it stays charged."""
    arena.create_team("alice", "Patient")
    evaluation_id = arena.submitted("alice", "reaped")["evaluation"]["id"]
    with session_factory() as s:
        dead = lifecycle.claim(s, evaluation_id, "dead-worker")
        assert dead is not None and lifecycle.advance(s, dead, EvalState.provisioning,
                                                      EvalState.running)
        assert lifecycle.record_case(s, dead, "case000", "ok", None, {"dice": 0.9}, [])
        s.execute(update(Evaluation).where(Evaluation.id == evaluation_id)
                  .values(heartbeat_at=utcnow() - timedelta(hours=1)))
        s.commit()
        assert lifecycle.reap(s, grace_seconds=60, max_retries=3) == [evaluation_id]
    cancelled = arena.post("alice", f"/evaluations/{evaluation_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert arena.used("alice") == 1


def test_cancel_before_any_case_is_scored_is_still_refunded(arena) -> None:
    """Not an attack (so not an item): a cancel before anything was shown is refunded."""
    arena.create_team("alice", "Hasty")
    submission = arena.submitted("alice", "queued")
    assert arena.post("alice", f"/evaluations/{submission['evaluation']['id']}/cancel"
                      ).status_code == 200
    assert not arena.get("alice", f"/submissions/{submission['id']}").json()["charged"]
    assert arena.used("alice") == 0


def test_item4_the_cancel_rule_is_stated_on_the_rules_page_and_the_cancel_help(
        arena, app) -> None:
    """The rules page, the API's cancel description and the CLI's cancel help state the rule."""
    from challenge.cli.submissions import cancel
    from challenge.evaluations.charge import CANCEL_RULE

    page = arena.client.get("/challenges/alpha")
    assert page.status_code == 200 and CANCEL_RULE in page.text
    operation = app.openapi()["paths"]["/api/v1/evaluations/{evaluation_id}/cancel"]["post"]
    assert CANCEL_RULE in operation["description"]
    assert CANCEL_RULE in " ".join((cancel.__doc__ or "").split())
    assert "only the organizers can move or remove members" in page.text


def _run_original(arena: Arena, session_factory: sessionmaker[Session], app: FastAPI,
                  settings: Settings) -> dict[str, Any]:
    arena.create_team("alice", "Original")
    submission = arena.submitted("alice", "original")
    assert make_worker(session_factory, app, settings, FakeExecutor()).run(
        submission["evaluation"]["id"]) == EvalState.succeeded
    assert arena.used("alice") == 1
    return submission


def test_item5_cancelling_an_organizers_reevaluation_keeps_the_original_charge(
        arena, session_factory, app, worker_settings) -> None:
    """Cancel an organizer's re-evaluation of a scored submission: the original stays charged."""
    submission = _run_original(arena, session_factory, app, worker_settings)
    rerun = arena.post("org", f"/submissions/{submission['id']}/reevaluate")
    assert rerun.status_code == 200, rerun.text
    assert arena.post("alice", f"/evaluations/{rerun.json()['id']}/cancel").status_code == 200
    assert arena.get("alice", f"/submissions/{submission['id']}").json()["charged"]
    assert arena.used("alice") == 1


def test_item5_a_reevaluations_platform_fault_refunds_nothing(
        arena, session_factory, app, worker_settings) -> None:
    """An organizer's re-evaluation ends errored (platform fault): the original stays charged."""
    submission = _run_original(arena, session_factory, app, worker_settings)
    rerun_id = arena.post("org", f"/submissions/{submission['id']}/reevaluate").json()["id"]
    broken = make_worker(session_factory, app, worker_settings,
                    FakeExecutor(run_error=PlatformError("engine unreachable")))
    assert broken.run(rerun_id) == EvalState.queued
    assert broken.run(rerun_id) == EvalState.errored
    assert arena.get("alice", f"/submissions/{submission['id']}").json()["charged"]
    assert arena.used("alice") == 1


def test_item5_cancelling_the_original_while_a_reevaluation_is_pending_refunds_nothing(
        arena) -> None:
    """Cancel the original while an organizer's re-evaluation may still score it: no refund."""
    arena.create_team("alice", "Sly")
    submission = arena.submitted("alice", "twice")
    assert arena.post("org", f"/submissions/{submission['id']}/reevaluate").status_code == 200
    assert arena.post("alice", f"/evaluations/{submission['evaluation']['id']}/cancel"
                      ).status_code == 200
    assert arena.used("alice") == 1


def _team_with(arena: Arena, captain: str, *others: str) -> dict[str, Any]:
    team = arena.create_team(captain, f"team-{captain}")
    for who in others:
        joined = arena.post(who, "/challenges/alpha/teams/join",
                            json={"invite_code": team["invite_code"]})
        assert joined.status_code == 200, joined.text
    return team


def _refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_item6_leaving_a_team_that_submitted_to_hop_is_refused(arena) -> None:
    """Leave after the team's first submission, to submit again in a new team: 409."""
    team = _team_with(arena, "alice", "bob")
    arena.submitted("alice", "first")
    for who in ("bob", "alice"):
        _refused(arena.post(who, f"/teams/{team['id']}/leave"), 409, "team_has_submitted")
    _refused(arena.post("bob", "/challenges/alpha/teams", json={"name": "hop"}), 409,
             "already_in_team")


def test_item6_a_former_member_cannot_rejoin_a_team_that_submitted(arena) -> None:
    """Re-join with the never-changing invite code after the team submitted: 409."""
    team = _team_with(arena, "alice", "bob")
    assert arena.post("bob", f"/teams/{team['id']}/leave").status_code == 200
    arena.submitted("alice", "first")
    _refused(arena.post("bob", "/challenges/alpha/teams/join",
                        json={"invite_code": team["invite_code"]}), 409, "team_has_submitted")


def test_item6_a_rotated_invite_code_stops_working(arena) -> None:
    """The captain rotates a leaked code, removes the member who used it: the old code fails."""
    team = _team_with(arena, "alice", "bob")
    _refused(arena.post("bob", f"/teams/{team['id']}/invite-code"), 403, "not_team_captain")
    rotated = arena.post("alice", f"/teams/{team['id']}/invite-code")
    assert rotated.status_code == 200 and rotated.json()["invite_code"] != team["invite_code"]
    removed = arena.delete("alice", f"/teams/{team['id']}/members/bob")
    assert removed.status_code == 200 and removed.json()["members"] == ["alice"]
    _refused(arena.post("bob", "/challenges/alpha/teams/join",
                        json={"invite_code": team["invite_code"]}), 404, "bad_invite_code")
    audit = arena.get("org", "/challenges/alpha/audit").json()["items"]
    assert {"team.rotate_invite", "team.remove_member"} <= {e["action"] for e in audit}


def test_item6_a_captain_cannot_remove_members_after_the_first_submission(arena) -> None:
    """A captain removes a member after the team submitted (so they can hop): 409."""
    team = _team_with(arena, "alice", "bob")
    arena.submitted("alice", "first")
    _refused(arena.delete("alice", f"/teams/{team['id']}/members/bob"), 409,
             "team_has_submitted")


def test_item6_a_users_submissions_follow_them_into_a_new_team(arena) -> None:
    """Spend the quota, get removed by an organizer, create a new team: still 429."""
    team = _team_with(arena, "alice", "bob")
    for i in range(TOTAL):
        arena.submitted("alice", f"spent{i}")
    removed = arena.delete("org", f"/teams/{team['id']}/members/alice")
    assert removed.status_code == 200 and removed.json()["members"] == ["bob"]
    assert arena.used("bob") == TOTAL  # removing someone frees nothing
    arena.create_team("alice", "Fresh start")
    assert arena.used("alice") == TOTAL
    _refused(arena.submit("alice", "fresh"), 429, "quota_exceeded")


def test_item6_an_organizer_move_brings_the_users_submissions_along(arena) -> None:
    """An organizer moves a member who submitted into another team: both teams count them."""
    first = _team_with(arena, "alice")
    arena.submitted("alice", "mine")
    second = _team_with(arena, "carol")
    _refused(arena.post("carol", f"/teams/{second['id']}/members", json={"username": "alice"}),
             403, "organizers_only")
    moved = arena.post("org", f"/teams/{second['id']}/members", json={"username": "alice"})
    assert moved.status_code == 200 and moved.json()["members"] == ["alice", "carol"]
    assert arena.used("carol") == 1
    assert arena.get("org", f"/teams/{first['id']}").json()["members"] == []
    arena.submitted("carol", "ours")
    _refused(arena.submit("alice", "third"), 429, "quota_exceeded")
    audit = arena.get("org", "/challenges/alpha/audit").json()["items"]
    move = next(e for e in audit if e["action"] == "team.move_member")
    assert move["detail"]["from_team_id"] == first["id"] and move["object_id"] == str(second["id"])
