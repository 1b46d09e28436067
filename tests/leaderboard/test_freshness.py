"""The leaderboard's hot path: no query on a cached anonymous request, freshness within the
interval (any database) or on a PostgreSQL notice, and scores hidden until close whatever the
cache holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text, update
from sqlalchemy.orm import Session, sessionmaker

from challenge.accounts.models import User
from challenge.app import create_app
from challenge.core import migrate
from challenge.core.config import Settings
from challenge.evaluations import lifecycle
from challenge.evaluations.dispatch import NoDispatcher
from challenge.evaluations.models import EvalState
from challenge.submissions import service as submissions
from challenge.submissions.models import Submission
from leaderboard import service as lb_service
from leaderboard.freshness import LISTENER_NAME, Freshness
from tests.conftest import create_pg_database, drop_pg_database
from tests.leaderboard.world import add_submission, build

VIEWS = ("leaderboard", "leaderboard.csv", "cases.csv")
LOW = {"dice": [0.1, 0.1, 0.1, 0.1], "lesion_f1": [0.1, 0.1, 0.1, 0.1]}
HIGH = {"dice": [0.95, 0.95, 0.95, 0.95], "lesion_f1": [0.9, 0.9, 0.9, 0.9]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A long interval: whatever is fresh here was not read again."""
    return settings.model_copy(update={"leaderboard_recheck_seconds": 3600.0})


@contextmanager
def counted(connection: Connection) -> Iterator[list[str]]:
    """The SQL statements run on ``connection`` (which every request's session uses)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(connection, "before_cursor_execute", count)


def _paths(world: Any) -> list[str]:
    return ([f"/api/v1/phases/{world.phase.id}/{view}" for view in VIEWS]
            + ["/challenges/msles/phases/final"])


def _teams(client: TestClient, phase_id: int, headers: dict[str, str] | None = None) -> dict:
    rows = client.get(f"/api/v1/phases/{phase_id}/leaderboard", headers=headers or {}).json()
    return {row["team"]: row["scores"].get("dice") for row in rows["rows"]}


def test_anonymous_hot_path_runs_no_query_within_the_interval(
        db: Session, client: TestClient, connection: Connection) -> None:
    world = build(db, per_case=True)
    with counted(connection) as cold:
        for path in _paths(world):
            assert client.get(path).status_code == 200, path
    assert len(cold) > 5  # the counter sees the work a cold cache does
    with counted(connection) as hot:
        for _ in range(3):
            for path in _paths(world):
                answer = client.get(path)
                assert answer.status_code == 200, path
                again = client.get(path, headers={"If-None-Match": answer.headers["etag"]})
                assert again.status_code == 304, path
    assert hot == []
    # A signed-in reader still needs its token looked up (and its team or organizer role).
    with counted(connection) as signed_in:
        assert client.get(_paths(world)[0], headers=world.headers("member")).status_code == 200
    assert signed_in


def test_a_finished_evaluation_shows_once_the_interval_has_passed(
        db: Session, client: TestClient, app: FastAPI) -> None:
    """The fallback on every database: the state is read again after the interval."""
    now = [1000.0]
    app.state.leaderboard_cache.states = Freshness(1.0, clock=lambda: now[0])
    world = build(db)
    assert "Delta" not in _teams(client, world.phase.id)
    add_submission(db, world, "Delta", minutes=90, values=LOW)
    db.commit()
    now[0] += 0.999
    assert "Delta" not in _teams(client, world.phase.id)  # still within the interval
    now[0] += 0.001
    assert _teams(client, world.phase.id)["Delta"] == pytest.approx(0.1)


def test_hidden_until_close_never_shows_scores_before_close_even_when_cached(
        db: Session, client: TestClient, connection: Connection,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(db, hide_scores=True)
    closes: datetime = world.phase.closes_at
    at = [closes - timedelta(hours=1)]
    monkeypatch.setattr(lb_service, "utcnow", lambda: at[0])
    phase = world.phase.id
    # The organizer's full board is computed and cached first.
    organizer = client.get(f"/api/v1/phases/{phase}/leaderboard",
                           headers=world.headers("organizer"))
    assert organizer.json()["rows"][0]["scores"]
    for path in _paths(world)[:2] + _paths(world)[3:]:
        client.get(path)  # and every public view, hidden
    with counted(connection) as statements:
        for instant in (closes - timedelta(microseconds=1), closes, closes + timedelta(hours=1),
                        closes - timedelta(seconds=1)):
            at[0] = instant
            answer = client.get(f"/api/v1/phases/{phase}/leaderboard")
            page = client.get("/challenges/msles/phases/final").text
            csv_text = client.get(f"/api/v1/phases/{phase}/leaderboard.csv").text
            replay = client.get(f"/api/v1/phases/{phase}/leaderboard",
                                headers={"If-None-Match": organizer.headers["etag"]})
            assert replay.status_code == 200  # the organizer's tag never earns a 304
            scores = [row["scores"] for row in answer.json()["rows"]]
            if instant < closes:
                assert all(s == {} for s in scores), instant
                assert answer.json()["scores_hidden_until"] is not None
                assert "0.750" not in page and "Scores are hidden" in page
                assert "0.75" not in csv_text
                assert answer.headers["cache-control"] == "private, no-cache"
            else:  # from the closing instant on, at once
                assert scores[0] == {"dice": 0.75, "lesion_f1": 0.5}, instant
                assert "0.750" in page and "0.75" in csv_text
    assert statements == [], statements  # the flips needed no database


def _running(db: Session, world: Any, minutes: int, values: dict) -> lifecycle.JobRef:
    """A submission of Delta whose evaluation a worker is running, its cases stored."""
    add_submission(db, world, "Delta", minutes=minutes, values=values, state=EvalState.running)
    evaluation = world.evaluations["Delta"][-1]
    evaluation.worker_id, evaluation.attempt = "test-worker", 1
    db.commit()
    return lifecycle.JobRef(evaluation.id, 1, "test-worker")


def _listener_pid(db: Session) -> int | None:
    """The listening connection's backend (pg_stat_activity is read once per transaction:
    each look ends its own)."""
    pid = db.scalar(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                         "AND datname = current_database() AND query LIKE 'LISTEN%'"),
                    {"name": LISTENER_NAME})
    db.rollback()
    return pid


def _eventually(check: Any, what: str, deadline_s: float = 30.0) -> Any:
    """Poll ``check`` until it returns a truthy value (bounded, not a speed assertion)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture
def committed_pg(tmp_path: Path) -> Iterator[tuple[FastAPI, sessionmaker[Session]]]:
    """An app on a database of its own whose changes really commit (the notices are sent at
    commit), with an hour-long recheck interval."""
    url = create_pg_database()
    try:
        migrate.upgrade(url)
        settings = Settings(environment="test", database_url=url, worker_mode="off",
                            storage_root=tmp_path / "storage", leaderboard_recheck_seconds=3600)
        app = create_app(settings, dispatcher=NoDispatcher())
        yield app, sessionmaker(bind=app.state.engine, expire_on_commit=False)
        app.state.engine.dispose()
    finally:
        drop_pg_database(url)


def test_postgres_notify_brings_a_finished_evaluation_despite_a_long_interval(
        committed_pg: tuple[FastAPI, sessionmaker[Session]]) -> None:
    app, make = committed_pg
    with make() as db:
        world = build(db)
        first, second = _running(db, world, 90, LOW), _running(db, world, 100, HIGH)
        alpha = world.submissions["Alpha"][0].id
    phase = world.phase.id
    with TestClient(app) as client, make() as db:
        assert app.state.change_listener.connected.wait(30)
        tag = client.get(f"/api/v1/phases/{phase}/leaderboard").headers["etag"]
        assert "Delta" not in _teams(client, phase)
        # A change committed without a notice is not seen: the state is not read again.
        db.execute(update(Submission).where(Submission.id == alpha).values(selected=True))
        db.commit()
        assert client.get(f"/api/v1/phases/{phase}/leaderboard").headers["etag"] == tag
        # The lifecycle's terminal transition notifies in its own transaction.
        assert lifecycle.finish(db, first, EvalState.succeeded)
        _eventually(lambda: _teams(client, phase).get("Delta") == pytest.approx(0.1),
                    "Delta's first result on the board")

        # The listener's connection dies; it reconnects and hears the next notice.
        old = _listener_pid(db)
        db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old})
        db.commit()
        _eventually(lambda: (_listener_pid(db) or old) != old
                    and app.state.change_listener.connected.is_set(), "a new listener")
        assert _teams(client, phase)["Delta"] == pytest.approx(0.1)  # cached again
        assert lifecycle.finish(db, second, EvalState.succeeded)
        _eventually(lambda: _teams(client, phase).get("Delta") == pytest.approx(0.95),
                    "Delta's second result after the reconnection")


def test_postgres_notify_hides_scores_and_shows_selections_at_once(
        committed_pg: tuple[FastAPI, sessionmaker[Session]]) -> None:
    """An organizer hiding the scores, and a team selecting a submission, are announced in
    their own transactions: with an hour-long interval the boards still follow promptly."""
    app, make = committed_pg
    with make() as db:
        world = build(db, counts="selected")
        bravo_first = world.submissions["Bravo"][0].id
    phase = world.phase.id
    bravo = world.teams["Bravo"].members[0].user_id
    with TestClient(app) as client, make() as db:
        assert app.state.change_listener.connected.wait(30)
        assert _teams(client, phase)["Bravo"] == pytest.approx(0.525)  # latest, unselected
        user = db.get(User, bravo)
        assert user is not None
        submissions.select_for_ranking(db=db, user=user, submission_id=bravo_first)
        _eventually(lambda: _teams(client, phase)["Bravo"] == pytest.approx(0.9),
                    "Bravo's selected submission on the board")

        hide = client.patch(f"/api/v1/phases/{phase}", json={"hide_scores_until_close": True},
                            headers=world.headers("organizer"))
        assert hide.status_code == 200, hide.text
        _eventually(lambda: set(_teams(client, phase).values()) == {None},
                    "the scores hidden")
        page = client.get("/challenges/msles/phases/final").text
        assert "Scores are hidden" in page and "0.900" not in page
