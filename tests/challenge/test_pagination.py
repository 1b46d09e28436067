"""Issue 12 item 4: every list that grows is paginated by ``limit`` and a keyset ``cursor``.

On SQLite and PostgreSQL: paging through more rows than ``limit`` shows each row once, in the
documented order; rows inserted while a client pages never duplicate or hide a row that
existed; ``limit`` outside 1..200 and any cursor the server did not issue for that list are
422s (never a 500); and a cursor never lets a viewer reach a row it could not list.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from challenge.audit.models import AuditEvent
from challenge.challenges.models import Challenge
from challenge.core.config import DEV_SECRET
from challenge.core.pagination import MAX_LIMIT, seal
from challenge.core.security import new_invite_code
from challenge.datasets.models import Dataset
from challenge.evaluations.models import CaseResult
from challenge.submissions.models import Submission
from challenge.teams.models import Team
from tests import factories as f
from tests.challenge.authz_world import World, build

TEAM_NAMES = ("Zulu", "alpha", "Bravo", "charlie", "Écho", "delta", "Golf", "hotel", "Émile",
              "9ine")  # mixed case and accents: the order is the database's collation
N = 10  # rows added to every list: several pages of LIMIT
LIMIT = 2


@pytest.fixture
def world(db: Session, app: FastAPI, tmp_path: Path) -> World:
    """The authorization world plus ``N`` more rows in every paginated list."""
    built = build(db, app.state.storage, tmp_path)
    org = db.scalar(select(Challenge.created_by_id).where(Challenge.slug == "alpha"))
    assert org is not None
    alpha_id = db.scalar(select(Challenge.id).where(Challenge.slug == "alpha"))
    for i in range(N):
        db.add(Dataset(challenge_id=alpha_id, name=f"extra-{i}", channels=["flair"],
                       storage_key=f"pg{i:030d}", checksum="0" * 64, n_cases=0, size_bytes=0,
                       created_by_id=org))
        db.add(CaseResult(evaluation_id=built.ids["evaluation"], case_id=f"case{(i * 7) % N:02d}",
                          status="ok", category=None, metrics={"dice": 0.5}, flags=[]))
    db.commit()
    for i in range(N):
        _team(db, alpha_id, TEAM_NAMES[i])
        _submission(db, built, "team" if i % 2 else "other_team")
        f.challenge(db, db.get(f.User, org), f"more-{i}", published=i % 3 != 0)
    return built


def _team(db: Session, challenge_id: int | None, name: str) -> int:
    team = Team(challenge_id=challenge_id, name=name, invite_code=new_invite_code())
    db.add(team)
    db.commit()
    return team.id


def _submission(db: Session, world: World, team: str) -> int:
    submitter = db.scalar(select(Submission.submitter_id).limit(1))
    submission = Submission(phase_id=world.ids["phase"], team_id=world.ids[team],
                            submitter_id=submitter, archive_key=new_invite_code()[:32],
                            archive_bytes=10, archive_sha256="0" * 64,
                            image_digest="sha256:" + "1" * 64, image_user="1000")
    db.add(submission)
    db.commit()
    return submission.id


@dataclass(frozen=True)
class Listing:
    """A paginated list: its URL, the role that reads it, and the rows it must show, in
    order, as the database holds them."""

    path: Callable[[World], str]
    role: str
    expected: Callable[[Session, World], list[Any]]
    key: str = "id"


def _ids(db: Session, query: Any) -> list[Any]:
    return list(db.scalars(query))


LISTS = {
    "challenges (public)": Listing(
        lambda w: "/api/v1/challenges", "anonymous",
        lambda db, w: _ids(db, select(Challenge.id).where(Challenge.is_published.is_(True))
                           .order_by(Challenge.id.desc()))),
    "challenges (admin)": Listing(
        lambda w: "/api/v1/challenges", "admin",
        lambda db, w: _ids(db, select(Challenge.id).order_by(Challenge.id.desc()))),
    "teams": Listing(
        lambda w: "/api/v1/challenges/alpha/teams", "anonymous",
        lambda db, w: _ids(db, select(Team.id).join(Challenge).where(Challenge.slug == "alpha")
                           .order_by(Team.name, Team.id))),
    "datasets": Listing(
        lambda w: "/api/v1/challenges/alpha/datasets", "organizer",
        lambda db, w: _ids(db, select(Dataset.id).join(Challenge)
                           .where(Challenge.slug == "alpha").order_by(Dataset.id))),
    "submissions (organizer)": Listing(
        lambda w: f"/api/v1/phases/{w.ids['phase']}/submissions", "organizer",
        lambda db, w: _ids(db, select(Submission.id).where(Submission.phase_id == w.ids["phase"])
                           .order_by(Submission.id))),
    "submissions (team)": Listing(
        lambda w: f"/api/v1/phases/{w.ids['phase']}/submissions", "member",
        lambda db, w: _ids(db, select(Submission.id).where(Submission.team_id == w.ids["team"],
                                                       Submission.phase_id == w.ids["phase"])
                           .order_by(Submission.id))),
    "case results": Listing(
        lambda w: f"/api/v1/evaluations/{w.ids['evaluation']}/cases", "organizer",
        lambda db, w: _ids(db, select(CaseResult.case_id).order_by(CaseResult.case_id)),
        key="case_id"),
    "challenge audit": Listing(
        lambda w: "/api/v1/challenges/alpha/audit", "organizer",
        lambda db, w: _ids(db, select(AuditEvent.id).join(
            Challenge, Challenge.id == AuditEvent.challenge_id)
            .where(Challenge.slug == "alpha").order_by(AuditEvent.id.desc()))),
    "admin audit": Listing(
        lambda w: "/api/v1/admin/audit", "admin",
        lambda db, w: _ids(db, select(AuditEvent.id).order_by(AuditEvent.id.desc()))),
}


def _page(client: TestClient, world: World, listing: Listing, cursor: str | None = None,
          role: str | None = None, limit: int = LIMIT) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = client.get(listing.path(world), params=params,
                          headers=world.headers(role or listing.role))
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "next_cursor"} and len(page["items"]) <= limit
    return page


def _walk(client: TestClient, world: World, listing: Listing, role: str | None = None,
          between: Callable[[int], None] = lambda _: None) -> list[Any]:
    """Every key the list shows, page by page; ``between(n)`` runs after the n-th page."""
    seen: list[Any] = []
    page = _page(client, world, listing, role=role)
    while True:
        seen += [item[listing.key] for item in page["items"]]
        between(len(seen))
        if page["next_cursor"] is None:
            return seen
        page = _page(client, world, listing, page["next_cursor"], role=role)


@pytest.mark.parametrize("name", LISTS)
def test_paging_shows_every_row_once_in_order(client: TestClient, db: Session, world: World,
                                              name: str) -> None:
    listing = LISTS[name]
    expected = listing.expected(db, world)
    assert len(expected) > 2 * LIMIT  # several pages, the last one possibly full
    assert _walk(client, world, listing) == expected


@pytest.mark.parametrize("name,insert", [
    ("challenges (public)", lambda db, w: [f.challenge(db, _org(db), f"new-{i}").id
                                           for i in range(2)]),
    ("teams", lambda db, w: [_team(db, _alpha(db), n) for n in ("Aardvark", "Mike", "zz")]),
    ("submissions (organizer)", lambda db, w: [_submission(db, w, "team") for _ in range(2)]),
    ("admin audit", lambda db, w: [f.challenge(db, _org(db), "audited").id]),
])
def test_rows_inserted_while_paging_never_duplicate_or_hide_existing_rows(
        client: TestClient, db: Session, world: World, name: str,
        insert: Callable[[Session, World], list[Any]]) -> None:
    """New rows land before and after the cursor (teams by name, newest-first lists at the
    front): offset paging would show a row twice; keyset paging shows each old row once."""
    listing = LISTS[name]
    before = listing.expected(db, world)

    def insert_after_first_page(n_seen: int) -> None:
        if n_seen == LIMIT:
            insert(db, world)

    seen = _walk(client, world, listing, between=insert_after_first_page)
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert [k for k in seen if k in before] == before, "an existing row was hidden or moved"
    assert listing.expected(db, world) != before  # the insert really happened


def _org(db: Session) -> f.User:
    user = db.scalar(select(f.User).where(f.User.username == "org"))
    assert user is not None
    return user


def _alpha(db: Session) -> int | None:
    return db.scalar(select(Challenge.id).where(Challenge.slug == "alpha"))


@pytest.mark.parametrize("limit", ["0", "-1", str(MAX_LIMIT + 1), "10000000000000000000000",
                                   "1.5", "ten", ""])
def test_limit_outside_1_to_200_is_422(client: TestClient, world: World, limit: str) -> None:
    for listing in (LISTS["challenges (public)"], LISTS["submissions (team)"]):
        response = client.get(listing.path(world), params={"limit": limit},
                              headers=world.headers(listing.role))
        assert response.status_code == 422, (limit, response.text)


def test_limit_1_and_200_are_accepted(client: TestClient, db: Session, world: World) -> None:
    listing = LISTS["admin audit"]
    assert len(_page(client, world, listing, limit=1)["items"]) == 1
    full = _page(client, world, listing, limit=MAX_LIMIT)
    assert [e["id"] for e in full["items"]] == listing.expected(db, world)
    assert full["next_cursor"] is None


def _first_cursor(client: TestClient, world: World, name: str) -> str:
    cursor = _page(client, world, LISTS[name])["next_cursor"]
    assert cursor is not None
    return cursor


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def _forged(values: Any) -> str:
    """A cursor signed with the development server's secret (public, and the test app's):
    only the value checks stand between it and the database."""
    return _sign(json.dumps(values, ensure_ascii=False).encode())


def _sign(payload: bytes, secret: str = DEV_SECRET) -> str:
    return seal(payload, secret.encode())


BAD_CURSORS: dict[str, Callable[[str], str]] = {
    "garbage": lambda c: "garbage",
    "no signature": lambda c: c.partition(".")[0],
    "payload flipped": lambda c: _flip(c, 3),
    "signature flipped": lambda c: _flip(c, len(c) - 2),
    "signature of another payload": lambda c: "WyJzdWJtaXNzaW9ucyIsMV0" + c[c.index("."):],
    "padded": lambda c: c.replace(".", "=."),
    "truncated": lambda c: c[:-1],
    "two dots": lambda c: c + ".x",
    "too long": lambda c: "A" * 3000 + c,
    "NUL": lambda c: c + "\x00",
    "another list's cursor": lambda c: "__TEAMS__",
    "forged: string id": lambda c: _forged(["submissions", "1"]),
    "forged: id beyond int32": lambda c: _forged(["submissions", 2**40]),
    "forged: bool id": lambda c: _forged(["submissions", True]),
    "forged: float id": lambda c: _forged(["submissions", 1.5]),
    "forged: nested": lambda c: _forged(["submissions", [[1]]]),
    "forged: extra key": lambda c: _forged(["submissions", 1, 2]),
    "forged: other list name": lambda c: _forged(["datasets", 1]),
    "forged: not a list": lambda c: _forged({"submissions": 1}),
    "forged: not JSON": lambda c: _sign(b"\xff\xfe"),
    "forged: deeply nested": lambda c: _sign(b"[" * 700 + b"]" * 700),
    "another server's secret": lambda c: _sign(b'["submissions",1]', "another-secret"),
}


@pytest.mark.parametrize("bad", BAD_CURSORS)
def test_a_cursor_the_server_did_not_issue_for_this_list_is_422(
        client: TestClient, world: World, bad: str) -> None:
    listing = LISTS["submissions (organizer)"]
    cursor = _first_cursor(client, world, "submissions (organizer)")
    tampered = BAD_CURSORS[bad](cursor)
    if tampered == "__TEAMS__":
        tampered = _first_cursor(client, world, "teams")
    response = client.get(listing.path(world), params={"cursor": tampered, "limit": LIMIT},
                          headers=world.headers("organizer"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in ("bad_cursor", "validation_error",
                                                "forbidden_character")


def test_a_cursor_signed_with_the_servers_key_is_followed(client: TestClient,
                                                          world: World) -> None:
    """The control for the forged cursors below: the same signing, with valid values, is
    accepted, so their 422s come from the value checks, not from a wrong key."""
    listing = LISTS["submissions (organizer)"]
    first = world.ids["submission"]
    page = _page(client, world, listing, _forged(["submissions", first]), limit=MAX_LIMIT)
    assert page["items"] and all(s["id"] > first for s in page["items"])


@pytest.mark.parametrize("value", ["a\x00b", "x" * 300, "\u202etxet"])
def test_forged_text_keys_are_422_not_a_database_error(client: TestClient, world: World,
                                                       value: str) -> None:
    """A team-name key holding NUL (PostgreSQL refuses it), an overlong or a bidi string."""
    response = client.get(LISTS["teams"].path(world),
                          params={"cursor": _forged(["teams", value, 1])})
    assert response.status_code == 422 and response.json()["error"]["code"] == "bad_cursor"


def test_a_participant_paging_submissions_sees_exactly_its_own_team(
        client: TestClient, db: Session, world: World) -> None:
    """With any limit, and even with the organizer's cursors, the team sees only its rows."""
    own = LISTS["submissions (team)"].expected(db, world)
    everyone = LISTS["submissions (organizer)"].expected(db, world)
    assert set(everyone) - set(own), "the other team has submissions to leak"
    for limit in (1, 2, LIMIT, MAX_LIMIT):
        seen, page = [], _page(client, world, LISTS["submissions (team)"], limit=limit)
        while True:
            seen += [(s["id"], s["team_id"]) for s in page["items"]]
            if page["next_cursor"] is None:
                break
            page = _page(client, world, LISTS["submissions (team)"], page["next_cursor"],
                         limit=limit)
        assert seen == [(i, world.ids["team"]) for i in own]
    organizer = _page(client, world, LISTS["submissions (organizer)"], limit=1)
    while organizer["next_cursor"] is not None:
        mine = _page(client, world, LISTS["submissions (team)"], organizer["next_cursor"],
                     limit=MAX_LIMIT)
        assert {s["team_id"] for s in mine["items"]} <= {world.ids["team"]}
        organizer = _page(client, world, LISTS["submissions (organizer)"],
                          organizer["next_cursor"], limit=1)
    stranger = _page(client, world, LISTS["submissions (team)"], role="other_team",
                     limit=MAX_LIMIT)
    assert world.ids["submission"] not in {s["id"] for s in stranger["items"]}


def test_an_organizers_cursor_shows_the_public_no_unpublished_challenge(
        client: TestClient, db: Session, world: World) -> None:
    hidden = set(LISTS["challenges (admin)"].expected(db, world)) - set(
        LISTS["challenges (public)"].expected(db, world))
    assert hidden
    assert set(_walk(client, world, LISTS["challenges (public)"])).isdisjoint(hidden)
    admin = _page(client, world, LISTS["challenges (admin)"], limit=1)
    while admin["next_cursor"] is not None:
        public = _page(client, world, LISTS["challenges (public)"], admin["next_cursor"],
                       role="anonymous", limit=MAX_LIMIT)
        assert {c["id"] for c in public["items"]}.isdisjoint(hidden)
        admin = _page(client, world, LISTS["challenges (admin)"], admin["next_cursor"], limit=1)


def test_a_cursor_does_not_open_lists_the_caller_may_not_read(client: TestClient,
                                                              world: World) -> None:
    """Per-case results hidden from the team, datasets and the audit log from participants:
    the same refusal with an organizer's valid cursor as without one."""
    for name, code in (("case results", 403), ("datasets", 403), ("challenge audit", 403)):
        cursor = _first_cursor(client, world, name)
        response = client.get(LISTS[name].path(world), params={"cursor": cursor},
                              headers=world.headers("member"))
        assert response.status_code == code, (name, response.text)
