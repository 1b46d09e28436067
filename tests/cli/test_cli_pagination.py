"""The CLI's list commands against the live test server: they follow the API's cursors to the
last page, ``--limit N`` shows the first N and says there are more, and ``--json`` stays one
array. Pages of 2 (instead of 200) make every list here span several pages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from challenge.cli import client as cli_client
from tests import factories as f
from tests.cli.conftest import World
from tests.cli.helpers import api

SLUG = "paging-cli"
PAGE = 2


@dataclass
class Paging:
    tokens: dict[str, str]
    phase_id: int


def _signup(world: World, name: str) -> str:
    with api(world.server.url) as anonymous:
        response = anonymous.post("/users", json={"username": name})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])


@pytest.fixture(scope="module")
def paging(world: World) -> Paging:
    """A challenge of its own: 5 teams, 3 datasets, and 3 + 2 submissions of two teams."""
    now = datetime.now(UTC)
    with api(world.server.url, world.tokens["ola"]) as ola:
        assert ola.post("/challenges", json={"slug": SLUG, "title": "Paging",
                                             "is_published": True}).status_code == 201
        for i in range(3):
            assert ola.post(f"/challenges/{SLUG}/datasets", params={"name": f"set-{i}"},
                            content=f.tiny_dataset(1).tar_bytes()).status_code == 201
        phase = ola.post(f"/challenges/{SLUG}/phases", json={
            "slug": "open", "title": "Open", "opens_at": (now - timedelta(days=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat()}).json()
    tokens = {}
    for i, name in enumerate(("kilo", "Lima", "mike", "November", "oscar")):
        tokens[name] = _signup(world, f"pager-{i}")
        with api(world.server.url, tokens[name]) as client:
            assert client.post(f"/challenges/{SLUG}/teams",
                               json={"name": name}).status_code == 201
    for name, count in (("kilo", 3), ("Lima", 2)):
        with api(world.server.url, tokens[name]) as client:
            for i in range(count):
                assert client.post(f"/phases/{phase['id']}/submissions",
                                   content=f.image_archive(salt=f"{name}{i}")).status_code == 201
    return Paging(tokens, phase["id"])


@pytest.fixture
def list_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Small pages, and the query of every page the CLI asked for."""
    monkeypatch.setattr(cli_client, "PAGE_SIZE", PAGE)
    asked: list[dict[str, Any]] = []
    original = cli_client.Api.get

    def get(self: cli_client.Api, path: str, **kwargs: Any) -> Any:
        if "limit" in (kwargs.get("params") or {}):
            asked.append(dict(kwargs["params"]))
        return original(self, path, **kwargs)

    monkeypatch.setattr(cli_client.Api, "get", get)
    return asked


def _everything(world: World, path: str, token: str | None) -> list[dict[str, Any]]:
    """The whole list in one page straight from the API: what the CLI must show."""
    with api(world.server.url, token) as client:
        page = client.get(path, params={"limit": 200}).json()
    assert page["next_cursor"] is None
    return list(page["items"])


def test_team_list_follows_every_cursor(world: World, paging: Paging,
                                        list_requests: list[dict[str, Any]]) -> None:
    result = world.cli("team", "list", SLUG, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown == _everything(world, f"/challenges/{SLUG}/teams", None)
    assert len(shown) == 5 and len({t["id"] for t in shown}) == 5
    assert len(list_requests) == 3  # 2 + 2 + 1, following the cursor twice
    assert "cursor" not in list_requests[0] and all("cursor" in q for q in list_requests[1:])
    assert result.stderr == ""  # nothing was cut


def test_limit_shows_the_first_n_and_says_there_are_more(world: World, paging: Paging,
                                                          list_requests: list[Any]) -> None:
    result = world.cli("team", "list", SLUG, "--limit", "3", "--json")
    assert result.exit_code == 0, result.output
    everything = _everything(world, f"/challenges/{SLUG}/teams", None)
    assert json.loads(result.stdout) == everything[:3]
    assert [q["limit"] for q in list_requests] == [2, 1]  # never more than asked
    assert "showing the first 3; there are more" in result.stderr
    table = world.cli("team", "list", SLUG, "--limit", "5")
    assert table.exit_code == 0 and "there are more" not in table.stderr
    assert all(t["name"] in table.stdout for t in everything)


def test_status_pages_through_only_the_callers_submissions(world: World, paging: Paging,
                                                           list_requests: list[Any]) -> None:
    path = f"/phases/{paging.phase_id}/submissions"
    mine = world.cli("status", str(paging.phase_id), "--json", token=paging.tokens["kilo"])
    assert mine.exit_code == 0, mine.output
    kilo = json.loads(mine.stdout)
    assert [s["id"] for s in kilo] == [s["id"] for s in _everything(
        world, path, paging.tokens["kilo"])]
    assert len(kilo) == 3 and {s["team_name"] for s in kilo} == {"kilo"}
    organizer = world.cli("status", f"{SLUG}/open", "--json", token=world.tokens["ola"])
    everyone = json.loads(organizer.stdout)
    assert len(everyone) == 5 and {s["team_name"] for s in everyone} == {"kilo", "Lima"}
    assert [s["id"] for s in everyone] == sorted(s["id"] for s in everyone)
    capped = world.cli("status", str(paging.phase_id), "--limit", "4", token=world.tokens["ola"])
    assert capped.exit_code == 0 and "showing the first 4" in capped.stderr


def test_dataset_and_challenge_lists_page_too(world: World, paging: Paging,
                                              list_requests: list[Any]) -> None:
    datasets = world.cli("dataset", "list", SLUG, "--json", token=world.tokens["ola"])
    assert datasets.exit_code == 0, datasets.output
    assert [d["name"] for d in json.loads(datasets.stdout)] == ["set-0", "set-1", "set-2"]
    challenges = world.cli("challenge", "list", "--json")
    assert [c["slug"] for c in json.loads(challenges.stdout)] == [
        c["slug"] for c in _everything(world, "/challenges", None)]
    assert len(list_requests) >= 3  # two dataset pages, then the challenges' pages
    newest = _everything(world, "/challenges", None)[0]["slug"]
    first = world.cli("challenge", "list", "--limit", "1")
    assert first.exit_code == 0 and newest in first.stdout
    assert "showing the first 1; there are more" in first.stderr
