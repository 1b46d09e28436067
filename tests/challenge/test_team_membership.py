"""Team membership changes racing each other answer 409, never 500 (both databases)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from challenge.teams import membership
from challenge.teams import service as teams
from tests import factories as f


def test_a_join_racing_an_organizers_move_is_a_409(client: TestClient, db: Session,
                                                   session_factory: sessionmaker[Session],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    admin = f.admin_account(db)
    org = f.account(db, "org", f.Role.organizer, admin.user)
    f.challenge(db, org.user, "alpha")
    target = teams.create(db=db, user=f.account(db, "alice").user, slug="alpha", name="A")
    other = teams.create(db=db, user=f.account(db, "bob").user, slug="alpha", name="B")
    carol = f.account(db, "carol")
    real_lock = membership.lock
    raced: list[int] = []

    def join_first(s: Session, team_id: int) -> None:
        if not raced:  # carol joins team B just after the move looked her up (teamless)
            raced.append(team_id)
            with session_factory() as racer:
                teams.join(db=racer, user=racer.get(f.User, carol.user.id),  # type: ignore[arg-type]
                           slug="alpha", invite_code=other.invite_code)
        real_lock(s, team_id)

    monkeypatch.setattr(membership, "lock", join_first)
    response = client.post(f"/api/v1/teams/{target.id}/members", headers=org.headers,
                           json={"username": "carol"})
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "membership_changed"
