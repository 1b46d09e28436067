"""`segarena cancel` and `segarena logs` against the real server."""

from __future__ import annotations

from tests import factories as f
from tests.cli.conftest import SLUG, World
from tests.cli.helpers import api


def _queued_evaluation(world: World) -> tuple[int, str, str]:
    """A queued evaluation of a team of its own (the shared world's teams stay untouched).
    Returns (evaluation id, submitter's token, teammate's token)."""
    with api(world.server.url) as anonymous:
        carol = anonymous.post("/users", json={"username": "canceller"}).json()["token"]
        dave = anonymous.post("/users", json={"username": "canceller-mate"}).json()["token"]
    with api(world.server.url, carol) as client:
        invite = client.post(f"/challenges/{SLUG}/teams",
                             json={"name": "cancel-testers"}).json()["invite_code"]
    with api(world.server.url, dave) as client:
        assert client.post(f"/challenges/{SLUG}/teams/join",
                           json={"invite_code": invite}).status_code == 200
    with api(world.server.url, carol) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        phase = next(p for p in phases if p["slug"] == "sanity-check")
        response = client.post(f"/phases/{phase['id']}/submissions",
                               content=f.image_archive(salt="cli-cancel"))
        assert response.status_code == 201, response.text
        return response.json()["evaluation"]["id"], carol, dave


def test_team_cancels_its_queued_evaluation_and_only_organizers_read_logs(world: World) -> None:
    evaluation_id, carol, dave = _queued_evaluation(world)
    cli = world.cli

    refused = cli("logs", str(evaluation_id), token=carol)
    assert refused.exit_code == 1 and "logs_are_private" in refused.stderr

    organizer = cli("logs", str(evaluation_id), token=world.tokens["ola"])
    assert organizer.exit_code == 0, organizer.stderr

    cancelled = cli("cancel", str(evaluation_id), token=dave)  # a teammate
    assert cancelled.exit_code == 0, cancelled.stderr
    assert f"evaluation {evaluation_id}: cancelled" in cancelled.stdout
    with api(world.server.url, carol) as client:
        state = client.get(f"/evaluations/{evaluation_id}").json()["state"]
    assert state == "cancelled"
