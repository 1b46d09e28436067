"""The anonymous hot path on the event loop (``leaderboard.fastpath``): a warm public board
costs no thread and no query; a bearer token, a session cookie, a restricted board or a state
due for its recheck take the thread pool, and never get the anonymous bytes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from challenge.core.config import Settings
from challenge.phases.models import Visibility
from challenge.web import sessions
from leaderboard import freshness as freshness_module
from leaderboard.freshness import CLAIM_SECONDS, Freshness
from tests.leaderboard.test_freshness import counted
from tests.leaderboard.world import build
from tests.web.helpers import sign_in

PAGE = "/challenges/msles/phases/final"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A long interval: a state read once stays fresh for the whole test."""
    return settings.model_copy(update={"leaderboard_recheck_seconds": 3600.0})


@contextmanager
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions the app sent to a worker thread (every thread hop of
    Starlette and FastAPI goes through ``anyio.to_thread.run_sync``)."""
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    try:
        yield hops
    finally:
        monkeypatch.setattr(anyio.to_thread, "run_sync", real)


def _paths(world: Any) -> list[str]:
    api = f"/api/v1/phases/{world.phase.id}"
    return [f"{api}/leaderboard", f"{api}/leaderboard.csv", f"{api}/cases.csv", PAGE]


def test_a_warm_anonymous_board_is_answered_with_no_thread_and_no_query(
        db: Session, client: TestClient, connection: Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db, per_case=True)
    with thread_hops(monkeypatch) as cold_hops, counted(connection) as cold_sql:
        first = {path: client.get(path) for path in _paths(world)}
    assert all(r.status_code == 200 for r in first.values()), first
    assert len(cold_hops) >= 4 and cold_sql  # the counters see the cold path's work
    with thread_hops(monkeypatch) as hops, counted(connection) as sql:
        for path, cold in first.items():
            hot = client.get(path)
            assert hot.status_code == 200, path
            assert hot.content == cold.content
            for name in ("etag", "cache-control", "vary", "content-type"):
                assert hot.headers[name] == cold.headers[name], (path, name)
            assert hot.headers["cache-control"].startswith("public, max-age=")
            again = client.get(path, headers={"If-None-Match": cold.headers["etag"]})
            assert again.status_code == 304 and again.content == b"", path
            assert again.headers["etag"] == cold.headers["etag"]
    assert hops == [] and sql == []


def test_a_bearer_token_never_gets_the_anonymous_bytes(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db, hide_scores=True)
    url = f"/api/v1/phases/{world.phase.id}/leaderboard"
    public = client.get(url)
    assert all(row["scores"] == {} for row in public.json()["rows"])  # hidden until close
    client.get(url)  # warm: the next anonymous request is answered on the loop
    with thread_hops(monkeypatch) as hops:
        organizer = client.get(url, headers=world.headers("organizer"))
        replay = client.get(url, headers={**world.headers("organizer"),
                                          "If-None-Match": public.headers["etag"]})
        outsider = client.get(url, headers=world.headers("outsider"))
    assert len(hops) == 3  # each checked its token in the thread pool
    assert organizer.status_code == 200
    assert organizer.json()["rows"][0]["scores"] == {"dice": 0.75, "lesion_f1": 0.5}
    assert organizer.headers["etag"] != public.headers["etag"]
    assert replay.status_code == 200 and replay.content == organizer.content
    # A signed-in reader in no team sees what the public sees, yet privately.
    assert outsider.content == public.content
    assert outsider.headers["cache-control"] == "private, no-cache"
    bad = client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] != ""


def test_a_session_cookie_never_gets_the_anonymous_page(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db)
    anonymous = client.get(PAGE)
    assert anonymous.status_code == 200 and "Sign in" in anonymous.text
    assert client.get(PAGE).content == anonymous.content  # warm
    sign_in(client, db, world.member.user)
    with thread_hops(monkeypatch) as hops:
        mine = client.get(PAGE)
        replay = client.get(PAGE, headers={"If-None-Match": anonymous.headers["etag"]})
    assert len(hops) == 2
    assert mine.status_code == 200 and replay.status_code == 200
    assert f"Signed in as <a href=\"/account\">{world.member.user.username}</a>" in mine.text
    assert mine.headers["etag"] != anonymous.headers["etag"]
    assert mine.headers["cache-control"] == "private, no-cache"
    # A cookie that is worth nothing is still no anonymous request: never a shared answer.
    client.cookies.set(sessions.COOKIE, "forged")
    with thread_hops(monkeypatch) as forged_hops:
        forged = client.get(PAGE)
        api = client.get(f"/api/v1/phases/{world.phase.id}/leaderboard")
    assert len(forged_hops) == 2
    assert forged.status_code == 200 and "Sign in" in forged.text
    assert forged.headers["cache-control"] == "private, no-cache"
    assert api.headers["cache-control"] == "private, no-cache"


def test_a_restricted_board_refuses_the_anonymous_reader_in_the_thread_pool(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db, leaderboard=Visibility.participants)
    url = f"/api/v1/phases/{world.phase.id}/leaderboard"
    assert client.get(url, headers=world.headers("member")).status_code == 200  # warm
    with thread_hops(monkeypatch) as hops:
        answers = [client.get(url), client.get(url), client.get(PAGE)]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert answers[0].json()["error"]["code"] == "leaderboard_not_public"
    assert "<h1" in answers[2].text  # the HTML error page
    assert len(hops) == 3


def test_per_case_values_a_phase_does_not_publish_are_refused_warm_or_cold(
        db: Session, client: TestClient) -> None:
    world = build(db, per_case=False)
    url = f"/api/v1/phases/{world.phase.id}"
    assert client.get(f"{url}/leaderboard").status_code == 200  # warm state and payload
    for _ in range(2):
        refused = client.get(f"{url}/cases.csv")
        assert refused.status_code == 403, refused.text


def test_a_state_due_for_its_recheck_is_read_in_the_thread_pool(
        db: Session, client: TestClient, app: FastAPI, connection: Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    app.state.leaderboard_cache.states = Freshness(1.0, clock=lambda: now[0])
    world = build(db)
    url = f"/api/v1/phases/{world.phase.id}/leaderboard"
    first = client.get(url)
    with thread_hops(monkeypatch) as hops, counted(connection) as sql:
        now[0] += 0.999
        assert client.get(url).content == first.content
        assert (hops, sql) == ([], [])
        now[0] += 0.001  # the interval has passed: the state is read again, in a thread
        assert client.get(url).content == first.content
    assert len(hops) == 1 and sql


def test_while_one_request_rereads_a_due_state_the_others_keep_the_kept_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One read per recheck, not one per request arriving during it; a change heard drops
    the kept state even then."""
    now = [1000.0]
    freshness = Freshness(1.0, clock=lambda: now[0])
    old, new = object(), object()
    reading, release = threading.Event(), threading.Event()
    answers = iter([old, new, new])

    def read_state(_db: Any, _phase_id: int) -> Any:
        value = next(answers)
        if value is new:
            reading.set()
            assert release.wait(10)
        return value

    monkeypatch.setattr(freshness_module, "read_state", read_state)
    assert freshness.current(None, 7) is old  # type: ignore[arg-type]
    now[0] += 1.0  # due
    assert freshness.peek(7) is None  # this request claims the read...
    assert freshness.peek(7) is old  # ...the others keep the kept state meanwhile
    rereader = threading.Thread(target=freshness.current, args=(None, 7))
    rereader.start()
    assert reading.wait(10)
    assert freshness.peek(7) is old  # kept while the read is under way
    assert freshness.current(None, 7) is old  # type: ignore[arg-type]
    release.set()
    rereader.join(10)
    assert freshness.peek(7) is new and freshness.reads == 2
    now[0] += 1.0
    assert freshness.peek(7) is None  # due again: claimed...
    now[0] += CLAIM_SECONDS
    assert freshness.peek(7) is None  # ...but a claim without its read lapses
    reading.clear()
    release.clear()
    rereader = threading.Thread(target=freshness.current, args=(None, 7))
    rereader.start()
    assert reading.wait(10)
    freshness.changed(7)  # a notice: nothing kept is trusted any more, read or not
    assert freshness.peek(7) is None
    release.set()
    rereader.join(10)
    assert freshness.peek(7) is None  # the read began before the change: not kept


@contextmanager
def routed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths of the requests that reached a route's handler (FastAPI solves every route's
    dependencies through ``fastapi.routing.solve_dependencies``)."""
    import fastapi.routing

    reached: list[str] = []
    real = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        reached.append(kwargs["request"].url.path)
        return await real(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    try:
        yield reached
    finally:
        monkeypatch.setattr(fastapi.routing, "solve_dependencies", real)


def test_a_warm_anonymous_board_is_answered_before_routing(
        db: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``leaderboard.front``: the warm anonymous hit never reaches FastAPI's route handling;
    a cold board, a reader with a token and a malformed id do."""
    world = build(db, per_case=True)
    paths = _paths(world)
    with routed(monkeypatch) as cold:
        first = {path: client.get(path) for path in paths}
    assert sorted(cold) == sorted(paths)  # the first answers came from the routes
    with routed(monkeypatch) as reached:
        for path in paths:
            hot = client.get(path)
            assert hot.status_code == 200 and hot.content == first[path].content, path
            assert hot.headers["etag"] == first[path].headers["etag"]
        assert reached == []
        client.get(paths[0], headers=world.headers("member"))
        for bad in (f"/api/v1/phases/0{world.phase.id}x/leaderboard",
                    "/api/v1/phases/-1/leaderboard"):
            assert client.get(bad).status_code == 422
        assert len(reached) == 3
