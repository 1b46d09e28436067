"""`segarena team rotate-invite`, `team remove-member` and `team move` against the real server
(teams of their own: the shared world's teams stay untouched)."""

from __future__ import annotations

import json

from tests import factories as f
from tests.cli.conftest import SLUG, World
from tests.cli.helpers import api


def _signup(world: World, name: str) -> str:
    with api(world.server.url) as anonymous:
        return str(anonymous.post("/users", json={"username": name}).json()["token"])


def _team(world: World, captain: str, name: str, *members: str) -> dict:  # type: ignore[type-arg]
    with api(world.server.url, captain) as client:
        team = client.post(f"/challenges/{SLUG}/teams", json={"name": name}).json()
    for token in members:
        with api(world.server.url, token) as client:
            assert client.post(f"/challenges/{SLUG}/teams/join",
                               json={"invite_code": team["invite_code"]}).status_code == 200
    return team


def test_captain_rotates_the_invite_code_and_removes_a_member(world: World) -> None:
    erin, frank = _signup(world, "erin"), _signup(world, "frank")
    team = _team(world, erin, "rotators", frank)

    refused = world.cli("team", "rotate-invite", str(team["id"]), token=frank)
    assert refused.exit_code == 1 and "not_team_captain" in refused.stderr
    rotated = world.cli("team", "rotate-invite", str(team["id"]), "--json", token=erin)
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.stdout)["invite_code"] != team["invite_code"]

    removed = world.cli("team", "remove-member", str(team["id"]), "frank", token=erin)
    assert removed.exit_code == 0, removed.output
    assert "removed frank from team rotators" in removed.stdout
    assert "members: erin" in removed.stdout


def test_organizer_moves_a_member_of_a_team_that_submitted(world: World) -> None:
    gina, hank = _signup(world, "gina"), _signup(world, "hank")
    first = _team(world, gina, "movers-a")
    second = _team(world, hank, "movers-b")
    with api(world.server.url, gina) as client:
        phases = client.get(f"/challenges/{SLUG}/phases").json()
        phase = next(p for p in phases if p["slug"] == "sanity-check")
        assert client.post(f"/phases/{phase['id']}/submissions",
                           content=f.image_archive(salt="cli-move")).status_code == 201

    left = world.cli("team", "leave", str(first["id"]), token=gina)
    assert left.exit_code == 1 and "team_has_submitted" in left.stderr
    by_member = world.cli("team", "move", "gina", str(second["id"]), token=hank)
    assert by_member.exit_code == 1 and "organizers_only" in by_member.stderr

    moved = world.cli("team", "move", "gina", str(second["id"]), token=world.tokens["ola"])
    assert moved.exit_code == 0, moved.output
    assert "moved gina to team movers-b" in moved.stdout
    with api(world.server.url, hank) as client:
        assert client.get(f"/teams/{second['id']}").json()["members"] == ["gina", "hank"]
        assert client.get(f"/phases/{phase['id']}/quota").json()["total_used"] == 1
