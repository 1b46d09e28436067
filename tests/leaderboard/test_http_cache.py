"""HTTP caching of the leaderboard views: ETags, 304s, Cache-Control, Vary; HEAD everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from challenge.phases.models import Visibility
from leaderboard import http_cache
from leaderboard import service as lb_service
from leaderboard.pages import router as pages
from tests.challenge import visibility_world
from tests.leaderboard.world import add_submission, build
from tests.routes import every_get_path

VIEWS = ("leaderboard", "leaderboard.csv", "cases.csv", "page")


def _url(world: Any, view: str) -> str:
    if view == "page":
        return "/challenges/msles/phases/final"
    return f"/api/v1/phases/{world.phase.id}/{view}"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """Distinctive max-age values, so the test sees they come from the settings."""
    return settings.model_copy(update={"leaderboard_max_age": 7,
                                       "leaderboard_stale_while_revalidate": 11})


@pytest.mark.parametrize("view", VIEWS)
def test_a_matching_if_none_match_answers_304_without_rendering(
        db: Session, client: TestClient, view: str, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db, per_case=True)
    first = client.get(_url(world, view))
    assert first.status_code == 200, first.text
    tag = first.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")

    def no_rendering(*_: object, **__: object) -> bytes:
        raise AssertionError("a 304 must not render the view")

    monkeypatch.setattr(lb_service, "render", no_rendering)
    monkeypatch.setattr(pages, "_phase_html", no_rendering)
    for header in (tag, f"W/{tag}", f'"nope", {tag}', f'W/"x",W/{tag} , "y"', "*"):
        again = client.get(_url(world, view), headers={"If-None-Match": header})
        assert again.status_code == 304, (header, again.text)
        assert again.content == b""
        for name in ("etag", "cache-control", "vary"):
            assert again.headers[name] == first.headers[name], name
    monkeypatch.undo()
    for header in ('"nope"', "W/\"nope\", \"other\"", tag[:-2] + '"', "garbage", ""):
        other = client.get(_url(world, view), headers={"If-None-Match": header})
        assert other.status_code == 200, header
        assert other.content == first.content and other.headers["etag"] == tag


@pytest.mark.parametrize("view", VIEWS)
def test_every_audience_gets_its_own_etag(db: Session, client: TestClient, view: str) -> None:
    world = build(db, per_case=True)
    tags = {}
    for role in ("public", "member", "outsider", "organizer", "admin"):
        response = client.get(_url(world, view), headers=world.headers(role))
        assert response.status_code == 200, (role, response.text)
        tags[role] = response.headers["etag"]
    # public, participant and organizer views differ; an admin is an organizer, and a
    # signed-in reader in no team is the public (they see the same bytes). The page's
    # layout names the signed-in reader, so there every reader has a tag of their own.
    assert len({tags["public"], tags["member"], tags["organizer"]}) == 3
    if view == "page":
        assert len(set(tags.values())) == 5
    else:
        assert tags["admin"] == tags["organizer"] and tags["outsider"] == tags["public"]
    # Another reader's tag never earns a 304 from this one.
    answer = client.get(_url(world, view), headers={"If-None-Match": tags["organizer"]})
    assert answer.status_code == 200 and answer.headers["etag"] == tags["public"]


def test_views_of_one_board_have_distinct_etags(db: Session, client: TestClient) -> None:
    world = build(db, per_case=True)
    tags = {client.get(_url(world, view)).headers["etag"] for view in VIEWS}
    assert len(tags) == len(VIEWS)


def test_a_new_result_changes_the_etag(db: Session, client: TestClient) -> None:
    world = build(db)
    before = {view: client.get(_url(world, view)).headers["etag"] for view in VIEWS[:2]}
    add_submission(db, world, "Delta", minutes=90,
                   values={"dice": [0.1, 0.1, 0.1, 0.1], "lesion_f1": [0.1, 0.1, 0.1, 0.1]})
    db.commit()
    for view, tag in before.items():
        answer = client.get(_url(world, view), headers={"If-None-Match": tag})
        assert answer.status_code == 200 and answer.headers["etag"] != tag
        assert "Delta" in answer.text


def test_public_board_is_shareable_and_everything_personal_is_private(
        db: Session, client: TestClient) -> None:
    world = build(db, per_case=True)
    for view in VIEWS:
        public = client.get(_url(world, view))
        assert public.headers["cache-control"] == (
            "public, max-age=7, stale-while-revalidate=11"), view
        assert public.headers["vary"] == "Authorization, Cookie"
        for role in ("member", "outsider", "organizer"):
            personal = client.get(_url(world, view), headers=world.headers(role))
            assert personal.headers["cache-control"] == "private, no-cache", (view, role)
            assert personal.headers["vary"] == "Authorization, Cookie"
        # A browser signed in to the web app is a personal reader too, even with a dead cookie.
        client.cookies.set("segarena_session", "0" * 32 + ".nothing")
        assert client.get(_url(world, view)).headers["cache-control"] == "private, no-cache"
        client.cookies.clear()


@pytest.mark.parametrize("setting", ["hidden", "participants"])
def test_restricted_or_hidden_boards_are_never_shared(db: Session, client: TestClient,
                                                     setting: str) -> None:
    world = (build(db, hide_scores=True) if setting == "hidden"
             else build(db, leaderboard=Visibility.participants))
    role = "public" if setting == "hidden" else "member"
    for view in ("leaderboard", "leaderboard.csv", "page"):
        answer = client.get(_url(world, view), headers=world.headers(role))
        assert answer.status_code == 200, (view, answer.text)
        assert answer.headers["cache-control"] == "private, no-cache", view
    # Refused readers get no ETag to replay.
    if setting == "participants":
        refused = client.get(_url(world, "leaderboard"))
        assert refused.status_code == 403 and "etag" not in refused.headers


def test_cases_csv_refused_before_any_304(db: Session, client: TestClient) -> None:
    """A reader who may not see per-case values gets 403 even with a valid-looking tag."""
    world = build(db, per_case=False)
    organizer = client.get(_url(world, "cases.csv"), headers=world.headers("organizer"))
    assert organizer.status_code == 200
    for header in (organizer.headers["etag"], "*"):
        public = client.get(_url(world, "cases.csv"), headers={"If-None-Match": header})
        assert public.status_code == 403, header


def test_if_none_match_parsing() -> None:
    tag = '"abc"'
    assert http_cache.matches('"abc"', tag) and http_cache.matches('W/"abc"', tag)
    assert http_cache.matches(' "x" ,W/"abc"', tag) and http_cache.matches(" * ", tag)
    assert not http_cache.matches(None, tag) and not http_cache.matches('"abcd"', tag)
    assert not http_cache.matches("abc", tag) and not http_cache.matches('"ab", *', tag)


def _headers(response: Any) -> dict[str, str]:
    return dict(response.headers.items())


def test_head_answers_every_get_route_like_get_without_a_body(
        db: Session, client: TestClient, app: FastAPI) -> None:
    world = visibility_world.build(db, visibility_world.SETTINGS["per-case"])
    values = {"slug": [world.ids["slug"]], "phase_id": [world.ids["phase_id"], 999999],
              "phase_slug": [world.ids["phase_slug"]], "dataset_id": [world.ids["dataset_id"]],
              "team_id": [world.ids["team_id"]], "submission_id": [world.ids["submission_id"]],
              "evaluation_id": [world.ids["evaluation_id"]],
              "lease_id": ["no-such-lease-0001"]}  # site routes: 401 to users, HEAD as GET
    seen: dict[int, int] = {}
    for viewer in ("public", "organizer"):
        headers = world.headers(viewer)
        for path in every_get_path(app, values):
            get = client.get(path, headers=headers)
            head = client.head(path, headers=headers)
            again = client.get(path, headers=headers)  # a GET may record something (a token use)
            assert head.status_code == get.status_code != 405, (viewer, path)
            assert head.content == b"", path
            assert _headers(head) in (_headers(get), _headers(again)), (viewer, path)
            seen[get.status_code] = seen.get(get.status_code, 0) + 1
    assert seen.get(200, 0) > 30 and seen.get(404, 0) > 0  # real content and real errors
    # The stylesheet and the API docs too (routes outside the schema).
    for path in ("/static/segarena.css", "/openapi.json", "/docs"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200 and head.content == b"", path
        assert head.headers["content-length"] == get.headers["content-length"], path
